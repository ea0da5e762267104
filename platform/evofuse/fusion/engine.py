"""The fusion engine: one prompt through a pool of models in parallel, fused by a judge."""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from evofuse.config import FusionMode, FusionProfile, Settings
from evofuse.errors import AllMembersFailedError, UnknownProfileError
from evofuse.fusion import budget, judge, vote
from evofuse.fusion.auto import ModeChoice, ModeChooser
from evofuse.fusion.dispatch import MemberCall, dispatch
from evofuse.fusion.events import (
    AnswerDelta,
    AnswerReset,
    Finished,
    FusionEvent,
    JudgeStarted,
    MemberFinished,
    RoundStarted,
)
from evofuse.fusion.messages import validate_messages, with_instructions
from evofuse.fusion.prompts import load_prompt
from evofuse.fusion.rounds import aggregate, candidate_of, latest_answers
from evofuse.fusion.types import CandidateResult, FusionResult, JudgeResult
from evofuse.llm import CallResult, Gateway, LLMCallError, Message, ModelGateway
from evofuse.options import DEFAULT_OPTIONS, FusionOptions, ModelSettings, with_shorthand
from evofuse.telemetry.calls import TracingGateway, call_role
from evofuse.telemetry.tracing import configure_tracing


@dataclass
class _Plan:
    """A resolved call: which profile, with this call's overrides and model settings applied."""

    name: str
    profile: FusionProfile
    messages: list[Message]
    settings: ModelSettings  # every member call's, `max_tokens` always set
    seed: int

    @property
    def max_tokens(self) -> int:
        assert self.settings.max_tokens is not None
        return self.settings.max_tokens


class FusionEngine:
    """Runs fusion steps for the profiles of one configuration."""

    def __init__(
        self,
        settings: Settings,
        gateway: ModelGateway | None = None,
        mode_chooser: ModeChooser | None = None,
    ) -> None:
        self.settings = settings
        # Spans of every call; exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set and
        # the process has no tracer provider of its own yet (idempotent, cheap without it).
        configure_tracing()
        self.gateway: ModelGateway = TracingGateway(
            gateway or Gateway(settings.router_model_list()),
            include_content=settings.telemetry.include_content,
        )
        # Mode `auto` without recorded evidence explores from the cheapest mode on each call.
        self.mode_chooser = mode_chooser or ModeChooser(None)

    # -- public API -------------------------------------------------------------------------

    async def run(
        self,
        messages: Sequence[Message],
        options: FusionOptions | None = None,
        *,
        profile: str | None = None,
        mode: FusionMode | str | None = None,
        models: Sequence[str] | None = None,
        judge: str | None = None,
        seed: int | None = None,
        instructions: str | None = None,
        skill: str | None = None,
        tenant: str | None = None,
        run_id: str | None = None,
    ) -> FusionResult:
        """Fuse one step and return the result (see `events`).

        The Python edge: `profile`, `mode`, `models`, `judge` and `seed` are a shorthand for
        the same fields of `options`, validated here (a `UserError` names the field).
        """
        options = with_shorthand(
            options, profile=profile, mode=mode, models=models, judge=judge, seed=seed
        )
        # Nobody reads the deltas here: a non-streamed judge call saves ~0.35 ms per chunk.
        async for event in self.events(
            messages,
            options,
            instructions=instructions,
            stream_answer=False,
            skill=skill,
            tenant=tenant,
            run_id=run_id,
        ):
            if isinstance(event, Finished):
                return event.result
        raise AssertionError("fusion ended without a result")  # pragma: no cover

    async def stream(
        self,
        messages: Sequence[Message],
        options: FusionOptions | None = None,
        *,
        profile: str | None = None,
        mode: FusionMode | str | None = None,
        models: Sequence[str] | None = None,
        judge: str | None = None,
        seed: int | None = None,
        instructions: str | None = None,
    ) -> AsyncIterator[str | FusionResult]:
        """Text deltas of the final answer, then the full `FusionResult` (shorthand as `run`).

        If the judge breaks off mid-answer, the fallback's answer follows and the result is
        flagged `degraded`; the result's `content` is always the authoritative answer.
        """
        options = with_shorthand(
            options, profile=profile, mode=mode, models=models, judge=judge, seed=seed
        )
        async for event in self.events(messages, options, instructions=instructions):
            if isinstance(event, AnswerDelta):
                yield event.text
            elif isinstance(event, Finished):
                yield event.result

    async def events(
        self,
        messages: Sequence[Message],
        options: FusionOptions = DEFAULT_OPTIONS,
        *,
        instructions: str | None = None,
        stream_answer: bool = True,
        skill: str | None = None,
        skill_version_id: int | None = None,
        tenant: str | None = None,
        run_id: str | None = None,
    ) -> AsyncIterator[FusionEvent]:
        """Run one step, yielding progress events and finally `Finished(result)`.

        `messages` is a full OpenAI messages list; `instructions` (e.g. a skill's text) is added
        to the system message of every member. `options` names the profile, overrides it and
        carries the model settings every member call gets. With `stream_answer`, a
        synthesizing judge is streamed and its answer arrives as `AnswerDelta`s while it is
        written; without, as one delta at the end. Mode `auto` picks a mode from the rated runs
        of `skill` as seen by `tenant` (`skill_version_id`, the version the run uses, tells
        skills of one name in different scopes apart); seeded by `run_id` when given, so every
        step of a run gets the same mode from the same evidence.
        """
        plan = self._plan(messages, options, instructions)
        choice = None
        if plan.profile.mode is FusionMode.AUTO:  # reads the store: off the event loop
            choose = functools.partial(
                self.mode_chooser.choose,
                skill=skill,
                skill_version_id=skill_version_id,
                tenant=tenant,
            )
            choice = await asyncio.to_thread(choose, plan.profile, seed=run_id or plan.seed)
            plan.profile = plan.profile.model_copy(update={"mode": choice.mode})
        if plan.profile.max_cost_usd is not None:  # tokenizing every prompt costs; only if needed
            est = budget.estimate(self.gateway, plan.profile, plan.messages, plan.max_tokens)
            budget.enforce(plan.name, plan.profile, est)
        run = _Run(self, plan, stream_answer=stream_answer)
        run.mode_choice = choice
        async for event in run.execute():
            yield event

    def estimate(
        self, messages: Sequence[Message], options: FusionOptions = DEFAULT_OPTIONS
    ) -> budget.CostEstimate:
        """The worst-case cost of one step with these options, without calling a model.

        Raises the `UserError`s `events` would (unknown profile or model, overrides the
        profile's rules refuse, bad messages, over `max_cost_usd`), so a server can refuse a
        request before it starts streaming.
        """
        plan = self._plan(messages, options, None)
        est = budget.estimate(self.gateway, plan.profile, plan.messages, plan.max_tokens)
        budget.enforce(plan.name, plan.profile, est)
        return est

    def resolve_profile(self, name: str | None) -> tuple[str, FusionProfile]:
        name = name or self.settings.fusion.default_profile
        try:
            return name, self.settings.fusion.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.settings.fusion.profiles))
            raise UnknownProfileError(
                f"Unknown fusion profile {name!r}", hint=f"Use one of: {known}", param="profile"
            ) from None

    # -- request resolution -----------------------------------------------------------------

    def _plan(
        self, messages: Sequence[Message], options: FusionOptions, instructions: str | None
    ) -> _Plan:
        name, _ = self.resolve_profile(options.profile)
        profile = self.settings.profile(
            name, mode=options.mode, models=options.models, judge=options.judge
        )
        max_tokens = options.sampling.max_tokens or profile.max_tokens
        return _Plan(
            name=name,
            profile=profile,
            messages=with_instructions(validate_messages(messages), instructions),
            settings=options.sampling.model_copy(update={"max_tokens": max_tokens}),
            seed=options.seed
            if options.seed is not None
            else random.SystemRandom().randrange(2**31),
        )


class _Run:
    """The state of one step while it executes."""

    def __init__(self, engine: FusionEngine, plan: _Plan, *, stream_answer: bool) -> None:
        self.stream_answer = stream_answer
        self.gateway = engine.gateway
        self.plan = plan
        self.profile = plan.profile
        self.started = time.perf_counter()
        self.degraded: list[str] = []
        self.prompt_versions: list[str] = []
        self.extra_calls: list[CallResult] = []  # judge calls, counted in the totals
        self.mode_choice: ModeChoice | None = None

    async def execute(self) -> AsyncIterator[FusionEvent]:
        if self.profile.mode is FusionMode.SINGLE:
            async for event in self._single():
                yield event
            return
        rounds: list[list[CandidateResult]] = []
        first: list[CandidateResult] = []
        async for event in self._round(0, self.profile.models, self._first_call):
            if isinstance(event, MemberFinished):
                first.append(event.candidate)
            yield event
        rounds.append(first)
        if not any(c.status == "ok" for c in first):
            raise AllMembersFailedError(first)
        if self.profile.mode is FusionMode.DEBATE:
            for round_ in range(1, self.profile.debate_rounds + 1):
                latest = latest_answers(rounds)
                if len(latest) < 2:
                    # One answer has nobody to debate with: revising it would cost calls for
                    # nothing. The judge is skipped below for the same reason.
                    self.degraded.append(
                        f"only {len(latest)} member answered, so no revision rounds were run"
                    )
                    break
                revisions: list[CandidateResult] = []
                async for event in self._round(
                    round_, [c.model for c in latest], self._revise_call(latest)
                ):
                    if isinstance(event, MemberFinished):
                        revisions.append(event.candidate)
                    yield event
                rounds.append(revisions)
        # Pool order, not finish order: the judge's shuffle must depend on the seed alone.
        position = {m: i for i, m in enumerate(self.profile.models)}
        candidates = sorted(aggregate(rounds), key=lambda c: position[c.model])
        survivors = [c for c in candidates if c.status == "ok"]
        failed = [c.model for c in candidates if c.status != "ok"]
        if failed:
            self.degraded.append(
                f"{len(failed)} of {len(candidates)} members gave no answer: {', '.join(failed)}"
            )
        if self.profile.mode is FusionMode.VOTE:
            tally = vote.tally(survivors, self.profile.models)
            answer = tally.winner.content or ""
            yield AnswerDelta(answer)
            yield Finished(self._result(answer, candidates, vote.verdict_of(tally), rounds))
            return
        if len(survivors) == 1:
            only = survivors[0]
            self.degraded.append(f"only {only.model} answered, so there was nothing to judge")
            verdict = JudgeResult(model=None, status="skipped", winner=only.model)
            yield AnswerDelta(only.content or "")
            yield Finished(self._result(only.content or "", candidates, verdict, rounds))
            return
        async for event in self._judge(candidates, survivors, rounds):
            yield event

    # -- members ----------------------------------------------------------------------------

    async def _round(
        self, round_: int, models: Sequence[str], make_call: Callable[[str], MemberCall]
    ) -> AsyncIterator[FusionEvent]:
        yield RoundStarted(round_, list(models))
        calls: list[tuple[str, MemberCall]] = [(m, make_call(m)) for m in models]
        quorum = min(self.profile.effective_quorum, len(calls))
        async for candidate in dispatch(
            calls, quorum=quorum, grace_s=self.profile.grace_s, round_=round_
        ):
            yield MemberFinished(candidate)

    def _first_call(self, model: str) -> MemberCall:
        async def call() -> CallResult:
            return await self.gateway.complete(
                model,
                self.plan.messages,
                timeout_s=self.profile.timeout_s,
                settings=self.plan.settings,
            )

        return call

    def _revise_call(self, latest: Sequence[CandidateResult]) -> Callable[[str], MemberCall]:
        prompt = load_prompt("debate_revise")
        if prompt.id not in self.prompt_versions:
            self.prompt_versions.append(prompt.id)

        def make(model: str) -> MemberCall:
            own = next(c for c in latest if c.model == model)
            others = [c for c in latest if c.model != model]
            random.Random(f"{self.plan.seed}:{model}").shuffle(others)
            text = prompt.render(
                others="\n\n".join(f"[Answer {i + 1}]\n{c.content}" for i, c in enumerate(others)),
                own=own.content or "",
            )
            messages = [*self.plan.messages, {"role": "user", "content": text}]

            async def call() -> CallResult:
                return await self.gateway.complete(
                    model, messages, timeout_s=self.profile.timeout_s, settings=self.plan.settings
                )

            return call

        return make

    async def _single(self) -> AsyncIterator[FusionEvent]:
        model = self.profile.models[0]
        yield RoundStarted(0, [model])
        started = time.perf_counter()
        try:
            final: CallResult | None = None
            if not self.stream_answer:
                with call_role("member"):
                    final = await self.gateway.complete(
                        model,
                        self.plan.messages,
                        timeout_s=self.profile.timeout_s,
                        settings=self.plan.settings,
                    )
                yield AnswerDelta(final.content)
            else:
                with call_role("member"):
                    async for item in self.gateway.stream(
                        model,
                        self.plan.messages,
                        timeout_s=self.profile.timeout_s,
                        settings=self.plan.settings,
                    ):
                        if isinstance(item, CallResult):
                            final = item
                        else:
                            yield AnswerDelta(item)
        except LLMCallError as exc:
            failed = CandidateResult(
                model=model, status=exc.status, latency_ms=exc.latency_ms, error=exc.message
            )
            yield MemberFinished(failed)
            raise AllMembersFailedError([failed]) from exc
        assert final is not None
        candidate = candidate_of(final, latency_ms=(time.perf_counter() - started) * 1000)
        yield MemberFinished(candidate)
        verdict = JudgeResult(model=None, status="skipped", winner=model)
        yield Finished(self._result(final.content, [candidate], verdict, [[candidate]]))

    # -- judge ------------------------------------------------------------------------------

    async def _judge(
        self,
        candidates: list[CandidateResult],
        survivors: list[CandidateResult],
        rounds: list[list[CandidateResult]],
    ) -> AsyncIterator[FusionEvent]:
        mode = self.profile.mode
        ballot = judge.Ballot.shuffle(survivors, self.plan.seed)
        messages = judge.judge_messages(mode, self.plan.messages, ballot)
        prompt_id = judge.judge_prompt(mode).id
        # Both prompts shape the verdict: the judge's instructions and the ballot around it.
        self.prompt_versions += [prompt_id, judge.judge_input_prompt().id]
        failures: list[str] = []
        timeouts = 0
        judges = [m for m in (self.profile.judge, self.profile.fallback_judge) if m]
        judging_since = time.perf_counter()
        for attempt, model in enumerate(judges):
            yield JudgeStarted(model)
            streamer = judge.AnswerStreamer()
            started = time.perf_counter()
            final: CallResult | None = None
            try:
                async for item in self._judge_call(model, messages, ballot):
                    if isinstance(item, CallResult):
                        final = item
                    elif mode is not FusionMode.BEST_OF and (delta := streamer.feed(item)):
                        yield AnswerDelta(delta)
                assert final is not None
                verdict = judge.parse_verdict(final.content, mode, ballot)
            except (LLMCallError, ValueError) as exc:
                reason = exc.message if isinstance(exc, LLMCallError) else str(exc)
                timeouts += isinstance(exc, LLMCallError) and exc.status == "timeout"
                failures.append(f"judge {model}: {reason}")
                if final is not None:
                    self.extra_calls.append(final)
                if streamer.emitted:
                    yield AnswerReset(f"judge {model} broke off: {reason}")
                continue
            self.extra_calls.append(final)
            winner = ballot.model_of(verdict.winner)
            if mode is FusionMode.BEST_OF:
                content = next(c.content for c in survivors if c.model == winner) or ""
                yield AnswerDelta(content)
            else:
                content = verdict.answer or ""
                if content != streamer.emitted:
                    # The partial parser lagged (answer closed by the last chunk): send the rest.
                    if content.startswith(streamer.emitted):
                        yield AnswerDelta(content[len(streamer.emitted) :])
                    else:
                        yield AnswerReset("the streamed answer differed from the parsed verdict")
                        yield AnswerDelta(content)
            if attempt > 0:
                self.degraded.append("; ".join(failures) + f"; used fallback_judge {model}")
            result = JudgeResult(
                model=model,
                status="ok",
                latency_ms=(time.perf_counter() - started) * 1000,
                prompt_tokens=final.prompt_tokens,
                completion_tokens=final.completion_tokens,
                cost_usd=final.cost_usd,
                winner=winner,
                scores=judge.scores_of(verdict, ballot),
                rationale=verdict.rationale,
                error="; ".join(failures) or None,
                seed=ballot.seed,
                order=ballot.order,
                prompt_version=prompt_id,
            )
            yield Finished(self._result(content, candidates, result, rounds))
            return
        # No judge could decide: the documented rule picks, and the result says so.
        pick = judge.consensus_pick(survivors)
        self.degraded.append(
            "; ".join(failures) + f"; answer chosen by rule ({judge.FALLBACK_RULE})"
        )
        result = JudgeResult(
            model=judges[-1] if judges else None,
            # Every judge ran out of time: say so, with the time spent waiting for them.
            status="timeout" if judges and timeouts == len(judges) else "error",
            latency_ms=(time.perf_counter() - judging_since) * 1000,
            winner=pick.model,
            error="; ".join(failures),
            seed=ballot.seed,
            order=ballot.order,
            prompt_version=prompt_id,
            fallback_rule=judge.FALLBACK_RULE,
        )
        yield AnswerDelta(pick.content or "")
        yield Finished(self._result(pick.content or "", candidates, result, rounds))

    async def _judge_call(
        self, model: str, messages: list[Message], ballot: judge.Ballot
    ) -> AsyncIterator[str | CallResult]:
        mode = self.profile.mode
        settings = ModelSettings(
            max_tokens=budget.judge_max_tokens(mode, self.plan.max_tokens),
            temperature=0,
            response_format=judge.response_format(self.profile.judge_output, mode, ballot.labels),
            drop_params=True,  # providers without structured output just get the prompt
        )
        with call_role("judge"):
            if mode is FusionMode.BEST_OF or not self.stream_answer:
                # best-of has nothing to stream: its answer is a candidate, known from the verdict
                yield await self.gateway.complete(
                    model, messages, timeout_s=self.profile.timeout_s, settings=settings
                )
                return
            async for item in self.gateway.stream(
                model, messages, timeout_s=self.profile.timeout_s, settings=settings
            ):
                yield item

    # -- result -----------------------------------------------------------------------------

    def _result(
        self,
        content: str,
        candidates: list[CandidateResult],
        verdict: JudgeResult,
        rounds: list[list[CandidateResult]],
    ) -> FusionResult:
        priced: list[float | None] = [c.cost_usd for r in rounds for c in r if c.status == "ok"]
        priced += [c.cost_usd for c in self.extra_calls]
        prompt_tokens = sum(c.prompt_tokens for r in rounds for c in r) + sum(
            c.prompt_tokens for c in self.extra_calls
        )
        completion_tokens = sum(c.completion_tokens for r in rounds for c in r) + sum(
            c.completion_tokens for c in self.extra_calls
        )
        return FusionResult(
            content=content,
            mode=self.profile.mode,
            profile=self.plan.name,
            candidates=candidates,
            judge=verdict,
            cost_usd=None
            if any(c is None for c in priced)
            else round(sum(c for c in priced if c), 8),
            latency_ms=(time.perf_counter() - self.started) * 1000,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            degraded=bool(self.degraded),
            degraded_reasons=self.degraded,
            debate_rounds=rounds if self.profile.mode is FusionMode.DEBATE else [],
            prompt_versions=self.prompt_versions,
            mode_choice=self.mode_choice,
        )
