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
def load_prompt(name: str, package: str | None = None) -> Prompt:
    """The newest version of a packaged prompt (in this package, or in `package`)."""
    package = package or __package__
    found: list[Prompt] = []
    for entry in resources.files(package).iterdir():
        match = _NAME.match(entry.name)
        if match and match["name"] == name:
            found.append(Prompt(name, int(match["version"]), entry.read_text(encoding="utf-8")))
    if not found:
        raise LookupError(f"no prompt named {name!r} in {package}")
    return max(found, key=lambda p: p.version)
