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

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evofuse.errors import UserError
from evofuse.runtime.context import EvoContext

if TYPE_CHECKING:
    from evofuse.services import Services


class ClientContext(BaseModel):
    """The context fields a client may send through a host such as LangGraph's server.

    This is the JSON schema such hosts show for `EvoContext` (LangGraph Studio's context form,
    `assistants.get_schemas`); the engine, Selector, recorder and identity are EvoFuse's to fill.
    """

    model_config = ConfigDict(extra="ignore")

    user: str | None = Field(default=None, description="End-user id; stored only as a keyed hash.")
    profile: str | None = Field(default=None, description="Fusion profile of the configuration.")
    mode: str | None = Field(
        default=None, description="Fusion mode for every step: best-of, merge, debate, single, …"
    )
    models: list[str] | None = Field(default=None, description="Pool members (model_list names).")
    judge: str | None = Field(default=None, description="Judge model (a model_list name).")
    skill: str | None = Field(default=None, description="Use this skill instead of the Selector.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Model settings for every member: temperature, …"
    )
    stream_answer: bool = Field(
        default=True, description="Stream the final answer as custom `delta` events."
    )


_CLIENT_FIELDS = tuple(ClientContext.model_fields)

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
            # Everything a run touches, now: the first run must not pay for it inside a step.
            _ = services.recorder, services.selector, services.hasher
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
    fields. `config` is LangGraph's run configuration (graph id, thread id, authenticated user).
    """
    services = await asyncio.to_thread(shared_services)
    given = _client_fields(context)
    configurable: Mapping[str, Any] = (config or {}).get("configurable") or {}
    tenant = str(configurable.get("langgraph_auth_user_id") or "")
    return EvoContext(
        engine=services.engine,
        selector=services.selector,
        recorder=services.recorder,
        graph_id=str(configurable.get("graph_id") or _graph_name(config) or "custom"),
        tenant=tenant,
        thread_id=_str_or_none(configurable.get("thread_id")),
        **{**given, "user": services.hasher(tenant, given.get("user"))},
    )


def _client_fields(context: object) -> dict[str, Any]:
    if context is None:
        return {}
    if isinstance(context, EvoContext):
        values = {f.name: getattr(context, f.name) for f in dataclasses.fields(context)}
    elif isinstance(context, Mapping):
        values = dict(context)
    else:
        return {}
    defaults = EvoContext()
    given = {
        name: values[name]
        for name in _CLIENT_FIELDS
        if name in values and values[name] != getattr(defaults, name)
    }
    try:
        return ClientContext.model_validate(given).model_dump(include=set(given))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise UserError(
            f"Invalid run context: {problems}",
            hint=f"Context fields a client may set: {', '.join(_CLIENT_FIELDS)}.",
        ) from None


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
