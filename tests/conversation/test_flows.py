"""The scripted conversations of `flows/`, each played end to end through the webhook: signed
deliveries in, the handler, GraphQL in-process on the sandbox upstreams, Cloud API calls out."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from graphql_api.settings import Settings
from tests.conversation.flows import Flow, Image, Pay, Say, Tap, Turn, When
from tests.support.meta import (
    SUPPORT_CONTACT,
    TRAVELLER,
    WhatsApp,
    choices_of,
    running_whatsapp,
    text_of,
)

FLOW_DIR = Path(__file__).with_name("flows")
BATCHES = sorted(p.stem for p in FLOW_DIR.glob("batch_*.py"))
CHECKOUT = re.compile(r"/sandbox/checkout/([A-Za-z0-9_\-]+)")


def today() -> When:
    return When(datetime.now(ZoneInfo("Africa/Lagos")).date())


def all_flows() -> list[tuple[str, Flow]]:
    found = []
    for batch in BATCHES:
        module = importlib.import_module(f"tests.conversation.flows.{batch}")
        found += [(batch, flow) for flow in module.flows(today())]
    return found


FLOWS = all_flows()


def test_there_are_forty_flows_or_more() -> None:
    assert len(FLOWS) >= 40
    assert len({flow.name for _, flow in FLOWS}) == len(FLOWS)


def read(answer: list[dict[str, Any]]) -> str:
    return "\n".join(text_of(message) for message in answer)


def check(turn: Turn, answer: list[dict[str, Any]], said: str) -> None:
    shown = read(answer)
    for pattern in turn.expect:
        assert re.search(pattern, shown, re.IGNORECASE), f"{said!r}: no {pattern!r} in:\n{shown}"
    for pattern in turn.refuse:
        assert not re.search(pattern, shown, re.IGNORECASE), f"{said!r}: {pattern!r} in:\n{shown}"


async def play(whatsapp: WhatsApp, flow: Flow) -> None:
    last: list[dict[str, Any]] = []
    for turn in flow.turns:
        if isinstance(turn, Say):
            said = turn.text
            answer = await whatsapp.say(turn.text)
        elif isinstance(turn, Image):
            said = f"(photo) {turn.caption}"
            answer = await whatsapp.send_image(turn.caption)
        elif isinstance(turn, Tap):
            choices = [c for m in last for c in choices_of(m)]
            chosen = next((c for c in choices if re.search(turn.title, c[1], re.I)), None)
            assert chosen is not None, f"nothing to tap matching {turn.title!r} in {choices}"
            said = f"(tap) {chosen[1]}"
            answer = await whatsapp.tap(chosen[0], chosen[1], listed=chosen[2])
        else:
            assert isinstance(turn, Pay)
            link = CHECKOUT.search(read(last))
            assert link, f"no payment link in:\n{read(last)}"
            paid = await whatsapp.http.post(f"/sandbox/checkout/{link.group(1)}/pay")
            assert paid.status_code == 200
            said = "(paid)"
            pattern = turn.expect[0] if turn.expect else "."
            answer = [await whatsapp.wait_for(pattern, TRAVELLER)]
        assert answer, f"{said!r}: no answer"
        check(turn, answer, said)
        last = answer


@pytest.mark.parametrize(
    ("batch", "flow"), FLOWS, ids=[f"{batch}:{flow.name}" for batch, flow in FLOWS]
)
async def test_flow(batch: str, flow: Flow, make_settings: Callable[..., Settings]) -> None:
    overrides: dict[str, Any] = {"support_contact": SUPPORT_CONTACT, **flow.settings}
    async with running_whatsapp(make_settings, **overrides) as whatsapp:
        await play(whatsapp, flow)
