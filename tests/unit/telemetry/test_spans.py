"""One trace per run: the run, each step, each member call and the judge, with what they cost.

Runs go through the real Runner, LangGraph graph and fusion engine, with the models answered
in-process by `ScriptedGateway`; spans are collected by the OpenTelemetry SDK's in-memory
exporter.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from evofuse.config.loader import settings_from_mapping
from evofuse.fusion import FusionEngine
from evofuse.runtime.context import EvoContext
from evofuse.runtime.nodes import fuse_step
from evofuse.runtime.runner import Runner
from evofuse.runtime.state import AgentState
from evofuse.telemetry import using_provider
from evofuse.testing import JUDGE, ModelBehavior, ScriptedGateway, UpstreamScript

SECRET_QUESTION = "What is the launch code for project Bluebird?"
NAMES = ("m1", "m2", "down", "j")
SCRIPT = UpstreamScript(
    models={
        "m1": ModelBehavior(content="Member one answers."),
        "m2": ModelBehavior(content="Member two answers.", latency_ms=20),
        "down": ModelBehavior(kind="error", status=503, message="overloaded"),
        "j": JUDGE,
    },
    default=None,
)


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with using_provider(provider):
        yield exporter


def _runner(models: list[str], *, include_content: bool = False) -> Runner:
    settings = settings_from_mapping(
        {
            "model_list": [
                {"model_name": n, "litellm_params": {"model": f"openai/{n}"}} for n in NAMES
            ],
            "fusion": {
                "default_profile": "p",
                "profiles": {"p": {"models": models, "judge": "j", "mode": "merge"}},
            },
            "telemetry": {"include_content": include_content},
        }
    )
    gateway = ScriptedGateway(SCRIPT, prices=dict.fromkeys(NAMES, (1e-06, 2e-06)))
    engine = FusionEngine(settings, gateway=gateway)
    return Runner(settings, engine=engine, checkpoints=False)


def _two_step_graph() -> Any:
    builder = StateGraph(AgentState, context_schema=EvoContext)
    builder.add_node("draft", fuse_step("draft", "Draft an answer.", final=False))
    builder.add_node("answer", fuse_step("answer", "Answer briefly."))
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "answer")
    builder.add_edge("answer", END)
    return builder.compile(name="two-steps")


def _by_name(spans: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


async def test_a_run_is_one_trace_with_its_steps_members_and_judges(
    exporter: InMemorySpanExporter,
) -> None:
    runner = _runner(["m1", "m2", "down"])
    result = await runner.run(_two_step_graph(), SECRET_QUESTION, tenant="acme")

    spans = exporter.get_finished_spans()
    [run] = _by_name(spans, "evofuse.run")
    steps = _by_name(spans, "evofuse.step")
    members = _by_name(spans, "evofuse.member")
    judges = _by_name(spans, "evofuse.judge")
    assert run.context is not None and run.parent is None
    assert {s.context.trace_id for s in spans if s.context} == {run.context.trace_id}
    assert run.attributes is not None and run.attributes["evofuse.run_id"] == result.run_id
    assert run.attributes["evofuse.tenant"] == "acme"
    assert run.attributes["evofuse.status"] == "succeeded"
    assert run.status.status_code is StatusCode.OK

    assert [s.name for s in steps] == ["evofuse.step draft", "evofuse.step answer"]
    assert all(s.parent is not None and s.parent.span_id == run.context.span_id for s in steps)
    step_ids = {s.context.span_id for s in steps if s.context}
    assert len(members) == 6 and len(judges) == 2  # three members and a judge per step
    assert all(c.parent is not None and c.parent.span_id in step_ids for c in members + judges)

    ok = [m for m in members if m.attributes and m.attributes["evofuse.status"] == "ok"]
    failed = [m for m in members if m.attributes and m.attributes["evofuse.status"] == "error"]
    assert {m.attributes["gen_ai.request.model"] for m in ok if m.attributes} == {"m1", "m2"}
    assert {m.attributes["gen_ai.request.model"] for m in failed if m.attributes} == {"down"}
    for span in ok + judges:
        attributes = dict(span.attributes or {})
        assert attributes["gen_ai.usage.input_tokens"] > 0
        assert attributes["gen_ai.usage.output_tokens"] > 0
        assert attributes["evofuse.cost_usd"] > 0
        assert attributes["evofuse.latency_ms"] >= 0
    slow = next(m for m in ok if m.attributes and m.attributes["gen_ai.request.model"] == "m2")
    assert slow.attributes is not None and slow.attributes["evofuse.latency_ms"] >= 15
    assert all(f.status.status_code is StatusCode.ERROR for f in failed)
    assert "overloaded" in (failed[0].status.description or "")
    assert all(j.attributes and j.attributes["gen_ai.request.model"] == "j" for j in judges)


async def test_no_prompt_or_answer_text_on_any_span_by_default(
    exporter: InMemorySpanExporter,
) -> None:
    await _runner(["m1", "m2"]).run(_two_step_graph(), SECRET_QUESTION)
    spans = exporter.get_finished_spans()
    assert spans
    for span in spans:
        for value in (span.attributes or {}).values():
            assert "Bluebird" not in str(value) and "answers." not in str(value), span.name


async def test_include_content_puts_the_prompt_and_answer_on_call_spans(
    exporter: InMemorySpanExporter,
) -> None:
    await _runner(["m1", "m2"], include_content=True).run(_two_step_graph(), SECRET_QUESTION)
    member = next(
        s
        for s in _by_name(exporter.get_finished_spans(), "evofuse.member")
        if s.attributes and s.attributes["gen_ai.request.model"] == "m1"
    )
    assert member.attributes is not None
    assert "Bluebird" in str(member.attributes["evofuse.prompt"])
    assert member.attributes["evofuse.completion"] == "Member one answers."


async def test_a_failed_run_ends_its_spans_with_the_error(
    exporter: InMemorySpanExporter,
) -> None:
    runner = _runner(["down"])  # every member fails: the step and the run fail
    with pytest.raises(Exception, match="failed"):
        await runner.run(_two_step_graph(), SECRET_QUESTION)
    spans = exporter.get_finished_spans()
    [run] = _by_name(spans, "evofuse.run")
    [step] = _by_name(spans, "evofuse.step")
    assert run.attributes is not None and run.attributes["evofuse.status"] == "failed"
    assert step.attributes is not None and step.attributes["evofuse.status"] == "failed"
    assert run.status.status_code is StatusCode.ERROR
    assert step.status.status_code is StatusCode.ERROR


async def test_a_stream_the_consumer_leaves_is_closed_and_its_span_ends_cancelled(
    exporter: InMemorySpanExporter,
) -> None:
    from evofuse.telemetry import TracingGateway, call_role

    closed: list[bool] = []

    class Inner(ScriptedGateway):
        async def stream(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            try:
                yield "first "
                yield "second"
            finally:
                closed.append(True)

    gateway = TracingGateway(Inner(SCRIPT))
    with call_role("judge"):
        stream = gateway.stream("j", [{"role": "user", "content": "hi"}], timeout_s=5)
        assert await anext(stream) == "first "
        await stream.aclose()  # e.g. the answer was already decided
    assert closed == [True]
    [span] = exporter.get_finished_spans()
    assert span.name == "evofuse.judge j"
    assert span.attributes is not None and span.attributes["evofuse.status"] == "cancelled"
