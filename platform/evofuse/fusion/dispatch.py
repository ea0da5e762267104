"""Parallel dispatch to the pool with quorum + grace.

All members start at once. Once `quorum` of them have answered, the others get at most `grace_s`
more; then they are cancelled and the judge may start. A member that errors or times out never
fails the step by itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from evofuse.fusion.types import CandidateResult
from evofuse.llm import CallResult, LLMCallError
from evofuse.telemetry.calls import call_role

MemberCall = Callable[[], Awaitable[CallResult]]


def _to_candidate(model: str, task: asyncio.Future[CallResult], round_: int) -> CandidateResult:
    exc = task.exception()
    if exc is None:
        result = task.result()
        return CandidateResult(
            model=model,
            status="ok",
            content=result.content,
            latency_ms=result.latency_ms,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            cost_usd=result.cost_usd,
            round=round_,
        )
    if isinstance(exc, LLMCallError):
        return CandidateResult(
            model=model,
            status=exc.status,
            latency_ms=exc.latency_ms,
            error=exc.message,
            round=round_,
        )
    # Anything else is a bug in our own code, not a provider failure: do not hide it.
    raise exc


async def _as_member(call: MemberCall) -> CallResult:
    with call_role("member"):  # the task's own context: its trace span says "member"
        return await call()


async def dispatch(
    calls: Sequence[tuple[str, MemberCall]],
    *,
    quorum: int,
    grace_s: float,
    round_: int = 0,
) -> AsyncIterator[CandidateResult]:
    """Yield one `CandidateResult` per member, in the order they finish (cancelled ones last)."""
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    tasks: dict[asyncio.Future[CallResult], str] = {
        asyncio.ensure_future(_as_member(call)): model for model, call in calls
    }
    pending: set[asyncio.Future[CallResult]] = set(tasks)
    answered = 0
    grace_deadline: float | None = None
    try:
        while pending:
            timeout = None if grace_deadline is None else max(0.0, grace_deadline - loop.time())
            done, pending = await asyncio.wait(
                pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                break  # grace is over
            for task in done:
                candidate = _to_candidate(tasks[task], task, round_)
                answered += candidate.status == "ok"
                yield candidate
            if grace_deadline is None and answered >= quorum:
                grace_deadline = loop.time() + grace_s
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        waited_ms = (time.perf_counter() - started) * 1000
        for task in pending:
            yield CandidateResult(
                model=tasks[task],
                status="cancelled",
                latency_ms=waited_ms,
                error=f"cancelled: quorum of {quorum} reached and {grace_s:g} s grace passed",
                round=round_,
            )
    finally:
        # The consumer went away (client disconnect, deadline): stop paying for the calls.
        for task in tasks:
            if not task.done():
                task.cancel()
