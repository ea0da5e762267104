"""Chat completions: an OpenAI request becomes one recorded graph run, streamed or not.

`prepare` does everything that can refuse a request (parameters, model, overrides, limits)
before any model is called, so those refusals are proper HTTP errors even when streaming.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar, cast

from langchain_core.messages import convert_to_messages
from langgraph.pregel import Pregel

from evofuse.api import limits
from evofuse.api.auth import Principal
from evofuse.api.errors import ApiError, error_body, from_evofuse
from evofuse.api.fusion_graph import FUSION_PREFIX
from evofuse.api.params import fusion_options, refuse_unsupported, request_param
from evofuse.api.request_checks import check_chat_request
from evofuse.api.results import evofuse_object, unstreamed, usage
from evofuse.api.schemas import AssistantMessage, ChatCompletion, ChatCompletionRequest, Choice
from evofuse.api.state import ApiState
from evofuse.api.streaming import DONE, Chunks, error_event
from evofuse.errors import EvoFuseError, RunNotFoundError, UnknownGraphError
from evofuse.options import FusionOptions
from evofuse.runtime.events import parse_event
from evofuse.runtime.results import RunResult
from evofuse.skills.models import Context
from evofuse.store.run_queries import get_run

log = logging.getLogger("evofuse.api")
T = TypeVar("T")
P = ParamSpec("P")


@dataclass
class ChatJob:
    """A request that passed every check and holds its share of the key's budget."""

    model: str  # what the client asked for: a graph id or fusion/<profile>
    target: str | Pregel[Any, Any, Any, Any]
    messages: list[dict[str, Any]]
    options: FusionOptions  # validated once, in `prepare`
    principal: Principal
    user: str | None  # the end user as the client named it (the Runner hashes it)
    skill: str | None
    run_id: str
    created: int
    include_usage: bool
    reservation: limits.Reservation | None = None
    started: bool = field(default=False, init=False)
    settled: bool = field(default=False, init=False)

    @property
    def completion_id(self) -> str:
        return f"chatcmpl-{self.run_id}"

    def run_kwargs(self) -> dict[str, Any]:
        """What `Runner.run` and `Runner.stream` both take for this job, identity included."""
        return {
            "options": self.options,
            "user": self.user,
            "tenant": self.principal.tenant,
            "api_key_id": self.principal.key_id,
            "run_id": self.run_id,
            "skill": self.skill,
        }


class ChatService:
    def __init__(self, state: ApiState) -> None:
        self.state = state

    # -- admission --------------------------------------------------------------------------

    async def prepare(self, request: ChatCompletionRequest, principal: Principal) -> ChatJob:
        """Check the request and admit it against the key's limits; raises API errors."""
        check_chat_request(request, self.state.settings.api)
        refuse_unsupported(request)
        messages = [m.as_dict() for m in request.messages]
        overrides = request.evofuse
        profile = overrides.profile if overrides else None
        target: str | Pregel[Any, Any, Any, Any]
        if request.model.startswith(FUSION_PREFIX):
            target, profile = self._fusion_target(request.model, profile)
        else:
            target = self._graph_target(request.model)
        options = fusion_options(request, profile)
        skill = overrides.skill if overrides else None
        if skill:
            self._check_skill(skill, principal, request.user)
        try:
            # Graphs keep LangChain messages: a message it cannot convert (tool-call arguments
            # that are not JSON, say) must be a 400 now, not a failure inside the run.
            convert_to_messages(messages)
            # Resolves the profile with the overrides by the profile's own rules: a pool that
            # names a model twice or one model_list lacks is a 400 here, before any call.
            estimate = self.state.services.engine.estimate(messages, options)
        except (ValueError, TypeError) as exc:
            raise ApiError(
                400,
                f"These messages cannot be read: {exc}",
                code="invalid_messages",
                param="messages",
            ) from exc
        except EvoFuseError as exc:
            error = from_evofuse(exc)
            error.param = request_param(exc.param)
            raise error from None
        try:
            reservation = (
                await _off_loop(limits.admit, self.state.store, principal, estimate.total_usd)
                if principal.limited
                else None
            )
        except ApiError as exc:
            if exc.status == 429:
                self.state.metrics.refusals.labels(exc.code).inc()
            raise
        return ChatJob(
            model=request.model,
            target=target,
            messages=messages,
            options=options,
            principal=principal,
            user=request.user,
            skill=skill,
            run_id=uuid.uuid4().hex,
            created=int(time.time()),
            include_usage=bool(request.stream_options and request.stream_options.include_usage),
            reservation=reservation,
        )

    def _fusion_target(
        self, model: str, override: str | None
    ) -> tuple[Pregel[Any, Any, Any, Any], str]:
        profile = model.removeprefix(FUSION_PREFIX)
        graph = self.state.fusion_graphs.get(profile)
        if graph is None:
            raise _unknown_model(model, self.state)
        if override is not None and override != profile:
            raise ApiError(
                400,
                f"model {model!r} and evofuse.profile {override!r} name different profiles.",
                code="conflicting_profile",
                param="evofuse.profile",
            )
        return graph, profile

    def _graph_target(self, model: str) -> str:
        try:
            self.state.runner.graph(model)
        except UnknownGraphError:
            raise _unknown_model(model, self.state) from None
        return model

    def _check_skill(self, name: str, principal: Principal, user: str | None) -> None:
        """A named skill must exist and be visible to the caller (raises a 404 otherwise)."""
        context = Context(principal.tenant, self.state.services.hasher(principal.tenant, user))
        self.state.services.library.versions(name, context=context)

    # -- running ----------------------------------------------------------------------------

    async def complete(self, job: ChatJob, receive: Any) -> ChatCompletion | None:
        """Run to the end; None if the client went away first (the run is then cancelled)."""
        status, result = "failed", None
        try:
            result = await _unless_disconnected(
                self.state.runner.run(job.target, job.messages, **job.run_kwargs()),
                receive,
            )
            status = "cancelled" if result is None else "succeeded"
        finally:
            await self.close(job, status, result)
        if result is None:
            return None
        return ChatCompletion(
            id=job.completion_id,
            created=job.created,
            model=job.model,
            choices=[Choice(message=AssistantMessage(content=result.answer))],
            usage=usage(result),
            evofuse=evofuse_object(result),
        )

    async def stream(self, job: ChatJob) -> AsyncIterator[str]:
        """The SSE `data:` payloads of a streamed completion, `[DONE]` last.

        The run itself goes on in a task of its own, which this generator cancels when the
        client leaves. The SSE response stops this generator by cancelling an anyio scope,
        and an anyio cancellation inside LangGraph's stream leaves the running node (and its
        model calls) behind; a plain asyncio cancellation of the run's task stops them.
        """
        job.started = True
        chunks = Chunks(job.completion_id, job.model, job.created, job.include_usage)
        events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        run = asyncio.ensure_future(self._run_stream(job, events))
        streamed: list[str] = []
        try:
            yield chunks.role()
            while True:
                kind, payload = await events.get()
                if kind == "delta":
                    streamed.append(payload)
                    yield chunks.content(payload)
                elif kind == "reset":
                    streamed.clear()
                    yield chunks.reset(payload)
                elif kind == "error":
                    yield error_event(payload)
                    return
                else:
                    result: RunResult = payload
                    rest = unstreamed(result.answer, "".join(streamed))
                    if rest:
                        yield chunks.content(rest)
                    evofuse = evofuse_object(result).model_dump(mode="json")
                    for chunk in chunks.finish(evofuse, usage(result).model_dump()):
                        yield chunk
                    yield DONE
                    return
        finally:
            run.cancel()

    async def _run_stream(self, job: ChatJob, events: asyncio.Queue[tuple[str, Any]]) -> None:
        """Run the graph; put the final deltas, then the result or an error, in `events`."""
        status, result = "failed", None
        final: dict[str, Any] = {}
        stream = cast(
            "AsyncGenerator[tuple[str, Any], None]",
            self.state.runner.stream(job.target, job.messages, **job.run_kwargs()),
        )
        try:
            async with aclosing(stream):
                async for mode, item in stream:
                    if mode == "values":
                        final = item
                        continue
                    event = parse_event(item)
                    if event is None or event["event"] not in ("delta", "reset"):
                        continue
                    if event["event"] == "delta" and event["final"]:
                        events.put_nowait(("delta", event["text"]))
                    elif event["event"] == "reset" and event["final"]:
                        events.put_nowait(("reset", event["reason"]))
            result = RunResult.from_state(job.run_id, job.model, job.run_id, final)
            status = "succeeded"
            events.put_nowait(("done", result))
        except asyncio.CancelledError:
            status = "cancelled"
            raise
        except EvoFuseError as exc:
            events.put_nowait(("error", from_evofuse(exc).body()))
        except Exception as exc:
            log.exception("run %s failed", job.run_id)
            message = f"Internal error ({type(exc).__name__}); the server log has the details."
            events.put_nowait(("error", error_body(message, "server_error", "internal_error")))
        finally:
            await self.close(job, status, result)

    async def close(self, job: ChatJob, status: str, result: RunResult | None) -> None:
        """`finish`, in a thread when there is a budget to settle in SQL."""
        if job.reservation is None:
            self.finish(job, status, result)
        else:
            await _off_loop(self.finish, job, status, result)

    def abandon(self, job: ChatJob) -> None:
        """A stream the client left before it began: release the budget it reserved."""
        if not job.started:
            self.finish(job, "cancelled", None)

    def finish(self, job: ChatJob, status: str, result: RunResult | None) -> None:
        """Settle the budget and count the run, once (a stream that never started included)."""
        if job.settled:
            return
        job.settled = True
        cost = result.cost_usd if result is not None else self._recorded_cost(job)
        try:
            limits.settle(self.state.store, job.reservation, cost)
        finally:
            self.state.metrics.record_run(job.model, status, result)

    def _recorded_cost(self, job: ChatJob) -> float | None:
        """What a failed or cancelled run spent on the steps it finished."""
        if job.reservation is None:
            return None
        try:
            cost = get_run(self.state.store, job.run_id)["cost_usd"]
        except RunNotFoundError:
            return None
        return float(cost) if cost is not None else None


# -- helpers ------------------------------------------------------------------------------------


def _unknown_model(model: str, state: ApiState) -> ApiError:
    known = [*state.runner.registry.ids, *(FUSION_PREFIX + p for p in state.fusion_graphs)]
    return ApiError(
        404,
        f"The model {model!r} does not exist: use a graph id or fusion/<profile> "
        f"({', '.join(known)}); GET /v1/models lists them.",
        code="model_not_found",
        param="model",
    )


async def _off_loop(work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run blocking SQL in a thread: a commit waits for the disk (fsync), not for the CPU,
    and the event loop must keep serving the other requests meanwhile."""
    return await asyncio.to_thread(work, *args, **kwargs)


async def _unless_disconnected(work: Awaitable[T], receive: Any) -> T | None:
    """Await `work`, cancelling it if the client disconnects first (then return None)."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnect(receive))
    try:
        done, _ = await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        gone.cancel()
        raise
    gone.cancel()
    if task in done:
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None


async def _disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
