"""The `sureflights` command: serve the gateway, export the schema, and operator tools."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import click
from pydantic import ValidationError

from graphql_api.settings import Settings, SettingsError, load_settings


def _settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        click.echo(str(error), err=True)
        sys.exit(1)
    except ValidationError as error:
        first = error.errors()[0]
        name = ".".join(str(p) for p in first["loc"]).upper()
        click.echo(f"refusing to start: setting {name} is invalid: {first['msg']}", err=True)
        sys.exit(1)


@click.group()
def main() -> None:
    """SureFlights GraphQL gateway."""


@main.command()
@click.option("--host", default="0.0.0.0", show_default=True)  # noqa: S104 - a server binds all
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@click.option("--reload", is_flag=True, help="Restart on code changes (development).")
@click.option("--ssl-keyfile", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--ssl-certfile", type=click.Path(exists=True, dir_okay=False), default=None)
def serve(
    host: str,
    port: int,
    workers: int,
    reload: bool,
    ssl_keyfile: str | None,
    ssl_certfile: str | None,
) -> None:
    """Run the gateway with uvicorn."""
    import uvicorn

    settings = _settings_or_exit()
    if bool(ssl_keyfile) != bool(ssl_certfile):
        click.echo("--ssl-keyfile and --ssl-certfile go together", err=True)
        sys.exit(2)
    uvicorn.run(
        "graphql_api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        ssl_keyfile=ssl_keyfile,
        ssl_certfile=ssl_certfile,
        # X-Forwarded-* are believed only from these proxies (the load balancer).
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_level=settings.log_level.lower(),
        access_log=not settings.is_production,
        server_header=False,
    )


@main.command("export-schema")
@click.option(
    "--check",
    "check_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Compare with this file instead of printing; exit 1 with a diff when it is stale.",
)
def export_schema(check_path: str | None) -> None:
    """Print the SDL of the live schema."""
    from graphql_api.schema import build_schema

    sdl = build_schema().as_str().rstrip("\n") + "\n"
    if check_path is None:
        click.echo(sdl, nl=False)
        return
    path = Path(check_path)
    committed = path.read_text(encoding="utf-8") if path.exists() else ""
    if committed == sdl:
        click.echo(f"{check_path} is up to date")
        return
    diff = difflib.unified_diff(
        committed.splitlines(keepends=True),
        sdl.splitlines(keepends=True),
        fromfile=check_path,
        tofile="live schema",
    )
    click.echo("".join(diff), nl=False)
    click.echo(f"{check_path} is stale: run `sureflights export-schema > {check_path}`", err=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
