"""Checking and preparing the OpenAI messages a fusion step receives."""

from __future__ import annotations

from collections.abc import Sequence

from evofuse.errors import UserError
from evofuse.llm import Message

_ROLES = {"system", "user", "assistant", "tool", "developer"}


def validate_messages(messages: Sequence[Message]) -> list[Message]:
    """Check an OpenAI messages list; raise `UserError` naming the bad message."""
    if not messages:
        raise UserError(
            "messages is empty", hint="Send at least one {'role': 'user', 'content': ...}"
        )
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise UserError(f"messages[{i}] is not an object with role and content")
        role = message.get("role")
        if role not in _ROLES:
            raise UserError(f"messages[{i}].role is {role!r}; use one of {sorted(_ROLES)}")
        if message.get("content") is None and not message.get("tool_calls"):
            raise UserError(f"messages[{i}] has no content")
        out.append(dict(message))
    return out


def with_instructions(messages: list[Message], instructions: str | None) -> list[Message]:
    """Put extra instructions (a skill's text) into the system message, creating one if needed."""
    if not instructions:
        return messages
    if (
        messages
        and messages[0].get("role") == "system"
        and isinstance(messages[0].get("content"), str)
    ):
        merged = f"{messages[0]['content']}\n\n{instructions}"
        return [{**messages[0], "content": merged}, *messages[1:]]
    return [{"role": "system", "content": instructions}, *messages]
