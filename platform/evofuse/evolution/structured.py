"""What evolution asks the models for: JSON schemas, and user text fenced off as data.

Every decision evolution takes from an LLM (an Evolver proposal, an extracted skill, a replay
verdict) is requested with a JSON schema through `response_format`. llama.cpp compiles the
schema to a grammar, so even a 135M model can only write a well-formed answer; hosted providers
enforce it or at least see it. The schemas are built per prompt: evidence ids are an `enum` of
the ids in the prompt, and a patch's `find` is an `enum` of the skill's own unique lines, so an
edit always applies. Strings carry no `maxLength`: llama-cpp-python's converter expands a bound
of n characters into n nested optional rules, which made a 135M model's sampling ~20x slower
(165 s instead of 7 s for one proposal); the call's `max_tokens` bounds the answer instead.

User-supplied text (tasks, comments, answers) only ever enters a prompt inside a data block,
and the prompts say that a data block is data, never instructions. A block's fence carries a
code derived from its content, so text inside cannot close the block early; inside the evidence
block, each user-supplied field is a JSON string, so it cannot start a line of its own either.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from evofuse.config.models import JudgeOutput

MAX_EDITS = 3  # per proposal under the schema: small patches (the parser accepts up to 12)
MAX_FIND_CHOICES = 300  # lines offered as `find`; the rest of a huge skill stays as it is
_DATA_OPEN = "<<<DATA"
_DATA_CLOSE = "<<<END DATA"


def response_format(
    output: JudgeOutput, name: str, schema: dict[str, Any]
) -> dict[str, Any] | None:
    """`response_format` for a schema, in the dialect the profile's `judge_output` names.

    `json_schema` is the OpenAI shape (LiteLLM translates it for other providers),
    `json_object` with a `schema` key is llama.cpp's grammar mode, `prompt` sends nothing.
    """
    if output is JudgeOutput.JSON_SCHEMA:
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
    if output is JudgeOutput.JSON_OBJECT:
        return {"type": "json_object", "schema": schema}
    return None


def find_choices(skill_md: str) -> list[str]:
    """Lines of a SKILL.md an edit may replace: unique in the whole text, never the name.

    Body lines and the description's lines qualify; other frontmatter keys (name, license,
    metadata, allowed-tools) are not offered, since editing them is never a skill improvement.
    """
    lines = skill_md.splitlines()
    end = None
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    editable: list[str] = []
    if end is not None:
        in_description = False
        for line in lines[1:end]:
            if line and not line[0].isspace():  # a top-level key starts
                in_description = line.startswith("description:")
            if in_description:
                editable.append(line)
    editable += lines[end + 1 :] if end is not None else lines
    seen: list[str] = []
    for line in editable:
        # Lines with a quote or a backslash are left out: llama-cpp-python (0.3.x) mis-escapes
        # them in the grammar it builds from an enum; its server then aborts or emits bad JSON.
        if '"' in line or "\\" in line:
            continue
        if line.strip() and line not in seen and skill_md.count(line) == 1:
            seen.append(line)
    return seen[:MAX_FIND_CHOICES]


def evolver_schema(
    evidence_ids: list[str], find: list[str], *, min_cited: int = 1
) -> dict[str, Any]:
    """An Evolver proposal. `min_cited`: a proposal citing fewer ids cannot pass the gate."""
    edit = {
        "type": "object",
        "properties": {
            "find": {"type": "string", "enum": find} if find else {"type": "string"},
            "replace": {"type": "string"},
        },
        "required": ["find", "replace"],
        "additionalProperties": False,
    }
    cited: dict[str, Any] = {"type": "array", "items": _ids(evidence_ids), "maxItems": 12}
    if evidence_ids:
        cited["minItems"] = min(min_cited, len(evidence_ids))
    return {
        "type": "object",
        "properties": {
            "action": {
                "type": "string",
                "enum": ["improve", "redescribe", "create", "retire", "skip"],
            },
            "evidence": cited,
            # At least one edit even for skip/retire/create (where edits are ignored): a grammar
            # that allows an empty list lets a small model "improve" with no edit at all.
            "edits": {"type": "array", "items": edit, "minItems": 1, "maxItems": MAX_EDITS},
            # Free text last: grammars follow this order, so an answer cut off by max_tokens
            # loses the end of its rationale, not its decision (see `parse_json_object`).
            "rationale": {"type": "string"},
            "skill_md": {"type": "string"},
        },
        "required": ["action", "evidence", "edits", "rationale"],
        "additionalProperties": False,
    }


def extractor_schema(task_ids: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": ["create", "skip"]},
            "evidence": {"type": "array", "items": _ids(task_ids), "maxItems": 12},
            "rationale": {"type": "string"},
            "skill_md": {"type": "string"},
        },
        "required": ["action", "evidence", "rationale"],
        "additionalProperties": False,
    }


def replay_judge_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "winner": {"type": "string", "enum": ["1", "2", "tie"]},
            "reason": {"type": "string"},
        },
        "required": ["winner", "reason"],
        "additionalProperties": False,
    }


def _ids(ids: list[str]) -> dict[str, Any]:
    return {"type": "string", "enum": ids} if ids else {"type": "string"}


def quoted(text: str) -> str:
    """One user-supplied field on one line: a JSON string (newlines and quotes escaped)."""
    return json.dumps(text, ensure_ascii=False)


def data_block(name: str, text: str) -> str:
    """`text` fenced as data: the fence's code is a hash of the text, so the text cannot hold it.

    Lines in the text that look like a fence are defused as well, for models that would be
    fooled by a near-miss.
    """
    safe = "\n".join(
        "\\" + line if line.lstrip().startswith(("<<<DATA", "<<<END DATA")) else line
        for line in text.splitlines()
    )
    code = hashlib.sha256(safe.encode("utf-8")).hexdigest()[:10]
    return f"{_DATA_OPEN} {name} {code}>>>\n{safe}\n{_DATA_CLOSE} {name} {code}>>>"
