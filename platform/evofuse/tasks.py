"""What a run was asked to do: the one reading of a conversation's task.

The Selector routes on this text, the run records it, and evolution clusters and replays it, so
all three must read the same messages the same way. Messages come as OpenAI-style dicts (the
API, `Runner.run`) or as LangChain messages (a graph's state); content as a string or as parts,
of which only the text parts count (an image says nothing the embedder can read).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_USER_ROLES = ("user", "human")  # OpenAI's role, LangChain's message type


def task_text(messages: str | Sequence[Any]) -> str | None:
    """The last user message's text, or None when there is no user message.

    Text parts of multi-part content are joined by newlines; the result is stripped.
    """
    if isinstance(messages, str):
        return messages.strip()
    for message in reversed(messages):
        if isinstance(message, dict):
            role, content = message.get("role"), message.get("content")
        else:  # a LangChain message
            role, content = getattr(message, "type", None), getattr(message, "content", None)
        if role in _USER_ROLES:
            return content_text(content)
    return None


def content_text(content: Any) -> str:
    """A message content's text: the string itself, or its text parts joined by newlines."""
    if isinstance(content, str):
        return content.strip()
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for part in content:
        if isinstance(part, str):  # LangChain allows bare strings among the parts
            parts.append(part)
        elif isinstance(part, dict) and part.get("type", "text") == "text":
            text = part.get("text")
            if isinstance(text, str):
                parts.append(text)
    return "\n".join(p for p in parts if p).strip()
