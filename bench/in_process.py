"""What runs in the gateway's process with no server around it: reading a WhatsApp message
(goal: under 1 ms per message on average) and a 50-offer sandbox return search (goal: median
under 20 ms).

    .venv/bin/python bench/in_process.py [--rounds 5] [--searches 40] [--smoke]

The parser reads every labelled utterance of the tests (tests/conversation/utterances.jsonl)
`--rounds` times, after one warm-up read that builds its airport tables; the sandbox answers a
LOS-LHR return search on `--searches` different days, as the tests of the sandbox ask it. What
each must answer is held by the tests (tests/conversation/test_parser.py,
tests/integrations/sandbox/test_sandbox_flights.py); this only times it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from bench.common import Goal, Goals, load_average, usable_cores
from conversation.reading import parse
from integrations.ports.flights import PassengerRequest, SearchRequest, SliceRequest
from integrations.sandbox.flights import SandboxFlights
from tests.conversation.test_parser import TODAY, load_utterances

PARSE_GOAL = Goal("parse time per message", 1.0, "ms")
SEARCH_GOAL = Goal("sandbox LOS-LHR return search, median", 20.0, "ms")
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
DAY = date(2025, 3, 20)


def time_parsing(rounds: int) -> tuple[float, int]:
    """Milliseconds per message on average, and how many messages one round reads."""
    utterances = load_utterances()
    parse("warm up", today=TODAY)
    started = time.perf_counter()
    for _ in range(rounds):
        for utterance in utterances:
            parse(utterance.text, today=utterance.today, expecting=utterance.expecting)
    elapsed = time.perf_counter() - started
    return elapsed * 1000 / (rounds * len(utterances)), len(utterances)


async def time_searches(count: int) -> tuple[list[float], list[int]]:
    sandbox = SandboxFlights(clock=lambda: NOW)
    adult = [PassengerRequest(type="adult")]
    warm = SearchRequest(slices=[SliceRequest(origin="LOS", destination="ABV",
                                              departure_date=DAY)], passengers=adult)  # fmt: skip
    await sandbox.search(warm)
    durations, offers = [], []
    for i in range(count):
        out, back = DAY + timedelta(days=i), DAY + timedelta(days=i + 10)
        wanted = SearchRequest(
            slices=[
                SliceRequest(origin="LOS", destination="LHR", departure_date=out),
                SliceRequest(origin="LHR", destination="LOS", departure_date=back),
            ],
            passengers=adult,
        )
        started = time.perf_counter()
        result = await sandbox.search(wanted)
        durations.append((time.perf_counter() - started) * 1000)
        offers.append(len(result.offers))
    return durations, offers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--searches", type=int, default=40)
    parser.add_argument("--smoke", action="store_true", help="one round, five searches")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.searches = 1, 5
    print(f"cores: {os.cpu_count()} (usable here: {usable_cores()}); load {load_average()}")
    goals = Goals()
    per_message, messages = time_parsing(args.rounds)
    print(f"parser: {messages} labelled messages read {args.rounds} time(s)")
    goals.check(PARSE_GOAL, per_message)
    durations, offers = asyncio.run(time_searches(args.searches))
    print(
        f"sandbox: {args.searches} searches of {statistics.median(offers):.0f} offers, fastest "
        f"{min(durations):.2f} ms, slowest {max(durations):.2f} ms"
    )
    goals.check(SEARCH_GOAL, statistics.median(durations))
    return goals.exit_code()


if __name__ == "__main__":
    sys.exit(main())
