"""The judge's side of a fusion: anonymized input, structured verdicts, and the fallback rule."""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jiter
from pydantic import BaseModel, Field, ValidationError

from evofuse.config import FusionMode
from evofuse.config.models import JudgeOutput
from evofuse.fusion.prompts import Prompt, load_prompt
from evofuse.fusion.types import CandidateResult, CandidateScore
from evofuse.llm import Message

# Documented fallback when no judge could decide: the answer that agrees most with the others
# (mean word-set Jaccard similarity), ties broken by the faster answer. Agreement is a cheap,
# judge-free proxy for correctness used by self-consistency methods.
FALLBACK_RULE = "consensus: the answer most similar to the others (word Jaccard), then fastest"


class _Score(BaseModel):
    candidate: str
    score: float = Field(ge=0, le=10)


class Verdict(BaseModel):
    """The judge's JSON reply."""

    scores: list[_Score] = Field(default_factory=list)
    winner: str
    rationale: str = ""
    answer: str | None = None


@dataclass(frozen=True)
class Ballot:
    """Candidates as the judge sees them: shuffled with a recorded seed, labelled A, B, C, …"""

    seed: int
    labelled: list[tuple[str, CandidateResult]]

    @classmethod
    def shuffle(cls, candidates: Sequence[CandidateResult], seed: int) -> Ballot:
        order = list(candidates)
        random.Random(seed).shuffle(order)
        return cls(seed, list(zip(string.ascii_uppercase, order, strict=False)))

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.labelled]

    @property
    def order(self) -> list[str]:
        return [c.model for _, c in self.labelled]

    def model_of(self, label: str) -> str:
        for lab, cand in self.labelled:
            if lab == label.strip().upper():
                return cand.model
        raise KeyError(label)


def judge_prompt(mode: FusionMode) -> Prompt:
    return load_prompt("judge_best_of" if mode is FusionMode.BEST_OF else "judge_merge")


def judge_input_prompt() -> Prompt:
    """The template that puts the conversation and the anonymized candidates before the judge."""
    return load_prompt("judge_input")


def judge_messages(
    mode: FusionMode, conversation: Sequence[Message], ballot: Ballot
) -> list[Message]:
    blocks = [f"[{label}]\n{cand.content}" for label, cand in ballot.labelled]
    user = judge_input_prompt().render(
        conversation=render_conversation(conversation), candidates="\n\n".join(blocks)
    )
    return [
        {"role": "system", "content": judge_prompt(mode).text},
        {"role": "user", "content": user},
    ]


def verdict_schema(mode: FusionMode, labels: Sequence[str]) -> dict[str, Any]:
    """JSON schema of the reply; providers that support structured output enforce it."""
    # Key order matters: grammar-constrained decoders (llama.cpp) write keys in schema order,
    # and a small judge that reaches "rationale" before "answer" pours its synthesis into the
    # rationale and leaves a bare letter as the answer. So the answer comes right after the winner.
    properties: dict[str, Any] = {
        "scores": {
            "type": "array",
            "minItems": len(labels),
            "maxItems": len(labels),
            "items": {
                "type": "object",
                "properties": {
                    "candidate": {"type": "string", "enum": list(labels)},
                    "score": {"type": "number", "minimum": 0, "maximum": 10},
                },
                "required": ["candidate", "score"],
            },
        },
        "winner": {"type": "string", "enum": list(labels)},
    }
    if mode is not FusionMode.BEST_OF:
        properties["answer"] = {"type": "string"}
    properties["rationale"] = {"type": "string"}
    return {"type": "object", "properties": properties, "required": list(properties)}


def response_format(
    output: JudgeOutput, mode: FusionMode, labels: Sequence[str]
) -> dict[str, Any] | None:
    schema = verdict_schema(mode, labels)
    if output is JudgeOutput.JSON_SCHEMA:
        return {"type": "json_schema", "json_schema": {"name": "verdict", "schema": schema}}
    if output is JudgeOutput.JSON_OBJECT:
        return {"type": "json_object", "schema": schema}
    return None


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


def parse_verdict(text: str, mode: FusionMode, ballot: Ballot) -> Verdict:
    """Parse and check the judge's reply; raise `ValueError` saying what is wrong."""
    body = _FENCE.sub("", text.strip())
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        raise ValueError("the judge's reply holds no JSON object")
    try:
        verdict = Verdict.model_validate_json(body[start : end + 1])
    except ValidationError as exc:
        raise ValueError(f"the judge's JSON does not match the verdict shape: {exc}") from exc
    if verdict.winner.strip().upper() not in ballot.labels:
        raise ValueError(f"the judge named winner {verdict.winner!r}, not one of {ballot.labels}")
    if mode is not FusionMode.BEST_OF:
        answer = (verdict.answer or "").strip()
        if not answer:
            raise ValueError("the judge's reply has no final answer")
        if answer.strip("[]().: ").upper() in ballot.labels:
            raise ValueError(f"the judge's answer is only a candidate label ({answer!r})")
    return verdict


def scores_of(verdict: Verdict, ballot: Ballot) -> list[CandidateScore]:
    out = []
    for score in verdict.scores:
        try:
            model = ballot.model_of(score.candidate)
        except KeyError:
            continue  # a score for a label that does not exist is ignored, not fatal
        out.append(CandidateScore(model=model, label=score.candidate.upper(), score=score.score))
    return out


class AnswerStreamer:
    """Pulls the `answer` field out of a judge's JSON while it is still being written."""

    def __init__(self) -> None:
        self._buffer = ""
        self.emitted = ""

    def feed(self, delta: str) -> str:
        """Add raw judge output; return the new part of the answer (possibly empty)."""
        self._buffer += delta
        start = self._buffer.find("{")
        if start < 0:
            return ""
        try:
            partial = jiter.from_json(
                self._buffer[start:].encode(), partial_mode="trailing-strings"
            )
        except ValueError:
            return ""  # not parseable yet (e.g. mid-escape) or not JSON: wait for more
        answer = partial.get("answer") if isinstance(partial, dict) else None
        if not isinstance(answer, str) or not answer.startswith(self.emitted):
            return ""
        new = answer[len(self.emitted) :]
        self.emitted = answer
        return new


def consensus_pick(candidates: Sequence[CandidateResult]) -> CandidateResult:
    """The fallback rule (see FALLBACK_RULE)."""
    words = [set(re.findall(r"\w+", (c.content or "").lower())) for c in candidates]

    def agreement(i: int) -> float:
        others = [j for j in range(len(candidates)) if j != i]
        if not others:
            return 0.0
        sims = [
            len(words[i] & words[j]) / len(words[i] | words[j]) if words[i] | words[j] else 0.0
            for j in others
        ]
        return sum(sims) / len(sims)

    best = max(range(len(candidates)), key=lambda i: (agreement(i), -candidates[i].latency_ms))
    return candidates[best]


def render_conversation(messages: Sequence[Message]) -> str:
    lines = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, str):
            content = json.dumps(content, ensure_ascii=False)
        lines.append(f"{message.get('role', 'user').upper()}: {content}")
    return "\n\n".join(lines)
