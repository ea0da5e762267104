"""Evolution's versioned prompt files (`<name>.v<N>.md`); each report records the versions used."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from evofuse.fusion.prompts import Prompt

_NAME = re.compile(r"^(?P<name>[a-z_]+)\.v(?P<version>\d+)\.md$")


@cache
def load_prompt(name: str) -> Prompt:
    """The newest version of a packaged evolution prompt."""
    found: list[Prompt] = []
    for entry in resources.files(__package__).iterdir():
        match = _NAME.match(entry.name)
        if match and match["name"] == name:
            found.append(Prompt(name, int(match["version"]), entry.read_text(encoding="utf-8")))
    if not found:
        raise LookupError(f"no packaged evolution prompt named {name!r}")
    return max(found, key=lambda p: p.version)
