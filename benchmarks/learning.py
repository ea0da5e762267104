"""Does a new user benefit from everyone else's outcomes? A collective-learning simulation, no LLM.

A population of users in several tenants runs tasks of two skills over time (users join over
the first 85 % of the time, each runs 10 or more tasks). Each skill has three versions whose
true success rates are hidden from every policy and differ by task cluster and by tenant. After
40 % of the runs, a better version of skill 0 is published; under EvoFuse it goes
out as a canary (10 % of users) and the evolution cycle's canary review, run every
`--cycle-every` runs, promotes or rolls it back. A share of users (`--liars`) rates the opposite
of what happened. Every run's success is a draw from the true rate of the version served, and
the rating (the outcome, or its opposite for a liar) is what the policy learns from.

Policies, all facing the same users, tasks and random draws (common random numbers):

- evofuse: the real `Selector` over a real SQL store (SQLite in a temp dir) and skill index, as
  shipped (default `SelectorConfig`), with outcomes written as outcome rows and canaries
  published and reviewed by the real evolution `Publisher`;
- per-user: the same decision rule (Beta-Bernoulli, 20 % Thompson sampling, else best mean) on
  the user's own ratings only;
- global mean: the same rule on all ratings pooled, one estimate for everyone;
- random: a uniform choice among the live versions;
- oracle: the version with the highest true rate for this task cluster and tenant (regret 0).

Reported per policy, mean over seeds with a 95 % t-interval: a brand-new user's success over
their first 10 runs (users who join after the first 30 % of the time; expected success, i.e.
the true rate of what they were served), cumulative regret against the oracle, how many runs of
skill 0 after the release pass before half of a rolling window of 40 goes to the better version
(censored at the end: "never" counts as all remaining runs), and how much 5 % lying raters change
each figure. The Selector does not see task clusters inside a skill: where versions differ by
cluster, it cannot match the oracle, and the table shows by how much.

    .venv/bin/python benchmarks/learning.py                       # 5 seeds, ~3,000 runs each
    .venv/bin/python benchmarks/learning.py --seeds 3 --users 80  # quicker

Markdown tables go to stdout, progress to stderr; the figures (PNG) and the raw numbers (JSON)
go to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from sqlalchemy import event
from sqlmodel import col, func, select

from bench_common import machine_facts
from evofuse.config.models import EvolutionSettings
from evofuse.evolution.canary import Publisher
from evofuse.evolution.evidence import SkillEvidence
from evofuse.evolution.gate import Candidate
from evofuse.evolution.report import Proposal
from evofuse.skills import Bundle, BundleFile, Library, Selector, SkillIndex, chroma_client
from evofuse.skills.spec import parse_skill_md
from evofuse.store import OutcomeRow, OutcomeSource, Status, Store
from evofuse.store.db import make_engine

RESULTS = Path(__file__).resolve().parent / "results"
POLICIES = ("evofuse", "per-user", "global mean", "random", "oracle")
NEW_USER_RUNS = 10
WINDOW = 40
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


@dataclass(frozen=True)
class Config:
    tenants: int = 4
    users: int = 100
    skills: int = 2
    versions: int = 3  # per skill at the start; skill 0 gets one more at `release_at`
    clusters: int = 2  # task clusters per skill
    runs_per_user: float = 18.0  # mean; every user runs at least NEW_USER_RUNS times
    release_at: float = 0.4  # share of the runs after which the better version is published
    new_user_after: float = 0.3  # users joining after this share of the time count as "new"
    cycle_every: int = 100  # runs between two evolution cycles (canary reviews)
    liars: float = 0.0  # share of users who rate the opposite of what happened
    spread: float = 0.12  # sd of the cluster and tenant effects on a version's success


@dataclass(frozen=True)
class Run:
    time: float
    user: int
    tenant: int
    skill: int
    cluster: int
    draw: float  # the uniform draw that decides success (shared by all policies)


@dataclass
class World:
    """The hidden truth and the schedule of runs, from one seed."""

    p: np.ndarray  # success rate [skill, version, cluster, tenant]; the last version of skill 0
    #                is the one released later (its other skills' slot is unused, -1)
    runs: list[Run]
    liar: np.ndarray  # bool per user
    joined: np.ndarray  # join time per user
    release_time: float

    def live(self, skill: int, time: float, versions: int) -> list[int]:
        if skill == 0 and time >= self.release_time:
            return list(range(versions + 1))
        return list(range(versions))


def make_world(cfg: Config, seed: int) -> World:
    rng = np.random.default_rng(seed)
    v = cfg.versions + 1
    base = rng.uniform(0.35, 0.75, size=(cfg.skills, v))
    cluster = rng.normal(0, cfg.spread, size=(cfg.skills, v, cfg.clusters))
    tenant = rng.normal(0, cfg.spread, size=(cfg.skills, v, cfg.tenants))
    p = np.clip(base[:, :, None, None] + cluster[:, :, :, None] + tenant[:, :, None, :], 0.05, 0.95)
    # The release: better than the best old version of skill 0 on every cluster and tenant.
    best_old = p[0, : cfg.versions].max(axis=0)
    p[0, cfg.versions] = np.clip(best_old + 0.12, 0.05, 0.97)
    p[1:, cfg.versions] = -1.0
    joined = np.sort(rng.uniform(0, 0.85, size=cfg.users))
    joined[: max(1, cfg.users // 10)] = 0.0  # a first cohort is there from the start
    liar = rng.random(cfg.users) < cfg.liars
    runs: list[Run] = []
    for user in range(cfg.users):
        count = NEW_USER_RUNS + int(rng.geometric(1 / max(1.0, cfg.runs_per_user - 9)))
        # A user's runs are spread over the rest of the time, at exponential gaps.
        gaps = rng.exponential(1.0, size=count)
        times = joined[user] + (1 - joined[user]) * np.cumsum(gaps) / (gaps.sum() * 1.05)
        favourite = int(rng.integers(cfg.skills))
        for t in times:
            skill = favourite if rng.random() < 0.7 else int(rng.integers(cfg.skills))
            runs.append(
                Run(
                    float(t),
                    user,
                    user % cfg.tenants,
                    skill,
                    int(rng.integers(cfg.clusters)),
                    float(rng.random()),
                )
            )
    runs.sort(key=lambda r: r.time)
    # Released after a share of the runs (not of the time: early on, few users are there yet).
    release = runs[min(len(runs) - 1, int(cfg.release_at * len(runs)))].time
    return World(p, runs, liar, joined, release)


class Policy(Protocol):
    name: str

    def choose(self, run: Run, live: list[int]) -> int: ...

    def learn(self, run: Run, version: int, rating: float) -> None: ...

    def release(self, skill: int, version: int) -> None: ...

    def cycle(self) -> None: ...


class Oracle:
    name = "oracle"

    def __init__(self, world: World) -> None:
        self.world = world

    def choose(self, run: Run, live: list[int]) -> int:
        return max(live, key=lambda v: self.world.p[run.skill, v, run.cluster, run.tenant])

    def learn(self, run: Run, version: int, rating: float) -> None:
        pass

    def release(self, skill: int, version: int) -> None:
        pass

    def cycle(self) -> None:
        pass


class RandomChoice(Oracle):
    name = "random"

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def choose(self, run: Run, live: list[int]) -> int:  # noqa: ARG002 (the protocol's)
        return int(live[int(self.rng.integers(len(live)))])


class Bandit(Oracle):
    """The Selector's decision rule on one pool of ratings: per user, or everyone's."""

    def __init__(self, name: str, seed: int, *, per_user: bool) -> None:
        self.name = name
        self.per_user = per_user
        self.rng = np.random.default_rng(seed)
        self.counts: dict[tuple[int, int, int], list[float]] = {}  # (key, skill, version) -> n, sum

    def _key(self, run: Run) -> int:
        return run.user if self.per_user else -1

    def choose(self, run: Run, live: list[int]) -> int:
        key = self._key(run)
        stats = [self.counts.get((key, run.skill, v), [0.0, 0.0]) for v in live]
        n_all = sum(s[0] for s in stats)
        mu = (1.0 + sum(s[1] for s in stats)) / (2.0 + n_all)  # pooled over versions, as shipped
        explore = self.rng.random() < 0.2
        best, best_value = live[0], -1.0
        for v, (n, total) in zip(live, stats, strict=True):
            alpha, beta = 2.0 * mu + total, 2.0 * (1 - mu) + n - total
            value = float(self.rng.beta(alpha, beta)) if explore else alpha / (alpha + beta)
            if value > best_value:
                best, best_value = v, value
        return best

    def learn(self, run: Run, version: int, rating: float) -> None:
        stat = self.counts.setdefault((self._key(run), run.skill, version), [0.0, 0.0])
        stat[0] += 1
        stat[1] += rating


SKILL_MD = """---
name: {name}
description: >-
  Simulated skill {skill} for the collective-learning benchmark, version {version}.
  NOT for: anything else.
---
# {name}

Version {version} of the instructions.
"""


class HashEmbedder:
    """A cheap, deterministic embedder: the benchmark forces the skill, so meaning is moot."""

    name = "benchmark/hash-16"
    dimension = 16

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out = []
        for text in texts:
            digest = hashlib.sha256(text.encode()).digest()
            vector = np.frombuffer(digest[:16], dtype=np.uint8).astype(float) + 1.0
            out.append((vector / np.linalg.norm(vector)).tolist())
        return out


class EvoFuse:
    """The shipped Selector over a real store; canaries through the real Publisher."""

    name = "evofuse"

    def __init__(self, cfg: Config, folder: Path, seed: int) -> None:
        self.cfg = cfg
        engine = make_engine(f"sqlite:///{folder / 'evofuse.db'}")
        # A throwaway database: no fsync per outcome (the simulation measures choices, not I/O).
        event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA synchronous=OFF"))
        store = Store(engine)
        index = SkillIndex(chroma_client(str(folder / "chroma")), HashEmbedder(), "learning")
        self.library = Library(store, index)
        self.selector = Selector(self.library, seed=seed)
        self.settings = EvolutionSettings()  # canary 10 %, 20 samples, rollback margin 0.1
        self.version_ids: dict[tuple[int, int], int] = {}
        self.cycles = 0
        self.run_ids = 0
        self.decisions: list[str] = []  # canary decisions, for the report
        for skill in range(cfg.skills):
            for v in range(cfg.versions):
                status = Status.ACTIVE if v == 0 else Status.CANDIDATE
                published = self.library.publish(_bundle(skill, v), status=status)
                self.version_ids[(skill, v)] = published.version.id

    def close(self) -> None:
        self.library.close()

    def choose(self, run: Run, live: list[int]) -> int:  # noqa: ARG002 (live from the store)
        selection = self.selector.select(
            [{"role": "user", "content": f"task of cluster {run.cluster} for skill {run.skill}"}],
            tenant=f"tenant-{run.tenant}",
            user_hash=f"user-{run.user}",
            skill=f"skill-{run.skill}",
        )
        assert selection.version is not None
        return selection.version - 1

    def learn(self, run: Run, version: int, rating: float) -> None:
        self.run_ids += 1
        with self.library.store.session() as session:
            session.add(
                OutcomeRow(
                    run_id=f"run-{self.run_ids}",
                    skill_version_id=self.version_ids[(run.skill, version)],
                    skill_name=f"skill-{run.skill}",
                    version=version + 1,
                    tenant=f"tenant-{run.tenant}",
                    user_hash=f"user-{run.user}",
                    score=rating,
                    source=OutcomeSource.FEEDBACK.value,
                )
            )

    def release(self, skill: int, version: int) -> None:
        """Publish the better version as evolution does: a candidate with a canary row."""
        name = f"skill-{skill}"
        active = next(v for v in self.library.versions(name) if v.status == Status.ACTIVE.value)
        bundle = _bundle(skill, version)
        spec, _ = parse_skill_md(bundle.skill_md, path="SKILL.md")
        evidence = SkillEvidence(
            skill_id=0,
            name=name,
            scope="global",
            tenant="",
            owner="",
            version=active.version,
            version_id=active.id,
        )
        # The canary's fallback baseline, as a cycle records it: the active version's mean.
        with self.library.store.session() as session:
            n, total = session.exec(
                select(func.count(), func.sum(OutcomeRow.score)).where(
                    col(OutcomeRow.skill_version_id) == active.id
                )
            ).one()
        evidence.weight_sum, evidence.weighted_score = float(n), float(total or 0.0)
        proposal = Proposal(
            source="evolver",
            skill=name,
            action="improve",
            status="pending",
            reason="",
            base_version=active.version,
        )
        self.cycles += 1
        Publisher(self.library, self.settings, self.cycles).publish(
            proposal, Candidate(bundle, spec), evidence
        )
        assert proposal.new_version is not None, proposal.reason
        self.version_ids[(skill, version)] = next(
            v.id for v in self.library.versions(name) if v.version == proposal.new_version
        )

    def cycle(self) -> None:
        self.cycles += 1
        for decision in Publisher(self.library, self.settings, self.cycles).review(dry_run=False):
            if decision.decision != "waiting":
                self.decisions.append(
                    f"after {self.run_ids} runs: {decision.decision} ({decision.reason})"
                )


def _bundle(skill: int, version: int) -> Bundle:
    text = SKILL_MD.format(name=f"skill-{skill}", skill=skill, version=version + 1)
    return Bundle.of([BundleFile("SKILL.md", text.encode())])


@dataclass
class Trace:
    """What one policy did in one world."""

    policy: str
    expected: list[float] = field(default_factory=list)  # true rate of what was served
    regret: list[float] = field(default_factory=list)
    served: list[tuple[int, int, float]] = field(default_factory=list)  # (skill, version, time)


def simulate(cfg: Config, seed: int, folder: Path) -> dict[str, Any]:
    """One world, every policy; returns per-policy metrics and the curves for the figures."""
    world = make_world(cfg, seed)
    evofuse = EvoFuse(cfg, folder, seed)
    policies: list[Policy] = [
        evofuse,
        Bandit("per-user", seed + 1, per_user=True),
        Bandit("global mean", seed + 2, per_user=False),
        RandomChoice(seed + 3),
        Oracle(world),
    ]
    traces = {p.name: Trace(p.name) for p in policies}
    released = False
    try:
        for n, run in enumerate(world.runs):
            if not released and run.time >= world.release_time:
                for policy in policies:
                    policy.release(0, cfg.versions)
                released = True
            if n and n % cfg.cycle_every == 0:
                for policy in policies:
                    policy.cycle()
            live = world.live(run.skill, run.time, cfg.versions)
            best = max(world.p[run.skill, v, run.cluster, run.tenant] for v in live)
            for policy in policies:
                version = policy.choose(run, live)
                rate = float(world.p[run.skill, version, run.cluster, run.tenant])
                success = run.draw < rate
                rating = float(success != bool(world.liar[run.user]))
                policy.learn(run, version, rating)
                trace = traces[policy.name]
                trace.expected.append(rate)
                trace.regret.append(float(best) - rate)
                trace.served.append((run.skill, version, run.time))
    finally:
        evofuse.close()
    metrics = {name: _metrics(cfg, world, trace) for name, trace in traces.items()}
    metrics["evofuse"]["canary"] = evofuse.decisions
    return metrics


def _metrics(cfg: Config, world: World, trace: Trace) -> dict[str, Any]:
    seen: dict[int, int] = {}
    new_user: list[float] = []
    for run, rate in zip(world.runs, trace.expected, strict=True):
        if world.joined[run.user] < cfg.new_user_after:
            continue
        count = seen.get(run.user, 0)
        if count < NEW_USER_RUNS:
            new_user.append(rate)
            seen[run.user] = count + 1
    after = [v for s, v, t in trace.served if s == 0 and t >= world.release_time]
    on_new = [1.0 if v == cfg.versions else 0.0 for v in after]
    switch = len(on_new)  # never: all the remaining runs
    for i in range(WINDOW, len(on_new) + 1):
        if sum(on_new[i - WINDOW : i]) / WINDOW >= 0.5:
            switch = i
            break
    cumulative = np.cumsum(trace.regret)
    points = np.linspace(0, len(cumulative) - 1, 50).astype(int)
    share_points = []
    for i in range(0, len(on_new), max(1, len(on_new) // 40)):
        window = on_new[max(0, i - WINDOW + 1) : i + 1]
        share_points.append(sum(window) / len(window))
    return {
        "new_user_success": float(np.mean(new_user)) if new_user else float("nan"),
        "new_users": len(seen),
        "mean_success": float(np.mean(trace.expected)),
        "regret": float(cumulative[-1]),
        "runs": len(trace.regret),
        "switch_runs": switch,
        "switched": switch < len(on_new),
        "runs_after_release": len(on_new),
        "share_new_at_end": float(np.mean(on_new[-max(1, len(on_new) // 5) :])) if on_new else 0.0,
        "regret_curve": [float(cumulative[i]) for i in points],
        "share_curve": share_points,
    }


def interval(values: Sequence[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95 % t-interval (0 for a single value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, 0.0
    t = _T95.get(len(values) - 1, 1.96 + 2.5 / (len(values) - 1))
    return mean, t * statistics.stdev(values) / math.sqrt(len(values))


def summarize(results: list[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """Per policy and metric: [mean, 95 % half-width] over the seeds."""
    keys = ("new_user_success", "mean_success", "regret", "switch_runs", "share_new_at_end")
    return {
        policy: {k: list(interval([float(r[policy][k]) for r in results])) for k in keys}
        | {"switched": [statistics.fmean(float(r[policy]["switched"]) for r in results), 0.0]}
        for policy in POLICIES
    }


def run_all(cfg: Config, seeds: Sequence[int], *, quiet: bool = False) -> dict[str, Any]:
    """Every seed with honest raters and with `cfg.liars` lying raters (0.05 if unset)."""
    liars = cfg.liars or 0.05
    out: dict[str, Any] = {"config": asdict(cfg), "seeds": list(seeds), "liar_share": liars}
    for label, share in (("honest", 0.0), ("liars", liars)):
        per_seed = []
        for seed in seeds:
            started = time.perf_counter()
            with tempfile.TemporaryDirectory() as folder:
                per_seed.append(simulate(_with(cfg, liars=share), seed, Path(folder)))
            if not quiet:
                print(
                    f"{label} seed {seed}: {per_seed[-1]['oracle']['runs']} runs in "
                    f"{time.perf_counter() - started:.0f} s",
                    file=sys.stderr,
                )
        out[label] = {"per_seed": per_seed, "summary": summarize(per_seed)}
    return out


def _with(cfg: Config, **changes: Any) -> Config:
    return Config(**{**asdict(cfg), **changes})


def _fmt(pair: Sequence[float], digits: int = 3) -> str:
    return f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def tables(out: dict[str, Any]) -> str:
    honest, liars = out["honest"]["summary"], out["liars"]["summary"]
    lines = [
        f"{len(out['seeds'])} seeds · {out['honest']['per_seed'][0]['oracle']['runs']} runs per "
        f"seed (first seed) · {out['config']['users']} users in {out['config']['tenants']} "
        "tenants · mean ± 95 % CI over seeds",
        "",
        "| policy | new user, first 10 runs | all runs | regret (sum) | runs to switch | "
        "switched (seeds) | on new version at end |",
        "|---|---|---|---|---|---|---|",
    ]
    for policy in POLICIES:
        s = honest[policy]
        lines.append(
            f"| {policy} | {_fmt(s['new_user_success'])} | {_fmt(s['mean_success'])} | "
            f"{_fmt(s['regret'], 1)} | {_fmt(s['switch_runs'], 0)} | "
            f"{s['switched'][0]:.0%} | {_fmt(s['share_new_at_end'], 2)} |"
        )
    lines += [
        "",
        "Paired over the same worlds (honest raters), evofuse minus each other policy:",
        "",
        "| versus | new user, first 10 runs | regret (sum) | runs to switch |",
        "|---|---|---|---|",
    ]
    per_seed = out["honest"]["per_seed"]
    for other in POLICIES[1:]:
        cells = [
            interval([r["evofuse"][k] - r[other][k] for r in per_seed])
            for k in ("new_user_success", "regret", "switch_runs")
        ]
        lines.append(
            f"| {other} | {cells[0][0]:+.3f} ± {cells[0][1]:.3f} | "
            f"{cells[1][0]:+.1f} ± {cells[1][1]:.1f} | {cells[2][0]:+.0f} ± {cells[2][1]:.0f} |"
        )
    lines += [
        "",
        f"With {out['liar_share']:.0%} lying raters (in brackets: the change from honest raters, "
        "same seeds):",
        "",
        "| policy | new user, first 10 runs | regret (sum) | runs to switch |",
        "|---|---|---|---|",
    ]
    for policy in POLICIES:
        deltas = {
            k: interval(
                [
                    liar[policy][k] - hon[policy][k]
                    for liar, hon in zip(
                        out["liars"]["per_seed"], out["honest"]["per_seed"], strict=True
                    )
                ]
            )
            for k in ("new_user_success", "regret", "switch_runs")
        }
        s = liars[policy]
        lines.append(
            f"| {policy} | {_fmt(s['new_user_success'])} ({deltas['new_user_success'][0]:+.3f}) "
            f"| {_fmt(s['regret'], 1)} ({deltas['regret'][0]:+.1f}) | "
            f"{_fmt(s['switch_runs'], 0)} ({deltas['switch_runs'][0]:+.0f}) |"
        )
    return "\n".join(lines)


def plot(out: dict[str, Any], folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    per_seed = out["honest"]["per_seed"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    summary = out["honest"]["summary"]
    means = [summary[p]["new_user_success"][0] for p in POLICIES]
    errors = [summary[p]["new_user_success"][1] for p in POLICIES]
    ax.bar(POLICIES, means, yerr=errors, capsize=4, color="#4c72b0")
    ax.set_ylabel("expected success")
    ax.set_title("A new user's first 10 runs (mean, 95 % CI over seeds)")
    ax.set_ylim(0, 1)
    fig.tight_layout()
    paths.append(folder / "learning_new_user.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for policy in POLICIES:
        curves = np.array([r[policy]["regret_curve"] for r in per_seed])
        ax.plot(np.linspace(0, 1, curves.shape[1]), curves.mean(axis=0), label=policy)
    ax.axvline(out["config"]["release_at"], color="grey", linestyle=":", label="release")
    ax.set_xlabel("share of the runs")
    ax.set_ylabel("cumulative regret")
    ax.set_title("Regret against the oracle (mean over seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(folder / "learning_regret.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for policy in POLICIES:
        curves = [r[policy]["share_curve"] for r in per_seed]
        length = min(len(c) for c in curves)
        mean = np.mean([c[:length] for c in curves], axis=0)
        ax.plot(np.linspace(0, 1, length), mean, label=policy)
    ax.set_xlabel("share of skill-0 runs after the release")
    ax.set_ylabel(f"served the new version (rolling {WINDOW})")
    ax.set_title("How fast traffic moves to the better version")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(folder / "learning_switch.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--users", type=int, default=Config.users)
    parser.add_argument("--tenants", type=int, default=Config.tenants)
    parser.add_argument("--liars", type=float, default=0.05)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--from-json", type=Path, help="print the tables and figures of a saved run again"
    )
    args = parser.parse_args()
    if args.from_json:
        out = json.loads(args.from_json.read_text())
        out.setdefault("liar_share", out["config"]["liars"])
        for label in ("honest", "liars"):
            out[label]["summary"] = summarize(out[label]["per_seed"])
        plot(out, args.out)
        print(tables(out))
        return
    cfg = Config(users=args.users, tenants=args.tenants, liars=args.liars)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    started = time.perf_counter()
    out = run_all(cfg, list(range(1, args.seeds + 1)))
    out["facts"] = {
        **machine_facts(),
        "loadavg_before": load_before,
        "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "learning.json").write_text(json.dumps(out, indent=1))
    paths = plot(out, args.out)
    print(tables(out))
    canaries = [r["evofuse"]["canary"] for r in out["honest"]["per_seed"]]
    print("\nevofuse canary decisions per seed (honest raters): " + json.dumps(canaries))
    facts = out["facts"]
    print(
        f"\nmachine: {facts['nproc']} cores, {facts['cpu']}; load average before "
        f"{' '.join(facts['loadavg_before'])}, after {' '.join(facts['loadavg_after'])}; "
        f"{facts['seconds']} s"
    )
    print("figures: " + ", ".join(str(p.relative_to(Path.cwd())) for p in paths))


if __name__ == "__main__":
    main()
