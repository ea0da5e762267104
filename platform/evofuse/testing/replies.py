"""What the scripted models answer: shared by the HTTP upstream and the in-process gateway.

`judge_reply` and `candidate_labels` also serve users' own fakes: a judge that reads the
candidate labels (`[A]`, `[B]`, …) from the prompt it was sent and returns a valid verdict.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from typing import Any, Literal

from evofuse.testing.script import ModelBehavior

# A candidate block in the judge's input starts with a line holding only its label: `[A]`.
_LABEL_LINE = re.compile(r"^\[([A-Z])\][ \t]*$", re.MULTILINE)


def answer_text(behavior: ModelBehavior, body: dict[str, Any], model: str) -> str:
    """The text an answering behavior (answer, empty, judge, truncated) replies with."""
    if behavior.kind == "empty":
        return ""
    if behavior.kind == "judge":
        return verdict_for(behavior, body)
    if behavior.respond is not None:
        return behavior.respond(body)
    return behavior.content if behavior.content is not None else f"Answer from {model}."


def candidate_labels(body: dict[str, Any]) -> list[str]:
    """The candidate labels ([A], [B], …) a judge request shows, in order."""
    return list(candidate_blocks(_texts(body, "user")))


def judge_reply(
    winner: Literal["first", "last"] | str = "first",
    answer: str | None = None,
    rationale: str = "clearest",
) -> Callable[[dict[str, Any]], str]:
    """A judge (`ModelBehavior(respond=…)`) that picks a label and scores every candidate.

    `winner` is "first", "last" or a label; `answer` adds the merged answer to the verdict.
    """

    def reply(body: dict[str, Any]) -> str:
        labels = candidate_labels(body) or ["A"]
        pick = labels[0] if winner == "first" else labels[-1] if winner == "last" else winner
        out: dict[str, Any] = {
            "scores": [{"candidate": lab, "score": 9 if lab == pick else 5} for lab in labels],
            "winner": pick,
            "rationale": rationale,
        }
        if answer is not None:
            out["answer"] = answer
        return json.dumps(out)

    return reply


def verdict_for(behavior: ModelBehavior, body: dict[str, Any]) -> str:
    """The judge's reply: a verdict over the labelled candidates found in the prompt."""
    if behavior.invalid_json:
        return "All of the candidates look reasonable to me; I cannot pick one."
    blocks = candidate_blocks(_texts(body, "user"))
    labels = list(blocks) or ["A"]
    winner = behavior.winner
    if winner is None and behavior.prefer is not None:
        winner = next((label for label, text in blocks.items() if behavior.prefer in text), None)
    winner = winner or labels[0]
    verdict: dict[str, Any] = {
        "scores": [{"candidate": label, "score": 9 if label == winner else 6} for label in labels],
        "winner": winner,
        "rationale": f"[{winner}] is the most complete and correct answer.",
    }
    if behavior.answer if behavior.answer is not None else _wants_answer(body):
        verdict["answer"] = behavior.answer_text or f"Fused: {blocks.get(winner, '')}".strip()
    return json.dumps(verdict, ensure_ascii=False)


def candidate_blocks(text: str) -> dict[str, str]:
    matches = list(_LABEL_LINE.finditer(text))
    blocks: dict[str, str] = {}
    for match, after in itertools.zip_longest(matches, matches[1:]):
        end = after.start() if after is not None else len(text)
        blocks.setdefault(match[1], text[match.end() : end].strip())
    return blocks


def _wants_answer(body: dict[str, Any]) -> bool:
    fmt = body.get("response_format")
    if isinstance(fmt, dict):
        schema = (fmt.get("json_schema") or {}).get("schema") or fmt.get("schema")
        if isinstance(schema, dict) and isinstance(schema.get("properties"), dict):
            return "answer" in schema["properties"]
    return '"answer"' in _texts(body, "system")


def _texts(body: dict[str, Any], role: str) -> str:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return ""
    return "\n".join(
        m["content"]
        for m in messages
        if isinstance(m, dict) and m.get("role") == role and isinstance(m.get("content"), str)
    )


def usage(body: dict[str, Any], text: str) -> dict[str, int]:
    """Token counts that are deterministic and roughly right (4 characters a token)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        messages = []
    prompt = sum(4 + len(str(m.get("content") or "")) // 4 for m in messages if isinstance(m, dict))
    completion = -(-len(text) // 4)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
