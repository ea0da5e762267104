"""Running a suite through each fusion mode and scoring every answer.

An *arm* is what gets compared: `single:<model>` for each pool member alone, and one arm per
other mode. Every task runs once per arm with the same seed, so arms are compared pairwise on
the same tasks. Tasks run concurrently up to `concurrency`.

`auto` learns while it runs, from the checker's scores of its own answers only (never from the
other arms, whose calls it did not pay for): tasks go in batches of `concurrency`, each batch
chosen from what the earlier batches taught, so a run is reproducible for a given seed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from evofuse.config import FusionMode, FusionProfile, Settings
from evofuse.errors import EvoFuseError, UserError
from evofuse.eval import checks
from evofuse.eval.report import EvalReport, summarize
from evofuse.eval.suites import Suite, SuiteItem
from evofuse.fusion import FusionEngine, FusionResult
from evofuse.fusion.auto import ARMS, MemoryEvidence, ModeChooser
from evofuse.llm import Gateway, Message
from evofuse.options import FusionOptions

ALL_MODES = ("single", "vote", "best-of", "merge", "debate", "auto")
EVAL_TENANT = "evofuse-eval"
FAILED = "failed"  # `auto`'s entry in `chosen_modes` for steps that failed outright
ARM_MODES = frozenset(m.value for m in ARMS)


@dataclass(frozen=True)
class Arm:
    name: str
    mode: FusionMode
    model: str | None = None  # single: the pool member


@dataclass
class Attempt:
    """One task answered by one arm."""

    item: SuiteItem
    score: float
    correct: bool
    cost_usd: float | None
    calls: int
    latency_ms: float
    mode: str  # the mode that ran (for `auto`: the one it chose)
    error: str | None = None
    reply: str | None = None


Progress = Callable[[Arm, Attempt], None]


def parse_modes(text: str | Sequence[str]) -> list[FusionMode]:
    """`single,vote,…` as modes, in the given order, without repeats."""
    names = [p.strip() for p in text.split(",")] if isinstance(text, str) else list(text)
    modes: list[FusionMode] = []
    for name in filter(None, names):
        try:
            mode = FusionMode(name)
        except ValueError:
            raise UserError(
                f"Unknown mode {name!r} in --modes", hint=f"Use some of: {','.join(ALL_MODES)}"
            ) from None
        if mode not in modes:
            modes.append(mode)
    if not modes:
        raise UserError("--modes is empty", hint=f"For example: --modes {','.join(ALL_MODES)}")
    return modes


def arms_for(profile_name: str, profile: FusionProfile, modes: Sequence[FusionMode]) -> list[Arm]:
    arms: list[Arm] = []
    for mode in modes:
        if mode is FusionMode.SINGLE:
            arms += [Arm(f"single:{m}", mode, m) for m in profile.models]
            continue
        if mode is not FusionMode.AUTO and len(profile.models) < 2:
            raise UserError(
                f"Mode {mode.value} needs two or more models; profile {profile_name!r} has one",
                hint="Use --modes single, or a profile with a larger pool",
            )
        if mode in (FusionMode.BEST_OF, FusionMode.MERGE, FusionMode.DEBATE) and not profile.judge:
            raise UserError(
                f"Mode {mode.value} needs a judge; profile {profile_name!r} has none",
                hint="Add `judge:` to the profile or leave the mode out of --modes",
            )
        arms.append(Arm(mode.value, mode))
    return arms


def model_calls(result: FusionResult, profile: FusionProfile) -> int:
    """Calls a step made: every member call (all debate rounds) plus each judge attempt."""
    members = sum(len(r) for r in result.debate_rounds) or len(result.candidates)
    judge = result.judge
    if judge.status == "skipped":
        return members
    if judge.status != "ok":  # every configured judge was tried and failed (error, timeout)
        return members + len([j for j in (profile.judge, profile.fallback_judge) if j])
    return members + (2 if judge.error else 1)  # an error on success: the fallback answered


async def evaluate(
    settings: Settings,
    suite: Suite,
    modes: Sequence[FusionMode | str],
    *,
    profile: str | None = None,
    seed: int = 0,
    concurrency: int = 4,
    progress: Progress | None = None,
    gateway: Gateway | None = None,
) -> EvalReport:
    """Run every task of `suite` through each mode and summarize (see `EvalReport`)."""
    if concurrency < 1:
        raise UserError(f"concurrency must be at least 1, got {concurrency}")
    evidence = MemoryEvidence()
    engine = FusionEngine(settings, gateway, mode_chooser=ModeChooser(evidence))
    profile_name, base = engine.resolve_profile(profile)
    arms = arms_for(profile_name, base, parse_modes([FusionMode(m).value for m in modes]))
    limit = asyncio.Semaphore(concurrency)
    results: dict[str, list[Attempt | None]] = {a.name: [None] * len(suite.items) for a in arms}

    async def attempt(arm: Arm, index: int) -> Attempt:
        item = suite.items[index]
        async with limit:
            done = await _answer(
                engine, profile_name, base, arm, item, suite, seed * 100_003 + index
            )
        results[arm.name][index] = done
        if progress is not None:
            progress(arm, done)
        return done

    async def auto_arm(arm: Arm) -> None:
        for start in range(0, len(suite.items), concurrency):
            batch = range(start, min(start + concurrency, len(suite.items)))
            for done in await asyncio.gather(*(attempt(arm, i) for i in batch)):
                if done.mode in ARM_MODES:  # a step that failed outright never said its mode
                    evidence.record(
                        done.item.skill,
                        EVAL_TENANT,
                        FusionMode(done.mode),
                        done.score,
                        done.cost_usd,
                    )

    started = time.perf_counter()
    jobs: list[Awaitable[object]] = []
    for arm in arms:
        if arm.mode is FusionMode.AUTO:
            jobs.append(auto_arm(arm))
        else:
            jobs += [attempt(arm, i) for i in range(len(suite.items))]
    await asyncio.gather(*jobs)
    attempts = {name: [a for a in rows if a is not None] for name, rows in results.items()}
    return summarize(
        suite=suite.name,
        profile=profile_name,
        seed=seed,
        arms=[(a.name, a.mode.value, a.model) for a in arms],
        attempts=attempts,
        duration_s=time.perf_counter() - started,
        concurrency=concurrency,
    )


def run_eval(
    settings: Settings,
    suite: Suite,
    modes: Sequence[FusionMode | str],
    *,
    profile: str | None = None,
    seed: int = 0,
    concurrency: int = 4,
) -> EvalReport:
    """`evaluate` from synchronous code (a script, a notebook without a running loop)."""
    return asyncio.run(
        evaluate(settings, suite, modes, profile=profile, seed=seed, concurrency=concurrency)
    )


async def _answer(
    engine: FusionEngine,
    profile_name: str,
    profile: FusionProfile,
    arm: Arm,
    item: SuiteItem,
    suite: Suite,
    seed: int,
) -> Attempt:
    messages: list[Message] = [
        {"role": "system", "content": checks.ANSWER_FORMAT},
        {"role": "user", "content": item.question},
    ]
    options = FusionOptions(
        profile=profile_name,
        mode=arm.mode,
        models=(arm.model,) if arm.model else None,
        seed=seed,
    )
    started = time.perf_counter()
    try:
        result = await engine.run(messages, options, skill=item.skill, tenant=EVAL_TENANT)
    except EvoFuseError as exc:  # a failed step is a wrong answer, and the report says why
        failures = getattr(exc, "failures", [])
        return Attempt(
            item=item,
            score=0.0,
            correct=False,
            cost_usd=0.0,
            calls=len(failures),
            latency_ms=(time.perf_counter() - started) * 1000,
            # `auto` chose a mode before the step failed, but the error does not carry it
            mode=FAILED if arm.mode is FusionMode.AUTO else arm.mode.value,
            error=exc.message.splitlines()[0],
        )
    # Scoring may run a reasoning-gym scorer (sympy): off the event loop.
    value = await asyncio.to_thread(checks.score, item, result.content, suite.rg_dataset)
    return Attempt(
        item=item,
        score=value,
        correct=checks.is_correct(value),
        cost_usd=result.cost_usd,
        calls=model_calls(result, profile),
        latency_ms=result.latency_ms,
        mode=result.mode.value,
        reply=result.content,
    )
