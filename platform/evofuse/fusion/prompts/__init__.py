"""Versioned prompt files (`<name>.v<N>.md`); every result records the versions it used."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template

_NAME = re.compile(r"^(?P<name>[a-z_]+)\.v(?P<version>\d+)\.md$")


@dataclass(frozen=True)
class Prompt:
    name: str
    version: int
    text: str

    @property
    def id(self) -> str:
        return f"{self.name}.v{self.version}"

    def render(self, **values: str) -> str:
        return Template(self.text).substitute(values)


@cache
def load_prompt(name: str) -> Prompt:
    """The newest version of a packaged prompt."""
    found: list[Prompt] = []
    for entry in resources.files(__package__).iterdir():
        match = _NAME.match(entry.name)
        if match and match["name"] == name:
            found.append(Prompt(name, int(match["version"]), entry.read_text(encoding="utf-8")))
    if not found:
        raise LookupError(f"no packaged prompt named {name!r}")
    return max(found, key=lambda p: p.version)
