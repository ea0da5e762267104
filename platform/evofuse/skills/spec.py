"""SKILL.md: parse and validate the Agent Skills format plus EvoFuse's own metadata keys.

A SKILL.md is YAML frontmatter between `---` lines, then Markdown instructions. The Agent Skills
specification defines `name`, `description`, `license`, `compatibility`, `metadata` (a map of
strings) and `allowed-tools`. EvoFuse keeps its own settings inside `metadata`, as strings, so
that its skills stay valid for every other Agent Skills client:

    metadata:
      evofuse-mode: merge            # preferred fusion mode: best-of | merge | debate | single
      evofuse-examples: |            # optional: requests this skill is for, one per line
        Review this pull request before I merge it
      evofuse-steps: |               # optional ordered phases: "N. name [mode]: instruction"
        1. find-defects [debate]: List every defect in the change ...
        2. write-review [merge]: Turn the confirmed defects into review comments ...

Problems come in two severities. An *error* makes the skill unusable (no frontmatter, a bad
name, unreadable steps): it is not imported. A *warning* is a departure from the specification
that EvoFuse can live with (a description over 1,024 characters, a field the specification does
not define): the skill imports unchanged and the warning is reported and stored with the version.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from evofuse.config.models import FusionMode

SKILL_FILE = "SKILL.md"
NAME_MAX = 64
DESCRIPTION_MAX = 1024
COMPATIBILITY_MAX = 500
SPEC_FIELDS = ("name", "description", "license", "compatibility", "metadata", "allowed-tools")
MODE_KEY = "evofuse-mode"
STEPS_KEY = "evofuse-steps"
EXAMPLES_KEY = "evofuse-examples"
MAX_SEARCH_TEXTS = 32  # bounds the index size per skill however long the examples list is
NOT_FOR = re.compile(r"\bNOT for:", re.IGNORECASE)

_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_STEP = re.compile(r"^(\d+)\.\s+(\S+?)\s*(?:\[([^\]]*)\])?\s*:\s*(.*)$")
_FENCE = re.compile(r"^---[ \t]*\r?$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Issue:
    """One problem in one file: where, which field, what is wrong (and how to fix it)."""

    path: str
    field: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        return f"{self.path}: {self.field}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {
            "path": self.path,
            "field": self.field,
            "message": self.message,
            "severity": self.severity.value,
        }


class Step(BaseModel):
    """One phase of a skill, run as one fusion step."""

    model_config = ConfigDict(frozen=True)

    name: str
    instruction: str
    mode: FusionMode | None = None


class SkillSpec(BaseModel):
    """What EvoFuse reads from a SKILL.md; the file's bytes are kept separately, unchanged."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    body: str
    license: str | None = None
    compatibility: str | None = None
    allowed_tools: str | None = None
    metadata: dict[str, Any] = {}
    mode: FusionMode | None = None
    steps: tuple[Step, ...] = ()
    examples: tuple[str, ...] = ()

    def effective_steps(self) -> tuple[Step, ...]:
        """The explicit steps, or one step carrying the whole body (a plain Agent Skill)."""
        if self.steps:
            return self.steps
        return (Step(name=self.name, instruction=self.body.strip(), mode=self.mode),)

    def search_texts(self) -> list[str]:
        return search_texts(self.description, self.examples)


def search_texts(description: str, examples: tuple[str, ...] | list[str] = ()) -> list[str]:
    """The texts the index embeds for a skill; a task's match is its best-matching text.

    Each sentence of the description and each example request is embedded on its own: one
    short text per intent matches a short request far better than one long paragraph (hit@1
    0.70 -> 0.94 on the labelled seed tasks). The "NOT for" clause is left out: it names
    exactly the tasks the skill must not attract.
    """
    purpose = NOT_FOR.split(description, maxsplit=1)[0].strip() or description.strip()
    sentences = [s.strip() for s in _SENTENCE_END.split(purpose) if s.strip()]
    texts = list(dict.fromkeys([*sentences, *examples]))  # dedupe, keep order
    return texts[:MAX_SEARCH_TEXTS]


def parse_skill_md(
    data: bytes, *, path: str, folder: str | None = None
) -> tuple[SkillSpec | None, list[Issue]]:
    """Parse SKILL.md bytes; returns the spec (None when there is an error) and every issue."""
    issues: list[Issue] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, [Issue(path, "file", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
    split = _split_frontmatter(text)
    if isinstance(split, str):
        return None, [Issue(path, "frontmatter", split)]
    raw_yaml, body = split
    try:
        fm = yaml.safe_load(raw_yaml)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (frontmatter line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [Issue(path, "frontmatter", f"invalid YAML{where}: {problem}")]
    if not isinstance(fm, dict):
        return None, [Issue(path, "frontmatter", "must be a YAML mapping of fields")]
    name = _check_name(fm.get("name"), folder, path, issues)
    description = _check_text(fm, "description", DESCRIPTION_MAX, path, issues, required=True)
    compatibility = _check_text(fm, "compatibility", COMPATIBILITY_MAX, path, issues)
    license_ = _check_text(fm, "license", None, path, issues)
    allowed_tools = _check_text(fm, "allowed-tools", None, path, issues)
    for key in fm:
        if key not in SPEC_FIELDS:
            issues.append(_warn(path, str(key), "not an Agent Skills field; kept as-is, unused"))
    metadata = _check_metadata(fm.get("metadata"), path, issues)
    mode = _parse_mode(metadata.get(MODE_KEY), f"metadata.{MODE_KEY}", path, issues)
    steps = _parse_steps(metadata.get(STEPS_KEY), path, issues)
    examples = _parse_examples(metadata.get(EXAMPLES_KEY))
    if not body.strip():
        issues.append(_warn(path, "body", "no instructions after the frontmatter"))
    if name is None or description is None or any(i.severity is Severity.ERROR for i in issues):
        return None, issues
    spec = SkillSpec(
        name=name,
        description=description,
        body=body,
        license=license_,
        compatibility=compatibility,
        allowed_tools=allowed_tools,
        metadata=metadata,
        mode=mode,
        steps=tuple(steps),
        examples=examples,
    )
    return spec, issues


def format_steps(steps: tuple[Step, ...] | list[Step]) -> str:
    """The `evofuse-steps` string for steps (parsing's inverse), for tools that write skills."""
    lines = []
    for number, step in enumerate(steps, start=1):
        mode = f" [{step.mode.value}]" if step.mode else ""
        first, *rest = step.instruction.strip().splitlines() or [""]
        lines.append(f"{number}. {step.name}{mode}: {first}")
        lines.extend(f"   {line}" if line.strip() else "" for line in rest)
    return "\n".join(lines) + "\n"


def _split_frontmatter(text: str) -> tuple[str, str] | str:
    lines = text.splitlines(keepends=True)
    if not lines or not _FENCE.match(lines[0].rstrip("\n")):
        return "missing: SKILL.md must start with a '---' line, then YAML fields, then '---'"
    for i in range(1, len(lines)):
        if _FENCE.match(lines[i].rstrip("\n")):
            return "".join(lines[1:i]), "".join(lines[i + 1 :])
    return "not closed: add a '---' line after the YAML fields"


def _warn(path: str, field: str, message: str) -> Issue:
    return Issue(path, field, message, Severity.WARNING)


def _check_name(value: Any, folder: str | None, path: str, issues: list[Issue]) -> str | None:
    if value is None:
        issues.append(Issue(path, "name", "missing; add `name: <folder-name>`"))
        return None
    if not isinstance(value, str):
        issues.append(Issue(path, "name", f"must be a string, got {type(value).__name__}"))
        return None
    if not 1 <= len(value) <= NAME_MAX:
        issues.append(Issue(path, "name", f"must be 1-{NAME_MAX} characters, got {len(value)}"))
        return None
    if not _NAME.match(value):
        issues.append(
            Issue(
                path,
                "name",
                f"{value!r} must use only lowercase letters, digits and single hyphens, "
                "not starting or ending with a hyphen",
            )
        )
        return None
    if folder is not None and folder != value:
        issues.append(
            Issue(path, "name", f"{value!r} must equal its folder name {folder!r}; rename one")
        )
        return None
    return value


def _check_text(
    fm: Mapping[str, Any],
    key: str,
    limit: int | None,
    path: str,
    issues: list[Issue],
    *,
    required: bool = False,
) -> str | None:
    value = fm.get(key)
    if value is None:
        if required:
            issues.append(Issue(path, key, "missing; say what the skill does and when to use it"))
        return None
    if not isinstance(value, str):
        kind = type(value).__name__
        if required:
            issues.append(Issue(path, key, f"must be a string, got {kind}"))
        else:
            issues.append(_warn(path, key, f"should be a string, got {kind}; ignored"))
        return None
    if required and not value.strip():
        issues.append(Issue(path, key, "is empty"))
        return None
    if limit is not None and len(value) > limit:
        issues.append(
            _warn(
                path,
                key,
                f"is {len(value)} characters; the specification allows at most {limit}",
            )
        )
    return value


def _check_metadata(value: Any, path: str, issues: list[Issue]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        issues.append(_warn(path, "metadata", "should be a map of strings; ignored"))
        return {}
    for key, item in value.items():
        if key in (MODE_KEY, STEPS_KEY, EXAMPLES_KEY):
            if not isinstance(item, str):
                issues.append(Issue(path, f"metadata.{key}", "must be a string"))
        elif not isinstance(item, str):
            issues.append(_warn(path, f"metadata.{key}", "the specification wants string values"))
    return {str(k): v for k, v in value.items()}


def _parse_mode(value: Any, field: str, path: str, issues: list[Issue]) -> FusionMode | None:
    if value is None or not isinstance(value, str):
        return None
    try:
        return FusionMode(value.strip())
    except ValueError:
        allowed = ", ".join(m.value for m in FusionMode)
        issues.append(Issue(path, field, f"{value!r} is not a fusion mode (one of: {allowed})"))
        return None


def _parse_examples(value: Any) -> tuple[str, ...]:
    if not isinstance(value, str):
        return ()
    lines = (line.strip().removeprefix("- ").strip() for line in value.splitlines())
    return tuple(line for line in lines if line)


def _parse_steps(value: Any, path: str, issues: list[Issue]) -> list[Step]:
    if value is None or not isinstance(value, str):
        return []
    field = f"metadata.{STEPS_KEY}"
    parsed: list[tuple[int, str, str | None, list[str]]] = []
    for number, line in enumerate(value.splitlines(), start=1):
        match = _STEP.match(line.strip())
        if match:
            parsed.append((int(match[1]), match[2], match[3], [match[4].strip()]))
        elif line.strip() and parsed:
            parsed[-1][3].append(line.strip())
        elif line.strip():
            issues.append(
                Issue(path, field, f"line {number}: expected 'N. step-name [mode]: instruction'")
            )
            return []
    steps: list[Step] = []
    for expected, (number, name, mode, text) in enumerate(parsed, start=1):
        where = f"{field} step {number}"
        before = len(issues)
        if number != expected:
            issues.append(Issue(path, field, f"steps must be numbered 1, 2, 3…; got {number}"))
        if not _NAME.match(name) or len(name) > NAME_MAX:
            issues.append(
                Issue(path, where, f"name {name!r}: use lowercase letters, digits, hyphens")
            )
        if any(s.name == name for s in steps):
            issues.append(Issue(path, where, f"name {name!r} is used twice"))
        instruction = "\n".join(t for t in text if t)
        if not instruction:
            issues.append(Issue(path, where, "has no instruction after the ':'"))
        step_mode = _parse_mode(mode, where, path, issues) if mode is not None else None
        if len(issues) == before:
            steps.append(Step(name=name, instruction=instruction, mode=step_mode))
    if not parsed:
        issues.append(Issue(path, field, "is empty; remove it or list at least one step"))
    return steps
