"""Bundled USD reference rates, crossed to any base: the exchange rates of the sandbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from importlib import resources

from integrations.ports.rates import (
    CROSS_RATE_CONTEXT,
    RateTable,
    UnknownBaseCurrency,
    clean_base,
    with_base,
)


class SandboxRates:
    """Bundled USD reference rates, crossed to any base, so a fresh checkout runs offline."""

    @cached_property
    def _reference(self) -> RateTable:
        text = (resources.files("integrations") / "data" / "reference_rates.json").read_text(
            encoding="utf-8"
        )
        data = json.loads(text)
        as_of = datetime.fromisoformat(data["as_of"]).astimezone(UTC)
        base: str = data["base"]
        rates = {code: Decimal(rate) for code, rate in data["rates"].items()}
        return RateTable(
            base=base,
            rates=with_base(rates, base),
            as_of=as_of,
            next_update=None,
            source=f"sandbox: bundled reference rates of {as_of.date().isoformat()}",
        )

    async def latest(self, base: str) -> RateTable:
        reference = self._reference
        code = clean_base(base, upstream="sandbox")
        if code == reference.base:
            return reference
        divisor = reference.rates.get(code)
        if divisor is None:
            raise UnknownBaseCurrency(code, upstream="sandbox")
        crossed = {
            quote: CROSS_RATE_CONTEXT.divide(rate, divisor)
            for quote, rate in reference.rates.items()
        }
        return RateTable(
            base=code,
            rates=with_base(crossed, code),
            as_of=reference.as_of,
            next_update=None,
            source=reference.source,
        )
