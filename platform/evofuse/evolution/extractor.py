"""The Skill Extractor: new atomic skills from tasks that no skill served, and from successes.

Tasks of the no-skill pool and of high-scoring runs are embedded (the library's own embedder)
and clustered greedily: a task joins the first cluster whose centroid is at least
`cluster_similarity` away in cosine terms, otherwise it starts one. (A dozen lines of numpy; the
pool is a few hundred tasks, and no clustering library is a dependency.) A cluster that comes
close to an existing skill (`duplicate_similarity`) is not a new skill: its tasks become
evidence for that skill ("missed": the skill could have served them). Other clusters with enough
tasks from enough distinct users are shown, scrubbed, to the LLM, which may write a new SKILL.md
with a "NOT for:" clause. The proposal is checked against the library once more, then it goes
through the same gate as every other proposal, replayed against "no skill" on held-out tasks
similar to the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from evofuse.config.models import EvolutionSettings
from evofuse.evolution.evidence import EvidenceBuilder, Item, SkillEvidence, Task
from evofuse.evolution.evolver import Draft
from evofuse.evolution.prompts import load_prompt
from evofuse.evolution.report import ClusterSummary, Proposal
from evofuse.evolution.structured import data_block, extractor_schema, quoted
from evofuse.evolution.thinker import Thinker, UnparseableAnswer
from evofuse.skills.spec import parse_skill_md

if TYPE_CHECKING:
    from evofuse.skills.library import Library

_MIN_CLUSTER = 3
_SAMPLE = 12  # tasks shown to the LLM per cluster
_MISSED_PER_SKILL = 5
_EMBED_CHARS = 1000

Matrix = np.ndarray


@dataclass
class Cluster:
    tasks: list[Task]
    vectors: list[Matrix]
    centroid: Matrix
    users: set[str] = field(default_factory=set)
    matched: tuple[str, float] | None = None  # (skill name, similarity) of a near-duplicate


class Extractor:
    def __init__(
        self, library: Library, settings: EvolutionSettings, builder: EvidenceBuilder
    ) -> None:
        self.library, self.settings, self.builder = library, settings, builder
        self._skills: dict[str, SkillEvidence] = {}

    def _embed(self, texts: list[str]) -> Matrix:
        vectors = np.asarray(self.library.index.embed([t[:_EMBED_CHARS] for t in texts]))
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.where(norms == 0, 1, norms))

    def cluster(self, pool: list[Task]) -> list[Cluster]:
        if not pool:
            return []
        vectors = self._embed([t.raw for t in pool])
        clusters: list[Cluster] = []
        for task, vector in zip(pool, vectors, strict=True):
            best, score = None, -1.0
            for c in clusters:
                similarity = float(c.centroid @ vector)
                if similarity > score:
                    best, score = c, similarity
            if best is None or score < self.settings.cluster_similarity:
                best = Cluster([], [], vector)
                clusters.append(best)
            best.tasks.append(task)
            best.vectors.append(vector)
            best.users.add(task.supporter)
            mean = np.mean(best.vectors, axis=0)
            best.centroid = mean / (np.linalg.norm(mean) or 1.0)
        return clusters

    def match_library(self, clusters: list[Cluster], skills: list[SkillEvidence]) -> None:
        """Near-duplicates of existing skills become those skills' evidence ("missed" tasks)."""
        self._skills = by_name = {s.name: s for s in skills}
        for cluster in clusters:
            hits = self.library.index.query_vector(
                cluster.centroid.tolist(), tenant="", owner=None, k=1
            )
            if hits and hits[0].similarity >= self.settings.duplicate_similarity:
                cluster.matched = (hits[0].name, hits[0].similarity)
                skill = by_name.get(hits[0].name)
                if skill is not None:
                    self._as_evidence(cluster, skill)

    def _as_evidence(self, cluster: Cluster, skill: SkillEvidence) -> None:
        added = sum(1 for i in skill.items if i.kind == "missed")
        for task in cluster.tasks:
            if added >= _MISSED_PER_SKILL or task.run_id in skill.runs:
                continue
            item = Item(task.run_id, task.supporter, 1.0, self.builder.now, kind="missed")
            item.task = self.builder.scrub(task.raw)
            item.id = f"e{len(skill.items) + 1}"
            skill.runs[task.run_id] = item
            skill.items.append(item)
            added += 1

    def qualifies(self, cluster: Cluster) -> bool:
        need = self.settings.min_distinct_users
        return (
            cluster.matched is None
            and len(cluster.tasks) >= max(_MIN_CLUSTER, need)
            and len(cluster.users) >= need
        )

    def summary(self, cluster: Cluster, outcome: str) -> ClusterSummary:
        for task in cluster.tasks[:3]:
            task.text = task.text or self.builder.scrub(task.raw, 200)
        return ClusterSummary(
            tasks=len(cluster.tasks),
            users=len(cluster.users),
            sample=[t.text for t in cluster.tasks[:3]],
            outcome=outcome,
        )

    async def propose(self, thinker: Thinker, cluster: Cluster, held_out: list[Task]) -> Draft:
        sample = cluster.tasks[:_SAMPLE]
        for task in sample:
            task.text = task.text or self.builder.scrub(task.raw)
        ids = {f"t{i + 1}": task for i, task in enumerate(sample)}
        nearby = self.library.index.query_vector(
            cluster.centroid.tolist(), tenant="", owner=None, k=3
        )
        template = load_prompt("extractor")
        prompt = template.render(
            nearby="\n".join(f"- {h.name} (similarity {h.similarity:.2f})" for h in nearby)
            or "(none)",
            summary=f"{len(cluster.tasks)} tasks from {len(cluster.users)} users",
            tasks=data_block("tasks", "\n".join(f"[{i}] {quoted(t.text)}" for i, t in ids.items())),
        )
        proposal = Proposal(
            source="extractor", skill="(new)", action="skip", status="skipped", reason=""
        )
        draft = Draft(proposal, None, None, None)
        try:
            answer, proposal.cost_usd = await thinker.decide(
                prompt,
                what="extracting a skill",
                prompt_id=template.id,
                schema=extractor_schema(list(ids)),
                schema_name="extracted_skill",
            )
        except UnparseableAnswer as exc:
            proposal.cost_usd = exc.cost
            proposal.status = "refused"
            proposal.reason = f"unparseable proposal: {self.builder.scrubber.scrub(str(exc))}"
            return draft
        proposal.rationale = self.builder.scrubber.scrub(str(answer.get("rationale", "")))[:2000]
        cited = answer.get("evidence")
        proposal.evidence = [str(e) for e in cited][:50] if isinstance(cited, list) else []
        draft.support = frozenset(ids[e].supporter for e in proposal.evidence if e in ids)
        draft.backing = tuple(
            (ids[e].run_id, ids[e].supporter) for e in proposal.evidence if e in ids
        )
        proposal.supporters = len(draft.support)
        skill_md = answer.get("skill_md")
        if answer.get("action") != "create" or not isinstance(skill_md, str):
            proposal.reason = "the Extractor found no reusable skill in this cluster"
            return draft
        proposal.action = "create"
        spec, _ = parse_skill_md(skill_md.encode(), path="proposal")
        if spec is not None:
            proposal.skill = spec.name
            hits = self.library.index.query_vector(
                self._embed(spec.search_texts()).mean(axis=0).tolist(),
                tenant="",
                owner=None,
                k=1,
            )
            if hits and hits[0].similarity >= self.settings.duplicate_similarity:
                proposal.status = "duplicate"
                proposal.reason = (
                    f"near-duplicate of {hits[0].name} ({hits[0].similarity:.2f}): counted as "
                    "evidence for it instead"
                )
                cluster.matched = (hits[0].name, hits[0].similarity)
                if hits[0].name in self._skills:
                    self._as_evidence(cluster, self._skills[hits[0].name])
                return draft
        draft.candidate_md, draft.added = skill_md, skill_md
        draft.replay_tasks = tuple(self._similar(cluster, held_out))
        proposal.status, proposal.reason = "pending", "waiting for the gate"
        return draft

    def _similar(self, cluster: Cluster, held_out: list[Task]) -> list[str]:
        """Held-out tasks like the cluster's, most similar first, scrubbed."""
        if not held_out:
            return []
        vectors = self._embed([t.raw for t in held_out])
        scores = vectors @ cluster.centroid
        order = np.argsort(-scores)
        picked = []
        for i in order[: self.settings.replay_tasks]:
            if float(scores[i]) < self.settings.cluster_similarity:
                break
            task = held_out[int(i)]
            task.text = task.text or self.builder.scrub(task.raw, 2000)
            picked.append(task.text)
        return picked
