"""PostgreSQL specifics: URL schemes, migrations, indexes, the pool, and the database's faults,
each against a real server (the shared test server, or a private one the test may stop)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from integrations.state.store import (
    PoolOptions,
    PostgresUnavailable,
    Store,
    StoreUnavailable,
    open_store,
)
from integrations.state.store.postgres_schema import MIGRATIONS, Migration, migrate
from tests.integrations.state.store.test_store_contract import (
    LEDGER,
    MINUTE,
    PHONE,
    T0,
    make_api_key,
    make_booking,
    make_payment,
    message,
)
from tests.support.helpers import TESTS, free_port
from tests.support.postgres_server import PrivateServer, with_params

ROOT = TESTS.parent
TABLES = (
    "bookings",
    "payments",
    "conversations",
    "conversation_messages",
    "api_keys",
    "processed_events",
    "idempotency_records",
)


def named(url: str) -> tuple[str, str]:
    """`url` with an application_name of its own, to find its sessions by; and that name."""
    name = f"sureflights-test-{uuid.uuid4().hex[:8]}"
    return with_params(url, application_name=name), name


def sessions(url: str, application_name: str) -> list[int]:
    """The server processes of the sessions with this application_name in url's database."""
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE application_name = %s AND datname = current_database()",
            [application_name],
        ).fetchall()
    return [row[0] for row in rows]


def gone(url: str, application_name: str) -> None:
    """Wait until every session with this application_name has ended."""
    for _ in range(100):
        if not sessions(url, application_name):
            return
        time.sleep(0.05)
    raise AssertionError(f"sessions of {application_name} are still open")


# --- selection and migrations -------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
async def test_both_url_schemes_open_a_postgresql_store(postgres_url: str, scheme: str) -> None:
    url = scheme + postgres_url.removeprefix("postgresql")

    store = await open_store(url, PoolOptions(size=2))
    try:
        await store.bookings.create(make_booking())
        assert store.kind == "postgresql"
        assert await store.bookings.get("SF-0001") == make_booking()
    finally:
        await store.close()


async def test_migrations_are_recorded_and_applied_once(postgres_url: str) -> None:
    for _ in range(2):
        store = await open_store(postgres_url, PoolOptions(size=1))
        await store.close()

    with psycopg.connect(postgres_url) as connection:
        versions = connection.execute("SELECT version FROM schema_migrations").fetchall()
    assert versions == [(migration.version,) for migration in MIGRATIONS]


MIGRATE_ONCE = """
import asyncio, logging, sys
from integrations.state.store import PoolOptions, open_store

async def main():
    store = await open_store(sys.argv[1], PoolOptions(size=1, start_timeout_seconds=20))
    await store.bookings.count()
    await store.close()

logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s", stream=sys.stdout)
asyncio.run(main())
"""


async def test_processes_starting_together_migrate_once(postgres_url: str) -> None:
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            MIGRATE_ONCE,
            postgres_url,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for _ in range(4)
    ]
    outputs = [(await process.communicate())[0].decode() for process in processes]

    assert [process.returncode for process in processes] == [0] * 4, outputs
    migrated = [out for out in outputs if "sureflights.store database migrated" in out]
    assert len(migrated) == 1, outputs
    with psycopg.connect(postgres_url) as connection:
        (count,) = connection.execute("SELECT count(*) FROM schema_migrations").fetchone() or (0,)
    assert count == len(MIGRATIONS)


async def test_a_failing_migration_leaves_the_database_as_it_was(postgres_url: str) -> None:
    await (await open_store(postgres_url, PoolOptions(size=1))).close()  # all applied
    following = MIGRATIONS[-1].version + 1
    broken = Migration(
        following, "a table, then a failure", ("CREATE TABLE extra (a int)", "SELECT 1/0")
    )
    fixed = Migration(following, "a table", ("CREATE TABLE extra (a int)",))

    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as connection:
        with pytest.raises(psycopg.errors.DivisionByZero):
            await migrate(connection, (*MIGRATIONS, broken))
        after_failure = await (
            await connection.execute("SELECT to_regclass('extra') IS NULL")
        ).fetchone()
        applied = await migrate(connection, (*MIGRATIONS, fixed))
        again = await migrate(connection, (*MIGRATIONS, fixed))
        versions = await (
            await connection.execute("SELECT version FROM schema_migrations ORDER BY version")
        ).fetchall()

    assert after_failure == (True,)
    assert (applied, again) == ([following], [])
    assert versions == [(m.version,) for m in MIGRATIONS] + [(following,)]


# --- indexes --------------------------------------------------------------------------------


async def exercise_every_query(store: Store) -> None:
    """Every repository method, each with rows to find, so each query reads its tables."""
    for number in range(1, 6):
        await store.bookings.create(
            make_booking(
                f"SF-000{number}",
                airline_order_id=f"ord_{number}",
                check_at=T0 + number * MINUTE,
                ledger=LEDGER,
            )
        )
        await store.payments.create(
            make_payment(f"PAY-000{number}", booking_reference=f"SF-000{number}")
        )
    bookings, payments = store.bookings, store.payments
    await bookings.get("SF-0001")
    await bookings.transition(
        "SF-0001", from_statuses=["PENDING_PAYMENT"], to_status="CONFIRMING", now=T0
    )
    await bookings.update("SF-0002", expected_version=1, changes={"check_at": None}, now=T0)
    first = await bookings.list(limit=2)
    await bookings.list(limit=2, after=(first[-1].created_at, first[-1].reference))
    await bookings.list(status="PENDING_PAYMENT", limit=2)
    await bookings.list(partner_id="partner-a", limit=2)
    await bookings.list(status="PENDING_PAYMENT", partner_id="partner-a", limit=2)
    await bookings.count(status="CONFIRMED")
    await bookings.count(partner_id="partner-a")
    await bookings.list_by_status_before("PENDING_PAYMENT", T0 + 60 * MINUTE)
    await bookings.get_by_airline_order("ord_3")
    await bookings.list_due(T0 + 3 * MINUTE)
    await bookings.scan(after="SF-0002", limit=2)
    await payments.get("PAY-0001")
    await payments.get_latest_for_booking("SF-0001")
    await payments.transition("PAY-0001", from_statuses=["PENDING"], to_status="SUCCESS", now=T0)
    await payments.list_by_status_before("PENDING", T0 + MINUTE)
    await payments.list_for_bookings(["SF-0001", "SF-0003"])
    await store.conversations.append_messages(PHONE, [message("in", "hi", T0)], T0)
    await store.conversations.append_messages(PHONE, [message("in", "again", T0)], T0)
    await store.conversations.get(PHONE)
    await store.conversations.save(await store.conversations.get(PHONE))  # type: ignore[arg-type]
    await store.conversations.list_handoffs()
    await store.api_keys.create(make_api_key("key-1"))
    await store.api_keys.get_by_hash("sha256:key-1")
    await store.api_keys.list()
    await store.api_keys.revoke("key-1", T0)
    events, records = store.processed_events, store.idempotency
    await events.record("evt-1", now=T0, ttl=MINUTE)
    await events.record("evt-1", now=T0, ttl=MINUTE)
    await events.purge_expired(T0 + 2 * MINUTE)
    await records.claim("k1", fingerprint="a", now=T0, lease=MINUTE)
    await records.claim("k1", fingerprint="b", now=T0, lease=MINUTE)
    await records.complete("k1", fingerprint="a", result={"x": 1}, now=T0, ttl=MINUTE)
    await records.claim("k2", fingerprint="a", now=T0, lease=MINUTE)
    await records.release("k2", fingerprint="a")
    await records.purge_expired(T0 + 2 * MINUTE)


def scan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a plan that reads one of the store's tables (through a heap or an index)."""
    if plan.get("Relation Name") in TABLES and "Scan" in plan["Node Type"]:
        yield plan
    for child in plan.get("Plans", []):
        if child.get("Node Type") == "Bitmap Index Scan":
            yield {**child, "Relation Name": plan.get("Relation Name")}
        else:
            yield from scan_nodes(child)


def leading_columns(url: str) -> dict[str, str]:
    """The first column (or expression) of every index, by index name."""
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid, 1, true) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relnamespace = 'public'::regnamespace"
        ).fetchall()
    return dict(rows)


def partial_indexes(url: str) -> set[str]:
    """Indexes holding only the rows their predicate picks (a queue, a filtered listing)."""
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relnamespace = 'public'::regnamespace AND i.indpred IS NOT NULL"
        ).fetchall()
    return {name for (name,) in rows}


async def test_every_query_the_store_makes_is_served_by_an_index(
    private_postgres: PrivateServer, caplog: pytest.LogCaptureFixture
) -> None:
    database = private_postgres.create_database()
    await (await open_store(private_postgres.url(database=database), PoolOptions(size=1))).close()
    # Each statement's plan comes back as a notice, which the store logs at debug level. With
    # sequential scans priced out, the planner still picks one where no index serves a query,
    # or else reads a whole index without a condition on it.
    url = with_params(
        private_postgres.url(database=database),
        options=" ".join(
            [
                "-csession_preload_libraries=auto_explain",
                "-cauto_explain.log_min_duration=0",
                "-cauto_explain.log_level=notice",
                "-cauto_explain.log_format=json",
                "-cenable_seqscan=off",
            ]
        ),
    )
    store = await open_store(url, PoolOptions(size=1))
    caplog.set_level(logging.DEBUG, logger="sureflights.store")
    try:
        await exercise_every_query(store)
        leading = leading_columns(private_postgres.url(database=database))
        partial = partial_indexes(private_postgres.url(database=database))
    finally:
        await store.close()
        private_postgres.drop_database(database)

    explained = [
        json.loads(notice.partition("plan:")[2])
        for notice in (getattr(record, "notice", "") for record in caplog.records)
        if notice.startswith("duration:")
    ]
    read_by_index: dict[str, set[str]] = {}
    for entry in explained:
        query = " ".join(entry["Query Text"].split())
        # Listings with no condition read an index in order, for its order alone.
        unconditioned = "WHERE TRUE" in query or "WHERE" not in query
        for node in scan_nodes(entry["Plan"]):
            assert node["Node Type"] != "Seq Scan", query
            if node["Node Type"] == "Bitmap Heap Scan":
                continue  # its Bitmap Index Scan child is checked
            whole_partial = node["Index Name"] in partial and "Index Cond" not in node
            if not unconditioned and not whole_partial:
                # A condition on the index's first column: the scan starts where it should,
                # rather than reading the whole index and filtering. (A partial index whose
                # predicate is the query's condition is read whole: it holds only those rows.)
                assert leading[node["Index Name"]] in node.get("Index Cond", ""), query
            read_by_index.setdefault(node["Relation Name"], set()).add(node["Index Name"])
    assert len(explained) > 40
    assert set(read_by_index) == set(TABLES)


# --- the pool ---------------------------------------------------------------------------------


async def test_the_pool_keeps_as_many_connections_as_its_size(postgres_url: str) -> None:
    url, name = named(postgres_url)

    store = await open_store(url, PoolOptions(size=3))
    try:
        await asyncio.gather(*(store.bookings.count() for _ in range(10)))
        assert len(sessions(postgres_url, name)) == 3
    finally:
        await store.close()
    gone(postgres_url, name)


async def test_connections_ended_by_the_server_are_replaced_unnoticed(postgres_url: str) -> None:
    url, name = named(postgres_url)
    store = await open_store(url, PoolOptions(size=2))
    try:
        await store.bookings.create(make_booking("SF-0001"))
        before = sessions(postgres_url, name)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            for pid in before:
                admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])

        # Reads and writes right after go through, on new connections.
        assert await store.bookings.get("SF-0001") is not None
        await store.bookings.create(make_booking("SF-0002"))
        moved = await store.bookings.transition(
            "SF-0002", from_statuses=["PENDING_PAYMENT"], to_status="CONFIRMING", now=T0
        )
        assert moved is not None
        after = sessions(postgres_url, name)
        assert after
        assert not set(after) & set(before)
    finally:
        await store.close()


# --- values PostgreSQL cannot hold ----------------------------------------------------------


async def test_a_nul_character_in_a_document_is_refused_and_nothing_is_stored(
    postgres_url: str,
) -> None:
    store = await open_store(postgres_url, PoolOptions(size=1))
    try:
        with pytest.raises(ValueError, match="cannot store"):
            await store.bookings.create(make_booking(data={"note": "a\x00b"}))
        with pytest.raises(ValueError, match="cannot store"):
            await store.conversations.append_messages(PHONE, [{"body": "\x00"}], T0)
        assert await store.bookings.get("SF-0001") is None
        assert await store.conversations.get(PHONE) is None
    finally:
        await store.close()


# --- serialization failures and deadlocks -----------------------------------------------------


async def test_under_serializable_isolation_racing_transitions_still_have_one_winner(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Some servers default to SERIALIZABLE: there a loser of a race gets a serialization failure
    # (40001) instead of a row that no longer matches; the store runs it again.
    url, name = named(
        with_params(postgres_url, options="-cdefault_transaction_isolation=serializable")
    )
    one = await open_store(url, PoolOptions(size=4))
    other = await open_store(url, PoolOptions(size=4))
    caplog.set_level(logging.INFO, logger="sureflights.store")
    try:
        await one.bookings.create(make_booking())
        with psycopg.connect(postgres_url) as holder:
            # Hold the row, so every transition starts (and takes its snapshot) before the
            # holder's change commits: each of them then conflicts with it.
            holder.execute(
                "UPDATE bookings SET updated_at = updated_at WHERE reference = 'SF-0001'"
            )
            racing = asyncio.gather(
                *(
                    (one if attempt % 2 else other).bookings.transition(
                        "SF-0001",
                        from_statuses=["PENDING_PAYMENT"],
                        to_status="CONFIRMING",
                        changes={"data": {"settled_by": f"attempt-{attempt}"}},
                        now=T0 + MINUTE,
                    )
                    for attempt in range(20)
                )
            )
            await wait_until_blocked(postgres_url, name, 8)
            holder.commit()
        results = await racing
    finally:
        await one.close()
        await other.close()

    winners = [result for result in results if result is not None]
    assert len(winners) == 1
    assert winners[0].version == 2
    conflicts = [r for r in caplog.records if r.getMessage() == "database conflict, retrying"]
    assert conflicts
    assert all(getattr(r, "sqlstate", None) == "40001" for r in conflicts)


async def wait_until_blocked(url: str, application_name: str, count: int) -> None:
    for _ in range(200):
        with psycopg.connect(url, autocommit=True) as connection:
            (waiting,) = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                "AND wait_event_type = 'Lock'",
                [application_name],
            ).fetchone() or (0,)
        if waiting >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"only {waiting} sessions are waiting for the row lock")


def fail_updates(url: str, *, sqlstate: str, times: int | None) -> None:
    """Make the server fail the next `times` booking updates (every one, if None) with
    `sqlstate`, counting the attempts in the sequence `update_attempts`."""
    limit = "NULL" if times is None else str(times)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE SEQUENCE update_attempts")
        connection.execute(
            "CREATE FUNCTION fail_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF {limit} IS NULL OR nextval('update_attempts') <= {limit} THEN "
            f"RAISE EXCEPTION 'injected failure' USING ERRCODE = '{sqlstate}'; END IF; "
            "RETURN NEW; END $$"
        )
        connection.execute(
            "CREATE TRIGGER fail_update BEFORE UPDATE ON bookings "
            "FOR EACH ROW EXECUTE FUNCTION fail_update()"
        )


def attempts(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute("SELECT last_value, is_called FROM update_attempts").fetchone()
    assert row is not None
    return int(row[0]) if row[1] else 0


async def test_a_deadlock_victim_is_run_again(postgres_url: str) -> None:
    store = await open_store(postgres_url, PoolOptions(size=2))
    try:
        await store.bookings.create(make_booking())
        fail_updates(postgres_url, sqlstate="40P01", times=1)

        moved = await store.bookings.transition(
            "SF-0001", from_statuses=["PENDING_PAYMENT"], to_status="CONFIRMING", now=T0
        )
    finally:
        await store.close()

    assert moved is not None
    assert (moved.status, moved.version) == ("CONFIRMING", 2)
    assert attempts(postgres_url) == 2


async def test_a_conflict_that_never_clears_is_unavailable_and_changes_nothing(
    postgres_url: str,
) -> None:
    store = await open_store(postgres_url, PoolOptions(size=2))
    try:
        await store.bookings.create(make_booking())
        fail_updates(postgres_url, sqlstate="40001", times=None)
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute("SELECT setval('update_attempts', 1, false)")

        with pytest.raises(PostgresUnavailable, match="still conflicting after 5 attempts"):
            await store.bookings.update(
                "SF-0001", expected_version=1, changes={"ledger": LEDGER}, now=T0
            )
        assert await store.bookings.get("SF-0001") == make_booking()
    finally:
        await store.close()


# --- the server down or refusing us ---------------------------------------------------------


async def test_a_server_down_at_start_up_is_waited_for_then_refused_in_one_line() -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://app:s3cret-pw@127.0.0.1:{port}/sureflights"

    started = time.monotonic()
    with pytest.raises(PostgresUnavailable) as refused:
        await open_store(url, PoolOptions(start_timeout_seconds=1.0))
    waited = time.monotonic() - started

    assert 1.0 <= waited < 5
    text = str(refused.value)
    assert "\n" not in text
    assert f"PostgreSQL at 127.0.0.1:{port}/sureflights did not answer within 1 s" in text
    assert "Connection refused" in text
    assert "s3cret-pw" not in text


async def test_a_wrong_password_is_refused_at_once_in_one_line(
    private_postgres: PrivateServer,
) -> None:
    url = private_postgres.url(password="not-the-password")

    started = time.monotonic()
    with pytest.raises(PostgresUnavailable) as refused:
        await open_store(url, PoolOptions(start_timeout_seconds=30))

    assert time.monotonic() - started < 5  # no waiting: retrying cannot help
    text = str(refused.value)
    assert "\n" not in text
    assert 'password authentication failed for user "admin"' in text
    assert "not-the-password" not in text


async def test_a_lost_server_is_unavailable_then_back_without_reopening(
    private_postgres: PrivateServer,
) -> None:
    database = private_postgres.create_database()
    store = await open_store(
        private_postgres.url(database=database), PoolOptions(size=2, timeout_seconds=1)
    )
    try:
        await store.bookings.create(make_booking("SF-0001"))
        private_postgres.stop()
        try:
            with pytest.raises(StoreUnavailable):
                await store.bookings.get("SF-0001")
            with pytest.raises(StoreUnavailable):
                await store.bookings.create(make_booking("SF-0002"))
            with pytest.raises(StoreUnavailable):
                await store.ping()
        finally:
            private_postgres.start()

        await store.ping()
        assert await store.bookings.get("SF-0001") is not None
        await store.bookings.create(make_booking("SF-0002"))
        assert await store.bookings.count() == 2
    finally:
        await store.close()
        private_postgres.drop_database(database)


async def test_idle_connections_keep_their_settings(postgres_url: str) -> None:
    # The pool's connections autocommit: a read leaves no transaction open behind it.
    url, name = named(postgres_url)
    store = await open_store(url, PoolOptions(size=1))
    try:
        await store.bookings.get("SF-0001")
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            states = connection.execute(
                "SELECT state FROM pg_stat_activity WHERE application_name = %s", [name]
            ).fetchall()
        assert states == [("idle",)]
    finally:
        await store.close()
