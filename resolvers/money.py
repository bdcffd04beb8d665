"""ISO 4217 currency facts (codes, names, minor units) and `Money`, an amount in one currency."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from types import MappingProxyType
from typing import Final

from babel import localedata
from babel.core import get_global
from babel.numbers import get_currency_name, get_currency_symbol, get_territory_currencies

from resolvers.errors import BadUserInput

# ISO 4217 minor units where they are not 2. CLDR's "digits" are display preferences and differ
# (IQD 0 vs ISO 3, IRR 0 vs ISO 2, ...); amounts sent to payment providers follow ISO.
_CODES_BY_EXPONENT: Final = {
    0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
    3: "BHD IQD JOD KWD LYD OMR TND",
    4: "CLF UYW",
}
_ISO_EXPONENTS: Final[Mapping[str, int]] = MappingProxyType(
    {code: exponent for exponent, codes in _CODES_BY_EXPONENT.items() for code in codes.split()}
)

# ISO 4217 gives these no minor unit, so no traveller can be priced or charged in them.
_NO_MINOR_UNIT: Final = frozenset(
    {"XAG", "XAU", "XPD", "XPT"}  # precious metals
    | {"XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA"}  # bond-market and accounting units
    | {"XTS", "XXX"}  # reserved for testing and for "no currency"
)
# CLDR lists the offshore yuan beside CNY, but ISO 4217 has no such code.
_NOT_ISO: Final = frozenset({"CNH"})

_NBSP: Final = "\u00a0"


@cache
def known_currencies() -> Mapping[str, str]:
    """Current ISO 4217 currency codes (legal tender or funds codes today) with English names."""
    today = date.today()
    codes: set[str] = set()
    for territory in get_global("territory_currencies"):
        codes.update(get_territory_currencies(territory, today, tender=True, non_tender=True))
    codes -= _NO_MINOR_UNIT | _NOT_ISO
    return MappingProxyType({code: get_currency_name(code, locale="en") for code in sorted(codes)})


def normalize_currency(code: str, *, field: str = "currency") -> str:
    """The upper-case ISO code for user input such as " ngn "; `BadUserInput` names the bad code."""
    cleaned = code.strip().upper()
    if cleaned in known_currencies():
        return cleaned
    shown = cleaned if len(cleaned) <= 16 else f"{cleaned[:16]}…"
    # Not `code`: that extension key carries the error code (BAD_USER_INPUT) at the edge.
    raise BadUserInput(f'Unknown currency code "{shown}"', field=field, currency=shown)


def minor_unit_exponent(currency: str) -> int:
    """Digits after the decimal point in ISO 4217: 2 for NGN, 0 for JPY, 3 for KWD."""
    if currency not in known_currencies():
        currency = normalize_currency(currency)
    return _ISO_EXPONENTS.get(currency, 2)


@cache
def _quantum(exponent: int) -> Decimal:
    return Decimal(1).scaleb(-exponent)


def quantize(amount: Decimal, currency: str) -> Decimal:
    """`amount` rounded to the currency's minor unit, halves away from zero.

    ROUND_HALF_UP, not banker's rounding: each price is rounded once, not summed in a ledger
    where bias would accumulate, and travellers and receipts expect ₦0.125 to become ₦0.13.
    """
    return amount.quantize(_quantum(minor_unit_exponent(currency)), rounding=ROUND_HALF_UP)


def to_subunits(amount: Decimal, currency: str) -> int:
    """The amount in the currency's smallest unit (kobo for NGN), as payment providers take it.

    Raises `ValueError` rather than rounding: charging anything but the amount the traveller was
    shown is a bug upstream of this call.
    """
    scaled = amount.scaleb(minor_unit_exponent(currency))
    if not scaled.is_finite() or scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} {currency} is not a whole number of subunits")
    return int(scaled)


def from_subunits(subunits: int, currency: str) -> Decimal:
    """The amount for `subunits` of the smallest unit, with the currency's decimal places."""
    return Decimal(subunits).scaleb(-minor_unit_exponent(currency))


@cache
def _symbols() -> Mapping[str, str]:
    """The display symbol of each currency that has an unambiguous one (₦, $, £, €, GH₵, ...)."""
    codes = known_currencies()
    symbols = {code: get_currency_symbol(code, "en") for code in codes}
    symbols = {code: symbol for code, symbol in symbols.items() if symbol != code}
    # English CLDR has no symbol for many currencies that have one at home (₦ only in en_NG);
    # the ISO code starts with the home territory's code.
    home: dict[str, str] = {}
    for code in codes.keys() - symbols.keys():
        locale = f"en_{code[:2]}"
        if localedata.exists(locale) and (symbol := get_currency_symbol(code, locale)) != code:
            home[code] = symbol
    # Liberia writes its dollar "$" too; prices in several currencies sit side by side here,
    # so a home symbol that another currency also shows falls back to the code.
    uses = Counter([*symbols.values(), *home.values()])
    symbols.update({code: symbol for code, symbol in home.items() if uses[symbol] == 1})
    return MappingProxyType(symbols)


@cache
def _display_prefix(currency: str) -> str:
    symbol = _symbols().get(currency, currency)
    # CLDR currency spacing: a symbol that does not end in a symbol character ("KWD", "kr.")
    # is kept apart from the digits by a no-break space; "$" and "₦" are not.
    if unicodedata.category(symbol[-1])[0] in "SZ":
        return symbol
    return f"{symbol}{_NBSP}"


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one ISO 4217 currency; the currency is already normalized."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise TypeError(f"Money needs a finite Decimal amount, got {self.amount!r}")
        if self.currency not in known_currencies():
            raise ValueError(f"Money needs a known ISO 4217 code, got {self.currency!r}")

    @property
    def formatted(self) -> str:
        """English display form: ₦125,000.00, $250.00, ¥1,235, -€10.50, KWD 1.250."""
        rounded = quantize(self.amount, self.currency)
        sign = "-" if rounded < 0 else ""
        return f"{sign}{_display_prefix(self.currency)}{abs(rounded):,f}"
