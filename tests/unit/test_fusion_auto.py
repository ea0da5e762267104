"""Mode `auto`: the choice rule (seeded), tenant caps, the SQL evidence, and the engine."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from evofuse.config import FusionMode, FusionProfile
from evofuse.fusion.auto import (
    ArmStats,
    AutoPolicy,
    MemoryEvidence,
    ModeChooser,
    candidate_modes,
    choose,
    expected_calls,
    pooled,
)
from evofuse.store import Store
from evofuse.store.feedback import record_feedback
from evofuse.store.runs import RunRow, StepRow
from evofuse.testing import judge_reply
from tests.unit.conftest import FakePool

PANEL = FusionProfile(models=["a", "b", "c"], judge="j", debate_rounds=1)
ALL = [FusionMode.SINGLE, FusionMode.VOTE, FusionMode.BEST_OF, FusionMode.MERGE, FusionMode.DEBATE]


def arm(n: int, rate: float, cost: float | None = None) -> ArmStats:
    stats = ArmStats()
    for i in range(n):
        stats.add(1.0 if i < round(n * rate) else 0.0, cost)
    return stats


def test_the_arms_follow_the_profile() -> None:
    assert candidate_modes(PANEL) == ALL
    pair = FusionProfile(models=["a", "b"], mode="auto")
    assert candidate_modes(pair) == [FusionMode.SINGLE, FusionMode.VOTE]
    assert candidate_modes(FusionProfile(models=["a"])) == [FusionMode.SINGLE]
    assert [expected_calls(PANEL, m) for m in ALL] == [1, 3, 4, 4, 7]


def test_warm_up_tries_the_cheapest_untried_mode_first() -> None:
    first = choose(PANEL, {}, seed=1)
    assert first.mode is FusionMode.SINGLE and first.reason.startswith("exploring")
    assert first.cost_unit == "calls" and [a.mode for a in first.arms] == ALL
    evidence = {FusionMode.SINGLE: arm(2, 0.5), FusionMode.VOTE: arm(1, 1.0)}
    assert choose(PANEL, evidence, seed=1).mode is FusionMode.VOTE
    evidence[FusionMode.VOTE] = arm(2, 1.0)
    assert choose(PANEL, evidence, seed=1).mode is FusionMode.BEST_OF


def test_the_choice_is_reproducible_for_a_seed_and_varies_across_seeds() -> None:
    evidence = {m: arm(6, 0.5) for m in ALL}
    picks = [choose(PANEL, evidence, seed=s).mode for s in range(40)]
    assert picks == [choose(PANEL, evidence, seed=s).mode for s in range(40)]
    assert len(set(picks)) > 1, "equal evidence must keep exploring"
    chosen = choose(PANEL, evidence, seed=3)
    assert chosen.reason.startswith("bandit") and all(a.draw is not None for a in chosen.arms)


def test_a_clearly_better_mode_wins_almost_always() -> None:
    evidence = {m: arm(40, 0.3) for m in ALL}
    evidence[FusionMode.MERGE] = arm(40, 0.9)
    picks = Counter(choose(PANEL, evidence, seed=s).mode for s in range(200))
    assert picks[FusionMode.MERGE] >= 190


def test_equal_quality_goes_to_the_cheaper_mode() -> None:
    evidence = {m: arm(400, 0.8) for m in ALL}
    picks = Counter(choose(PANEL, evidence, seed=s).mode for s in range(200))
    # same accuracy: mostly the 1-call mode, hardly ever the 7-call one
    assert picks.most_common(1)[0][0] is FusionMode.SINGLE
    assert picks[FusionMode.DEBATE] < 5


def test_known_prices_are_used_instead_of_call_counts() -> None:
    evidence = {m: arm(400, 0.8, cost=0.01) for m in ALL}
    evidence[FusionMode.DEBATE] = arm(400, 0.8, cost=0.0001)  # cheaper than a single call here
    choice = choose(PANEL, evidence, seed=0)
    assert choice.cost_unit == "usd"
    picks = Counter(choose(PANEL, evidence, seed=s).mode for s in range(100))
    assert picks.most_common(1)[0][0] is FusionMode.DEBATE


def test_another_tenants_flood_moves_a_tenant_only_as_far_as_one_voice() -> None:
    policy = AutoPolicy(others_weight=10)
    mine = {m: arm(30, 0.5) for m in ALL}
    mine[FusionMode.MERGE] = arm(30, 0.9)
    honest = {FusionMode.SINGLE: arm(40, 0.5), FusionMode.MERGE: arm(40, 0.9)}
    flood = {FusionMode.SINGLE: arm(5000, 1.0), FusionMode.MERGE: arm(10, 0.0)}
    stats = {"me": mine, "honest": honest, "spammer": flood}
    view = pooled(stats, "me", policy)
    # 30 own ratings plus a prior of 10 in which the spammer is one voice of two
    assert view[FusionMode.SINGLE].n == pytest.approx(40)
    assert view[FusionMode.SINGLE].score == pytest.approx(15 + 10 * (1.0 + 0.5) / 2)
    assert view[FusionMode.VOTE].n == pytest.approx(30)  # nobody else rated vote
    picks = Counter(choose(PANEL, view, seed=s, policy=policy).mode for s in range(200))
    assert picks[FusionMode.MERGE] > 150
    # the spammer's own view counts its ratings in full
    assert pooled(stats, "spammer", policy)[FusionMode.SINGLE].n == pytest.approx(5000 + 10)
    # a tenant with no history of its own starts from everyone's experience
    newcomer = pooled(stats, "new", policy)
    assert newcomer[FusionMode.MERGE].n == pytest.approx(10)
    assert newcomer[FusionMode.MERGE].mean == pytest.approx((0.9 + 0.9 + 0.0) / 3)


def test_memory_evidence_feeds_the_chooser() -> None:
    evidence = MemoryEvidence()
    chooser = ModeChooser(evidence, AutoPolicy(min_trials=1))
    seen = []
    for i in range(5):
        choice = chooser.choose(PANEL, skill="math", tenant="t", seed=i)
        seen.append(choice.mode)
        evidence.record("math", "t", choice.mode, 1.0, None)
    assert seen == ALL  # one warm-up run per mode, cheapest first
    assert chooser.choose(PANEL, skill="other", tenant="t", seed=0).mode is FusionMode.SINGLE


def rated_run(
    store: Store, run_id: str, tenant: str, skill: str | None, mode: str, score: float
) -> None:
    with store.session() as session:
        session.add(RunRow(id=run_id, graph="g", tenant=tenant, skill_name=skill, cost_usd=0.002))
        session.flush()
        session.add(StepRow(run_id=run_id, index=0, name="answer", mode=mode, status="succeeded"))
    record_feedback(store, run_id=run_id, score=score, tenant=tenant)


def test_sql_evidence_groups_ratings_by_tenant_and_mode(tmp_path: Path) -> None:
    from evofuse.store.mode_outcomes import SqlModeEvidence

    store = Store(f"sqlite:///{tmp_path}/auto.db")
    rated_run(store, "r1", "acme", "sql", "vote", 1.0)
    rated_run(store, "r2", "acme", "sql", "vote", 0.0)
    rated_run(store, "r3", "acme", "sql", "merge", 1.0)
    rated_run(store, "r4", "globex", "sql", "vote", 0.5)
    rated_run(store, "r5", "acme", None, "single", 1.0)
    rated_run(store, "r6", "acme", "other", "single", 1.0)
    with store.session() as session:  # a run whose steps ran in two modes tells nothing
        session.add(RunRow(id="r7", graph="g", tenant="acme", skill_name="sql"))
        session.flush()
        session.add(StepRow(run_id="r7", index=0, name="a", mode="vote", status="succeeded"))
        session.add(StepRow(run_id="r7", index=1, name="b", mode="merge", status="succeeded"))
    record_feedback(store, run_id="r7", score=1.0, tenant="acme")

    stats = SqlModeEvidence(store).mode_stats("sql")
    assert set(stats) == {"acme", "globex"}
    vote = stats["acme"][FusionMode.VOTE]
    assert (vote.n, vote.score, vote.mean_cost) == (2, 1.0, pytest.approx(0.002))
    assert stats["acme"][FusionMode.MERGE].n == 1
    assert stats["globex"][FusionMode.VOTE].score == 0.5
    assert set(SqlModeEvidence(store).mode_stats(None)["acme"]) == {FusionMode.SINGLE}
    store.close()


async def test_engine_auto_runs_the_chosen_mode_and_says_why(pool: FakePool) -> None:
    pool.model("m1", content="Answer: 4")
    pool.model("m2", content="Answer: 4")
    judge = pool.model("j", content=judge_reply(answer="Answer: 4"))
    evidence = MemoryEvidence()
    for mode in (FusionMode.SINGLE, FusionMode.VOTE, FusionMode.BEST_OF, FusionMode.DEBATE):
        for _ in range(30):
            evidence.record("math", "t", mode, 0.2, None)
    for _ in range(30):
        evidence.record("math", "t", FusionMode.MERGE, 1.0, None)
    settings = pool.settings({"mode": "auto"})
    from evofuse.fusion import FusionEngine

    engine = FusionEngine(settings, mode_chooser=ModeChooser(evidence))
    user = [{"role": "user", "content": "2+2?"}]
    result = await engine.run(user, skill="math", tenant="t", run_id="run-1")
    assert result.mode == "merge" and judge.calls
    assert result.mode_choice is not None and result.mode_choice.mode == "merge"
    assert "bandit" in result.mode_choice.reason and result.mode_choice.skill == "math"
    assert result.model_dump(mode="json")["mode_choice"]["mode"] == "merge"
    # without evidence for the skill: warm-up from the cheapest mode, no judge call
    calls = len(judge.calls)
    fresh = await engine.run(user, skill="new-skill", tenant="t")
    assert fresh.mode == "single" and len(judge.calls) == calls
    assert fresh.mode_choice is not None and "exploring" in fresh.mode_choice.reason


async def test_fixed_modes_carry_no_mode_choice(pool: FakePool) -> None:
    pool.model("m1", content="a")
    pool.model("m2", content="b")
    pool.model("j", content=judge_reply(answer="x"))
    result = await pool.engine().run([{"role": "user", "content": "hi"}])
    assert result.mode_choice is None


def test_auto_budget_estimate_is_the_costliest_mode(pool: FakePool) -> None:
    pool.model("m1", content="a")
    pool.model("m2", content="b")
    pool.model("j", content=judge_reply(answer="x"))
    user = [{"role": "user", "content": "hi"}]
    auto = pool.engine({"mode": "auto"}).estimate(user)
    debate = pool.engine({"mode": "debate"}).estimate(user)
    vote = pool.engine({"mode": "vote"}).estimate(user)
    assert auto.total_usd == pytest.approx(debate.total_usd)
    assert vote.total_usd < debate.total_usd and not any("judge" in line for line in vote.lines)


async def test_auto_steps_are_recorded_with_their_reason_and_rated_runs_teach_auto(
    pool: FakePool, tmp_path: Path
) -> None:
    from evofuse.fusion import FusionEngine
    from evofuse.ports import RunInfo
    from evofuse.store.mode_outcomes import SqlModeEvidence
    from evofuse.store.recorder import SqlRunRecorder

    pool.model("m1", content="Answer: 4")
    pool.model("m2", content="Answer: 4")
    pool.model("j", content=judge_reply(answer="Answer: 4"))
    store = Store(f"sqlite:///{tmp_path}/loop.db")
    recorder = SqlRunRecorder(store)
    chooser = ModeChooser(SqlModeEvidence(store), AutoPolicy(min_trials=1))
    engine = FusionEngine(pool.settings({"mode": "auto"}), mode_chooser=chooser)
    user = [{"role": "user", "content": "2+2?"}]
    modes = []
    for i in range(3):
        run_id = f"run-{i}"
        recorder.start(run_id, RunInfo(tenant="acme"))
        with store.session() as session:  # the Selector's choice, as the runtime records it
            row = session.get(RunRow, run_id)
            assert row is not None
            row.skill_name = "math"
            session.add(row)
        result = await engine.run(user, skill="math", tenant="acme", run_id=run_id)
        recorder.step_finished(run_id, 0, "answer", result)
        recorder.finish(run_id, "succeeded")
        record_feedback(store, run_id=run_id, score=1.0, tenant="acme")
        modes.append(result.mode.value)
    # warm-up walks the modes cheapest first because each rated run is seen by the next choice
    assert modes == ["single", "vote", "best-of"]
    with store.session() as session:
        from sqlmodel import select

        steps = session.exec(select(StepRow).order_by(StepRow.run_id)).all()
        assert [s.mode for s in steps] == modes
        assert steps[1].mode_choice is not None
        assert steps[1].mode_choice["mode"] == "vote"
        assert "exploring" in steps[1].mode_choice["reason"]
    store.close()
