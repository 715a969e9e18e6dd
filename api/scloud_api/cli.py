"""The ``scloud-api`` command: serve, database migrations, API keys, webhook secret."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import select

from .settings import get_settings

app = typer.Typer(help="SCloudStack API service.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (stored hashed; the token is shown once).", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")


def _sessionmaker():
    from .db import make_engine, make_sessionmaker, upgrade

    settings = get_settings()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    upgrade(engine)
    return make_sessionmaker(engine)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port")] = None,
) -> None:
    """Run the API with uvicorn (one process: it owns its executor and its jobs).

    Scale out with several API nodes, each with its own SCLOUD_API_NODE_NAME, on one PostgreSQL.
    """
    import uvicorn

    from .app import create_app

    settings = get_settings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        # uvloop and httptools (C) instead of asyncio's loop and h11 (pure Python): the HTTP layer
        # alone took a third of a request's time (docs/benchmarks.md).
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        # Behind HAProxy (timeout server 60 s) an idle connection must be closed by the proxy first:
        # with uvicorn's 5 s default, HAProxy could send a request on a connection the replica was
        # closing, and the client got "server disconnected without a response".
        timeout_keep_alive=settings.keep_alive_seconds,
    )


@app.command()
def worker(
    hostname: Annotated[
        str | None, typer.Option(help="Celery node name; default scloud@<SCLOUD_API_NODE_NAME>")
    ] = None,
    loglevel: Annotated[str, typer.Option(help="Celery log level")] = "INFO",
) -> None:
    """Run a Celery worker for SCLOUD_API_EXECUTOR=celery (same settings as the API).

    It runs SCLOUD_API_MAX_CONCURRENT_JOBS jobs at once, from the queue SCLOUD_API_CELERY_QUEUE on
    SCLOUD_API_BROKER_URL, against the API's database. Start one or more on any node.
    """
    from pydantic import ValidationError

    from . import logs
    from .celery_executor import Worker

    try:
        settings = get_settings()
    except ValidationError as exc:
        typer.echo(f"invalid settings: {exc}", err=True)
        raise typer.Exit(2) from None
    if settings.executor != "celery" or settings.broker_url is None:
        raise typer.BadParameter(
            "a worker needs SCLOUD_API_EXECUTOR=celery and SCLOUD_API_BROKER_URL", param_hint="environment"
        )
    logs.configure(settings.log_level)
    Worker(settings).run(hostname=hostname, loglevel=loglevel)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the Alembic migrations."""
    from .db import make_engine, upgrade

    settings = get_settings()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    upgrade(make_engine(settings.db_url), revision)
    typer.echo(f"database at {revision}: {make_engine(settings.db_url).url.render_as_string()}")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="viewer, operator or admin")] = "operator",
    name: Annotated[str, typer.Option(help="A label for the key")] = "",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print the token only")] = False,
) -> None:
    """Create a key and print its token (shown once)."""
    from .auth import ROLES, create_key

    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}", param_hint="--role")
    with _sessionmaker().begin() as s:
        key, token = create_key(s, role, name)
        key_id = key.id
    if quiet:
        typer.echo(token)
    else:
        typer.echo(f"id: {key_id}\nrole: {role}\ntoken: {token}")


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never their tokens)."""
    from .models import ApiKey

    with _sessionmaker()() as s:
        for k in s.scalars(select(ApiKey).order_by(ApiKey.created_at)):
            state = f"revoked {k.revoked_at.isoformat()}" if k.revoked_at else "active"
            typer.echo(f"{k.id}  {k.prefix}…  {k.role:8}  {state:30}  {k.name}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="Key id or prefix")]) -> None:
    """Revoke a key: every API node refuses it at once. The last active admin key stays."""
    from .auth import LastAdminKey, revoke_key

    try:
        with _sessionmaker().begin() as s:
            key = revoke_key(s, key_id)
            if key is None:
                typer.echo(f"no key {key_id}", err=True)
                raise typer.Exit(1)
    except LastAdminKey as exc:
        typer.echo(f"refused: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"revoked {key_id}")


@app.command("webhook-secret")
def webhook_secret() -> None:
    """Print the Standard Webhooks secret receivers verify callbacks with."""
    from .callbacks import load_or_create_secret

    typer.echo(load_or_create_secret(get_settings()))
