"""Exact attribution: one skill name and version number in three scopes, three tenants using it.

Every outcome, rating and piece of evolution evidence must land on the version row the run
actually used, never on another scope's version that happens to share its name and number.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from evofuse.config.models import EvolutionSettings, FusionMode
from evofuse.evolution.evidence import EvidenceBuilder, is_held_out
from evofuse.evolution.pii import default_scrubber
from evofuse.fusion import FusionEngine
from evofuse.fusion.auto import AutoPolicy, ModeChooser
from evofuse.identity import UserHasher
from evofuse.options import DEFAULT_OPTIONS, FusionOptions
from evofuse.ports import RunInfo
from evofuse.runtime.runner import Runner
from evofuse.skills import Bundle, BundleFile, Context, Library, Scope
from evofuse.skills.selector import LibrarySkillChooser, SelectorConfig
from evofuse.store import OutcomeRow, OutcomeSource, make_engine, migrate, utcnow
from evofuse.store.feedback import record_feedback
from evofuse.store.mode_outcomes import SqlModeEvidence
from evofuse.store.recorder import SqlRunRecorder
from evofuse.store.runs import RunRow
from evofuse.testing import judge_reply
from tests.support.databases import database_url  # noqa: F401  (sqlite + postgres fixture)
from tests.unit.conftest import FakePool
from tests.unit.skills.conftest import MakeLibrary, skill_md

REPO = Path(__file__).resolve().parents[3]
HASHER = UserHasher(b"attribution-test-secret")
TASK = "Review this SQL query for defects: SELECT * FROM orders WHERE id = 1"


def bundle(body: str) -> Bundle:
    text = skill_md("sql-review", "Review SQL queries for correctness and performance.", body)
    return Bundle([BundleFile("SKILL.md", text.encode())])


@dataclass
class World:
    library: Library
    runner: Runner
    versions: dict[str, int]  # scope -> version row id, all three are "sql-review" v1


@pytest.fixture
def world(make_library: MakeLibrary, pool: FakePool, tmp_path: Path) -> Iterator[World]:
    pool.model("m1", content="member one")
    pool.model("m2", content="member two")
    pool.model("j", content=judge_reply(answer="fused"))
    library = make_library()
    carol = Context("tc", HASHER("tc", "carol"))
    published = {
        "global": library.publish(bundle("Global review steps.\n")),
        "tenant": library.publish(
            bundle("Tenant B's review steps.\n"), scope=Scope.TENANT, context=Context("tb")
        ),
        "user": library.publish(bundle("Carol's review steps.\n"), scope=Scope.USER, context=carol),
    }
    versions = {scope: p.version.id for scope, p in published.items()}
    assert {p.version.version for p in published.values()} == {1}  # the same name and number
    url = library.store.engine.url.render_as_string(hide_password=False)
    settings = pool.settings(
        storage={"database_url": url, "chroma": str(tmp_path / "c")},
        graphs=str(REPO / "langgraph.json"),
    )
    chooser = LibrarySkillChooser(library, config=SelectorConfig(exploration=0.0), seed=1)
    runner = Runner(
        settings,
        selector=chooser,
        recorder=SqlRunRecorder(library.store),
        hasher=HASHER,
        checkpoints=False,
    )
    yield World(library, runner, versions)


HOLDOUT = 25.0
_ids = itertools.count()


def _evidence_run_id() -> str:
    """A run id outside the held-out share: its run is evidence, not a replay task."""
    while is_held_out(run_id := f"run-{next(_ids)}", HOLDOUT):
        pass
    return run_id


async def _run(
    world: World, tenant: str, user: str, options: FusionOptions = DEFAULT_OPTIONS
) -> str:
    async with world.runner as runner:
        result = await runner.run(
            "assistant",
            TASK,
            options=options,
            tenant=tenant,
            user=user,
            skill="sql-review",
            run_id=_evidence_run_id(),
        )
    return result.run_id


def _run_row(library: Library, run_id: str) -> RunRow:
    with library.store.session() as session:
        row = session.get(RunRow, run_id)
        assert row is not None
        return row


async def test_outcomes_and_feedback_land_on_the_version_the_run_used(world: World) -> None:
    # Tenant ta sees only the global skill; tb its own; tc's carol her own, tc's dave the global.
    runs = {
        ("ta", "alice"): await _run(world, "ta", "alice"),
        ("tb", "bob"): await _run(world, "tb", "bob"),
        ("tc", "carol"): await _run(world, "tc", "carol"),
        ("tc", "dave"): await _run(world, "tc", "dave"),
    }
    used = {
        ("ta", "alice"): "global",
        ("tb", "bob"): "tenant",
        ("tc", "carol"): "user",
        ("tc", "dave"): "global",
    }
    ratings = {("ta", "alice"): 0.2, ("tb", "bob"): 0.9, ("tc", "carol"): 0.6, ("tc", "dave"): 0.4}
    for (tenant, user), run_id in runs.items():
        row = _run_row(world.library, run_id)
        assert row.skill_version_id == world.versions[used[(tenant, user)]]
        assert (row.skill_name, row.skill_version) == ("sql-review", 1)
        record_feedback(
            world.library.store,
            run_id=run_id,
            score=ratings[(tenant, user)],
            tenant=tenant,
            user_hash=HASHER(tenant, user),
        )

    with world.library.store.session() as session:
        outcomes = session.exec(select(OutcomeRow).order_by(col(OutcomeRow.id))).all()
    by_run: dict[str, set[tuple[int, str]]] = {}
    for o in outcomes:
        by_run.setdefault(o.run_id, set()).add((o.skill_version_id, o.source))
    for key, run_id in runs.items():
        version_id = world.versions[used[key]]
        # One judge outcome (the fake judge scores 9/10) and one rating, both on the exact row.
        assert by_run[run_id] == {
            (version_id, OutcomeSource.JUDGE.value),
            (version_id, OutcomeSource.FEEDBACK.value),
        }

    # What `skills versions` and GET /v1/skills/{name}/versions report, per scope.
    def stats(context: Context, scope: Scope) -> tuple[int, float | None]:
        (v,) = world.library.version_stats("sql-review", context=context, scope=scope)
        return v.outcomes, v.mean_score

    assert stats(Context(), Scope.GLOBAL) == (4, pytest.approx((0.9 + 0.2 + 0.9 + 0.4) / 4))
    assert stats(Context("tb"), Scope.TENANT) == (2, pytest.approx((0.9 + 0.9) / 2))
    carol = Context("tc", HASHER("tc", "carol"))
    assert stats(carol, Scope.USER) == (2, pytest.approx((0.9 + 0.6) / 2))

    # The Selector's statistics for each scope hold only that scope's outcomes.
    selector = LibrarySkillChooser(world.library, config=SelectorConfig(exploration=0.0)).selector
    for tenant, user, scope, own, others in [
        ("tb", "bob", "tenant", 2, 0),
        ("tc", "carol", "user", 2, 0),
        ("ta", "alice", "global", 2, 2),  # alice's own two, and dave's two from tenant tc
    ]:
        selection = selector.select(
            [{"role": "user", "content": TASK}],
            tenant=tenant,
            user_hash=HASHER(tenant, user),
            skill="sql-review",
        )
        assert selection.version_id == world.versions[scope]
        (version,) = selection.candidates[0].versions
        assert (version.user.n, version.tenant.n + version.everyone.n) == (own, others)


async def test_evolution_evidence_of_each_scope_holds_only_its_runs(world: World) -> None:
    alice = await _run(world, "ta", "alice")
    bob = await _run(world, "tb", "bob")
    carol = await _run(world, "tc", "carol")
    # A failed run of tenant tb: evidence against tb's own version only.
    recorder = SqlRunRecorder(world.library.store)
    failed = _evidence_run_id()
    recorder.start(failed, RunInfo(graph_id="assistant", tenant="tb", user=HASHER("tb", "erin")))
    recorder.skill_chosen(
        failed, {"name": "sql-review", "version": 1, "version_id": world.versions["tenant"]}
    )
    recorder.finish(failed, "failed", "boom")

    evidence = EvidenceBuilder(
        world.library.store,
        EvolutionSettings.model_validate({"holdout_percent": HOLDOUT}),
        default_scrubber(),
        utcnow(),
    ).build()
    runs = {s.version_id: set(s.runs) for s in evidence.skills}
    assert runs[world.versions["global"]] == {alice}
    assert runs[world.versions["tenant"]] == {bob, failed}
    assert runs[world.versions["user"]] == {carol}
    failures = {s.version_id: s.failures for s in evidence.skills}
    assert failures == {world.versions["global"]: 0, world.versions["tenant"]: 1} | {
        world.versions["user"]: 0
    }


async def test_mode_auto_evidence_of_each_scope_holds_only_its_runs(world: World) -> None:
    # Tenant ta runs the global sql-review in vote, tenant tb its own sql-review in single.
    store = world.library.store
    alice = await _run(world, "ta", "alice", FusionOptions(mode=FusionMode.VOTE))
    bob = await _run(world, "tb", "bob", FusionOptions(mode=FusionMode.SINGLE))
    record_feedback(store, run_id=alice, score=1.0, tenant="ta", user_hash=HASHER("ta", "alice"))
    record_feedback(store, run_id=bob, score=0.0, tenant="tb", user_hash=HASHER("tb", "bob"))

    evidence = SqlModeEvidence(store)
    global_stats = evidence.mode_stats("sql-review", world.versions["global"])
    tenant_stats = evidence.mode_stats("sql-review", world.versions["tenant"])
    assert {t: {m: a.n for m, a in arms.items()} for t, arms in global_stats.items()} == {
        "ta": {FusionMode.VOTE: 1}
    }
    assert {t: {m: a.n for m, a in arms.items()} for t, arms in tenant_stats.items()} == {
        "tb": {FusionMode.SINGLE: 1}
    }
    # A name alone is a skill this library does not hold: none of these runs count for it.
    assert evidence.mode_stats("sql-review") == {}

    # A run in mode auto reads the evidence of the skill version it runs, not of its name.
    auto_runner = Runner(
        world.runner.settings,
        engine=FusionEngine(
            world.runner.settings,
            mode_chooser=ModeChooser(evidence, AutoPolicy(min_trials=1)),
        ),
        selector=world.runner.selector,
        recorder=world.runner.recorder,
        hasher=HASHER,
        checkpoints=False,
    )
    async with auto_runner as runner:
        result = await runner.run(
            "assistant",
            TASK,
            options=FusionOptions(mode=FusionMode.AUTO),
            tenant="tb",
            user="bob",
            skill="sql-review",
        )
    [step] = result.steps
    choice = step.fusion.mode_choice
    assert choice is not None and choice.skill == "sql-review"
    seen = {arm.mode: arm.n for arm in choice.arms if arm.n}
    assert seen == {FusionMode.SINGLE: 1}  # tb's own rating; ta's vote rating is another skill


def test_migration_backfills_the_version_each_existing_run_used(database_url: str) -> None:  # noqa: F811
    """Runs recorded before runs held a version id get the one their scope saw; outcomes the
    old name-and-number lookup credited to another scope's version move to the right one."""
    engine = make_engine(database_url)
    try:
        migrate(engine, "0004")
        now = utcnow()
        carol = HASHER("tc", "carol")
        with engine.begin() as conn:
            for skill_id, scope, tenant, owner in [
                (1, "global", "", ""),
                (2, "tenant", "tb", ""),
                (3, "user", "tc", carol),
            ]:
                conn.execute(
                    text(
                        "INSERT INTO skills (id, name, scope, tenant, owner, active_version,"
                        " created_at, updated_at) VALUES (:id, 'sql-review', :scope, :tenant,"
                        " :owner, 1, :now, :now)"
                    ),
                    {"id": skill_id, "scope": scope, "tenant": tenant, "owner": owner, "now": now},
                )
                conn.execute(
                    text(
                        "INSERT INTO skill_versions (id, skill_id, version, content_hash, origin,"
                        " status, description, size_bytes, issues, created_at) VALUES (:id,"
                        " :skill, 1, :hash, 'import', 'active', 'Review SQL.', 10, '[]', :now)"
                    ),
                    {"id": skill_id * 10, "skill": skill_id, "hash": f"h{skill_id}", "now": now},
                )
            runs = [
                ("r-alice", "ta", HASHER("ta", "alice"), "sql-review", 20),  # wrongly tb's
                ("r-bob", "tb", HASHER("tb", "bob"), "sql-review", 10),  # wrongly global
                ("r-carol", "tc", carol, "sql-review", 10),  # wrongly global
                ("r-dave", "tc", HASHER("tc", "dave"), "sql-review", 30),  # wrongly carol's
                ("r-plain", "ta", HASHER("ta", "alice"), None, None),  # no skill
            ]
            for run_id, tenant, user, skill, credited in runs:
                conn.execute(
                    text(
                        "INSERT INTO runs (id, graph, tenant, user_hash, skill_name,"
                        " skill_version, status, prompt_tokens, completion_tokens, owner,"
                        " created_at) VALUES (:id, 'assistant', :tenant, :user, :skill, :version,"
                        " 'succeeded', 0, 0, 'h:1', :now)"
                    ),
                    {
                        "id": run_id,
                        "tenant": tenant,
                        "user": user,
                        "skill": skill,
                        "version": 1 if skill else None,
                        "now": now,
                    },
                )
                if credited is not None:
                    conn.execute(
                        text(
                            "INSERT INTO outcomes (run_id, skill_version_id, skill_name, version,"
                            " tenant, user_hash, score, source, created_at) VALUES (:run,"
                            " :credited, 'sql-review', 1, :tenant, :user, 0.5, 'judge', :now)"
                        ),
                        {
                            "run": run_id,
                            "credited": credited,
                            "tenant": tenant,
                            "user": user,
                            "now": now,
                        },
                    )
        migrate(engine)
        with engine.connect() as conn:
            used = dict(conn.execute(text("SELECT id, skill_version_id FROM runs")).all())
            moved = dict(conn.execute(text("SELECT run_id, skill_version_id FROM outcomes")).all())
            keys = conn.execute(text("SELECT COUNT(*) FROM runs WHERE api_key_id IS NULL"))
            assert keys.scalar_one() == len(runs)  # no key can be known for an old run
        assert used == {"r-alice": 10, "r-bob": 20, "r-carol": 30, "r-dave": 10, "r-plain": None}
        assert moved == {"r-alice": 10, "r-bob": 20, "r-carol": 30, "r-dave": 10}
    finally:
        engine.dispose()
