"""The schema's custom scalars, described and `@specifiedBy` a specification so that code
generators (graphql-codegen's `scalars`, Apollo Kotlin and Swift) can map them to types.

Strawberry's own definitions are kept (how each is serialized and parsed); only their
descriptions and specification URLs are the gateway's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal

from strawberry.schema.types.base_scalars import (
    DateDefinition,
    DateTimeDefinition,
    DecimalDefinition,
)
from strawberry.types.scalar import ScalarDefinition

DATE_SPEC = "https://scalars.graphql.org/andimarek/local-date.html"
DATE_TIME_SPEC = "https://scalars.graphql.org/andimarek/date-time.html"
# Python's `decimal` writes and reads the General Decimal Arithmetic numeric strings.
DECIMAL_SPEC = "https://speleotrove.com/decimal/daconvs.html"

SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {
    dt.date: dataclasses.replace(
        DateDefinition,
        description=(
            "A calendar date without a time zone, `YYYY-MM-DD` (RFC 3339 full-date), "
            'e.g. "2026-12-24".'
        ),
        specified_by_url=DATE_SPEC,
    ),
    dt.datetime: dataclasses.replace(
        DateTimeDefinition,
        description=(
            "An instant as an RFC 3339 date-time with its offset, e.g. "
            '"2026-12-24T08:30:00+01:00" (an airport\'s local time) or '
            '"2026-12-03T14:26:23.412000+00:00".'
        ),
        specified_by_url=DATE_TIME_SPEC,
    ),
    decimal.Decimal: dataclasses.replace(
        DecimalDefinition,
        description=(
            'An exact decimal number as a JSON string, e.g. "125000.50"; never a float. '
            "Inputs take a string (or a number, read exactly as written)."
        ),
        specified_by_url=DECIMAL_SPEC,
    ),
}
