"""The PostgreSQL servers the tests run against.

The shared one: `POSTGRES_TEST_URL` when set, else `postgresql://postgres@127.0.0.1:5432/postgres`,
a URL naming a server and a role that may create databases. The suite creates one database for
the run (`sureflights_test_<random>`), gives each test a schema of its own inside it (the store's
URL puts that schema first on `search_path`), and drops the database when the run ends. It never
touches another database.

A private one, for the fault tests that stop and restart a server or need it to check passwords:
`private_server()` initialises a cluster in a temporary directory with the server binaries
(`pg_config --bindir`: initdb, pg_ctl), password authentication (scram-sha-256), listening on a
free loopback port, and removes it afterwards. As root it runs them as the `postgres` user, since
PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from tests.support.helpers import free_port

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    return os.environ.get("POSTGRES_TEST_URL", "").strip() or DEFAULT_ADMIN_URL


def with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def with_params(url: str, **params: str) -> str:
    """`url` with libpq query parameters set (percent-encoded, which libpq decodes); an
    `options` value is added to the server settings the URL already has."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for name, value in params.items():
        query[name] = f"{query[name]} {value}" if name == "options" and name in query else value
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


@dataclass(frozen=True)
class RunDatabase:
    """The database created for this run, and the schemas the tests work in."""

    url: str

    def schema_url(self, schema: str, **params: str) -> str:
        return with_params(self.url, options=f"-csearch_path={schema}", **params)

    def create_schema(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        return name

    def drop_schema(self, name: str) -> None:
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name))
            )


@contextlib.contextmanager
def run_database() -> Iterator[RunDatabase]:
    """A database of its own for the run on the shared server, dropped afterwards."""
    url = admin_url()
    name = f"sureflights_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as error:
        raise RuntimeError(
            f"the tests need a PostgreSQL server where they may create a database "
            f"(POSTGRES_TEST_URL, default {DEFAULT_ADMIN_URL}): {error}"
        ) from error
    try:
        yield RunDatabase(with_database(url, name))
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# --- a private server -------------------------------------------------------------------------


def _bindir() -> Path:
    found = shutil.which("pg_config")
    if found:
        bindir = subprocess.run(
            [found, "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if (Path(bindir) / "initdb").exists():
            return Path(bindir)
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    raise RuntimeError(
        "the PostgreSQL fault tests start a server of their own and need its binaries "
        "(initdb, pg_ctl; the postgresql server package)"
    )


@dataclass
class PrivateServer:
    """A PostgreSQL server this test session owns: it may stop it, start it, and it checks
    passwords (superuser `admin`)."""

    bindir: Path
    folder: Path
    port: int
    password: str

    def url(self, *, password: str | None = None, database: str = "postgres") -> str:
        secret = quote(self.password if password is None else password, safe="")
        return f"postgresql://admin:{secret}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"sureflights_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bindir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)

    def init(self) -> None:
        (self.folder / "pw").write_text(self.password)
        self._chown()
        self._run(
            "initdb",
            "-D",
            str(self.folder / "data"),
            "-U",
            "admin",
            "--auth=scram-sha-256",
            f"--pwfile={self.folder / 'pw'}",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=40 -c shared_buffers=16MB"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.folder / "data"),
            "-l",
            str(self.folder / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")

    def _chown(self) -> None:
        if os.geteuid() == 0:
            for path in (self.folder, self.folder / "pw"):
                shutil.chown(path, "postgres", "postgres")


@contextlib.contextmanager
def private_server() -> Iterator[PrivateServer]:
    with tempfile.TemporaryDirectory(prefix="sureflights-pg-") as folder:
        server = PrivateServer(_bindir(), Path(folder), free_port(), uuid.uuid4().hex)
        server.init()
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                server.stop()
