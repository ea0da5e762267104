"""`evofuse serve`: the OpenAI-compatible HTTP API under uvicorn."""

from __future__ import annotations

import ipaddress
import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from evofuse.cli.options import ConfigOption, load

if TYPE_CHECKING:
    from evofuse.config import Settings


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name could resolve to anything: treat it as exposed


def check_exposure(settings: Settings, host: str, force: bool) -> None:
    """Refuse to put an API without keys on a network address unless told to."""
    from evofuse.errors import UserError

    if settings.auth.enabled or is_loopback(host) or force:
        return
    raise UserError(
        f"Refusing to serve on {host} with auth.enabled: false: anyone who can reach it could "
        "spend your model budget and read every run.",
        hint="Set auth.enabled: true and create keys (`evofuse keys create --tenant NAME`), "
        "bind to 127.0.0.1, or pass --force if a proxy in front does the authentication.",
    )


def check_port_free(host: str, port: int) -> None:
    """Fail with one clear line before the banner, rather than uvicorn's error after it."""
    import errno
    import socket

    from evofuse.errors import UserError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(
                    f"Port {port} on {host} is already in use",
                    hint=f"Stop the program that listens there, or pick another: --port {port + 1}",
                ) from None
            raise UserError(f"Cannot listen on {host}:{port}: {exc.strerror}") from None


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port.")] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Worker processes (each a full server).")
    ] = 1,
    force: Annotated[
        bool, typer.Option("--force", help="Serve a non-loopback address even without auth.")
    ] = False,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = True,
    config: ConfigOption = None,
) -> None:
    """Serve the OpenAI-compatible API: /v1/chat/completions, /v1/models, feedback, runs, skills.

    Clients send `Authorization: Bearer <key>` (create keys with `evofuse keys create`). The
    local model server is started first when `local_model.enabled` is set. OpenAPI at
    /openapi.json, interactive docs at /docs.
    """
    import uvicorn

    from evofuse.config.loader import CONFIG_ENV_VAR, find_config_path
    from evofuse.localmodel import local_model_running
    from evofuse.readiness import READY_DIR_ENV, WORKERS_ENV

    settings = load(config)
    check_exposure(settings, host, force)
    check_port_free(host, port)
    _say_how_to_connect(settings, host, port)
    metrics_dir = None
    with local_model_running(settings.local_model):
        if workers == 1:
            from evofuse.api import create_app

            uvicorn.run(create_app(settings), host=host, port=port, access_log=access_log)
            return
        # Workers import the app themselves: they find the same file through the variable.
        os.environ[CONFIG_ENV_VAR] = str(find_config_path(config).resolve())
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            metrics_dir = tempfile.mkdtemp(prefix="evofuse-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        # Each worker marks itself warm here; /healthz says `ready` once all of them have.
        ready_dir = tempfile.mkdtemp(prefix="evofuse-ready-")
        os.environ[READY_DIR_ENV] = ready_dir
        os.environ[WORKERS_ENV] = str(workers)
        try:
            uvicorn.run(
                "evofuse.api.app:app_from_env",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                access_log=access_log,
            )
        finally:
            shutil.rmtree(ready_dir, ignore_errors=True)
            if metrics_dir is not None:
                shutil.rmtree(metrics_dir, ignore_errors=True)


def _say_how_to_connect(settings: Settings, host: str, port: int) -> None:
    err = Console(stderr=True, highlight=False)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    err.print(f"EvoFuse API on [bold]http://{shown}:{port}/v1[/] (docs at /docs)")
    login = " (log in with an API key)" if settings.auth.enabled else ""
    err.print(f"Dashboard on [bold]http://{shown}:{port}/ui[/]{login}")
    if not settings.auth.enabled:
        err.print("[yellow]auth.enabled is false: every request is accepted, as tenant ''.[/]")
        return
    from evofuse.store import Store
    from evofuse.store.keys import list_keys

    store = Store(settings.storage.database_url)
    try:
        live = [k for k in list_keys(store) if k.revoked_at is None]
    finally:
        store.close()
    if not live:
        err.print(
            "[yellow]No API keys yet:[/] create one with "
            "`evofuse keys create --tenant NAME` and send it as `Authorization: Bearer <key>`."
        )
