"""Text a person sent, checked before it is stored or shown to a model.

NUL bytes and lone surrogates cannot be stored (PostgreSQL refuses both, and a lone surrogate is
not encodable as UTF-8 at all), and other control characters have no place in a prompt: they
hide text from reviewers and confuse terminals. Tab, newline and carriage return are fine.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from evofuse.errors import UnsafeTextError

# C0 controls but \t \n \r, DEL, C1 controls, and UTF-16 surrogates (never valid on their own).
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text and BPE tokenizers


def describe(char: str) -> str:
    code = f"U+{ord(char):04X}"
    if 0xD800 <= ord(char) <= 0xDFFF:
        return f"{code} (a lone UTF-16 surrogate, not valid Unicode)"
    if char == "\x00":
        return f"{code} (a NUL byte)"
    return f"{code} (a control character)" if unicodedata.category(char) == "Cc" else code


def find_unsafe(text: str) -> tuple[int, str] | None:
    """(position, character) of the first unsafe character, or None."""
    match = _UNSAFE.search(text)
    return None if match is None else (match.start(), match.group())


def check_text(text: str, where: str) -> None:
    """Raise `UnsafeTextError` naming `where` and the position; never echo the text itself."""
    found = find_unsafe(text)
    if found is not None:
        position, char = found
        raise UnsafeTextError(where, position, describe(char))


def strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a JSON-like value (keys included), with a readable path to it."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str):
                yield where, key
            yield from strings(item, where)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from strings(item, f"{path}[{i}]")


def check_all(value: Any, path: str = "") -> None:
    """`check_text` on every string inside `value`."""
    for where, text in strings(value, path):
        check_text(text, where or "the value")


def estimate_tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)
