"""Currency codes, ISO 4217 minor units, rounding, subunits and how prices read to travellers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from babel.numbers import format_currency

from resolvers.errors import BadUserInput
from resolvers.money import (
    Money,
    from_subunits,
    known_currencies,
    minor_unit_exponent,
    normalize_currency,
    quantize,
    to_subunits,
)

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [("NGN", 2), ("USD", 2), ("JPY", 0), ("XOF", 0), ("KWD", 3), ("IQD", 3), ("CLF", 4)],
)
def test_minor_unit_follows_iso_4217(currency: str, exponent: int) -> None:
    assert minor_unit_exponent(currency) == exponent


def test_minor_unit_follows_iso_where_cldr_display_digits_differ() -> None:
    # CLDR shows the Iraqi dinar and Iranian rial without decimals; ISO 4217 says 3 and 2.
    assert (minor_unit_exponent("IQD"), minor_unit_exponent("IRR")) == (3, 2)


def test_known_currencies_are_current_iso_codes_with_names() -> None:
    currencies = known_currencies()
    assert currencies["NGN"] == "Nigerian Naira"
    assert {"USD", "EUR", "GBP", "JPY", "KWD", "GHS", "XOF"} <= currencies.keys()
    # Withdrawn (Croatian kuna), not ISO (offshore yuan), no minor unit (gold, SDR).
    assert not {"HRK", "CNH", "XAU", "XDR", "XXX"} & currencies.keys()


def test_normalize_accepts_codes_as_people_type_them() -> None:
    assert normalize_currency(" ngn ") == "NGN"


@pytest.mark.parametrize("code", ["XYZ", "", "naira", "HRK"])
def test_unknown_code_is_bad_user_input_naming_it(code: str) -> None:
    with pytest.raises(BadUserInput) as raised:
        normalize_currency(code, field="quote")

    shown = code.upper()
    assert raised.value.message == f'Unknown currency code "{shown}"'
    assert raised.value.extensions == {"field": "quote", "currency": shown}


def test_unknown_code_message_stays_short_for_long_input() -> None:
    with pytest.raises(BadUserInput) as raised:
        normalize_currency("X" * 10_000)

    assert len(raised.value.message) < 60


def test_minor_unit_of_an_unknown_code_is_bad_user_input() -> None:
    with pytest.raises(BadUserInput, match='"ABC"'):
        minor_unit_exponent("ABC")


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [
        ("0.125", "USD", "0.13"),
        ("0.135", "USD", "0.14"),
        ("-0.125", "USD", "-0.13"),
        ("1234.5", "JPY", "1235"),
        ("1.0005", "KWD", "1.001"),
        ("250", "NGN", "250.00"),
    ],
)
def test_quantize_rounds_halves_up_to_the_minor_unit(
    amount: str, currency: str, rounded: str
) -> None:
    result = quantize(Decimal(amount), currency)
    assert str(result) == rounded


@pytest.mark.parametrize(
    ("amount", "currency", "subunits"),
    [
        ("125000.50", "NGN", 12_500_050),
        ("250.00", "USD", 25_000),
        ("1235", "JPY", 1_235),
        ("1.250", "KWD", 1_250),
        ("0", "NGN", 0),
    ],
)
def test_subunits_round_trip(amount: str, currency: str, subunits: int) -> None:
    assert to_subunits(Decimal(amount), currency) == subunits
    back = from_subunits(subunits, currency)
    assert back == Decimal(amount)
    assert back.as_tuple().exponent == -minor_unit_exponent(currency)


def test_subunits_refuse_an_amount_finer_than_the_minor_unit() -> None:
    with pytest.raises(ValueError, match="not a whole number of subunits"):
        to_subunits(Decimal("1.005"), "USD")


@pytest.mark.parametrize(
    ("amount", "currency", "formatted"),
    [
        ("125000", "NGN", "₦125,000.00"),
        ("250", "USD", "$250.00"),
        ("99.5", "GBP", "£99.50"),
        ("1234567.891", "EUR", "€1,234,567.89"),
        ("1234.5", "JPY", "¥1,235"),
        ("-1500.505", "NGN", "-₦1,500.51"),
        ("-0.001", "USD", "$0.00"),
        ("1.25", "KWD", f"KWD{NBSP}1.250"),
        ("20", "GHS", "GH₵20.00"),
        # Liberia also writes "$"; beside US dollars the code keeps prices unambiguous.
        ("5", "LRD", f"LRD{NBSP}5.00"),
        ("5", "CAD", "CA$5.00"),
    ],
)
def test_formatted_reads_as_travellers_expect(amount: str, currency: str, formatted: str) -> None:
    assert Money(Decimal(amount), currency).formatted == formatted


@pytest.mark.parametrize(
    ("currency", "locale"),
    [("NGN", "en_NG"), ("USD", "en"), ("GBP", "en"), ("EUR", "en"), ("JPY", "en")],
)
@pytest.mark.parametrize("amount", ["0", "0.4", "7.25", "-42.10", "1234567.8", "125000"])
def test_formatted_agrees_with_cldr_formatting(currency: str, locale: str, amount: str) -> None:
    expected = format_currency(Decimal(amount), currency, locale=locale)
    assert Money(Decimal(amount), currency).formatted == expected


def test_money_refuses_floats_and_unknown_currencies() -> None:
    with pytest.raises(TypeError):
        Money(0.1, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(Decimal("NaN"), "USD")
    with pytest.raises(ValueError, match="XYZ"):
        Money(Decimal(1), "XYZ")
