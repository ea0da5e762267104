"""The context a graph gets when its caller built none: EvoFuse's parts, from the configuration.

`evofuse run`, `evofuse serve` and `Runner` pass a complete `EvoContext`. LangGraph's own server
(`langgraph dev`, a LangGraph deployment) does not know EvoFuse: it invokes a registered graph
with only the context fields its client sent, often none. The nodes then complete the context
here, so the run is the same one `evofuse run` would make and is recorded the same way:

- the fusion engine, the Skill Selector and the run recorder come from the configuration that
  `EVOFUSE_CONFIG` names (else `./evofuse.yaml`), built once per process, off the event loop
  (with the embedded local model started when the configuration enables it);
- the end-user id the client sent (`context={"user": …}`) is stored only as its keyed hash;
- the graph id and thread id come from LangGraph's run configuration; the tenant is the user
  LangGraph's own auth authenticated, never a field the client wrote ("" without auth).
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from evofuse.options import DEFAULT_OPTIONS, FusionOptions
from evofuse.runtime.context import ClientContext, EvoContext, parse_client_context

__all__ = ["ClientContext", "complete_context", "needs_completion", "reset", "shared_services"]

if TYPE_CHECKING:
    from evofuse.services import Services


_lock = threading.Lock()
_services: dict[str, Services] = {}


def _config_key() -> str:
    from evofuse.config.loader import find_config_path

    return str(find_config_path().resolve())


def shared_services() -> Services:
    """The process's `Services` for the configuration file in effect, built on first use.

    Blocking (it reads the config, imports the seed skills, opens the store and warms the model
    gateway): call it from a worker thread inside an event loop.
    """
    from evofuse.config import load_settings
    from evofuse.services import Services

    key = _config_key()
    with _lock:
        services = _services.get(key)
        if services is None:
            services = Services.from_settings(load_settings(key))
            _start_local_model(services)
            services.mark_interrupted_runs()  # this process starts serving runs
            # Everything a run touches, now: the first run must not pay for it inside a step.
            _ = services.selector, services.hasher
            services.engine.gateway.warm_up()
            _services[key] = services
        return services


def _start_local_model(services: Services) -> None:
    """Start the embedded model when the configuration uses it, as `evofuse serve` does; it is
    stopped when the process exits (a server already answering on the port is reused)."""
    settings = services.settings.local_model
    if not settings.enabled:
        return
    from evofuse.localmodel import LocalModelServer

    server = LocalModelServer(settings, quiet=True)
    server.start()
    atexit.register(server.stop)


def needs_completion(context: object) -> bool:
    """True when the runtime context lacks EvoFuse's parts (none given, or only client fields)."""
    return not isinstance(context, EvoContext) or context.engine is None


async def complete_context(context: object, config: Mapping[str, Any] | None) -> EvoContext:
    """An `EvoContext` with engine, Selector and recorder from the configuration.

    `context` is what the graph was invoked with: None, a mapping or an `EvoContext` of client
    fields (its options already validated). `config` is LangGraph's run configuration (graph
    id, thread id, authenticated user).
    """
    services = await asyncio.to_thread(shared_services)
    given = _client_context(context)
    configurable: Mapping[str, Any] = (config or {}).get("configurable") or {}
    tenant = str(configurable.get("langgraph_auth_user_id") or "")
    return EvoContext(
        engine=services.engine,
        selector=services.selector,
        recorder=services.recorder,
        graph_id=str(configurable.get("graph_id") or _graph_name(config) or "custom"),
        tenant=tenant,
        thread_id=_str_or_none(configurable.get("thread_id")),
        user=services.hasher(tenant, given.user),
        skill=given.skill,
        stream_answer=given.stream_answer,
        options=given.options,
    )


@dataclasses.dataclass(frozen=True)
class _Given:
    """What the client chose: its end user (raw), a skill, streaming, the fusion options."""

    user: str | None = None
    skill: str | None = None
    stream_answer: bool = True
    options: FusionOptions = DEFAULT_OPTIONS


def _client_context(context: object) -> _Given:
    if isinstance(context, EvoContext):  # the host built it: options validated on the way
        return _Given(context.user, context.skill, context.stream_answer, context.options)
    if not isinstance(context, Mapping):
        return _Given()
    client, options = parse_client_context(context)
    return _Given(client.user, client.skill, client.stream_answer, options)


def _graph_name(config: Mapping[str, Any] | None) -> str | None:
    metadata = (config or {}).get("metadata") or {}
    name = metadata.get("graph_id")
    return str(name) if name else None


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def reset() -> None:
    """Forget the shared services (tests; a process that changes `EVOFUSE_CONFIG`)."""
    with _lock:
        for services in _services.values():
            services.close()
        _services.clear()
