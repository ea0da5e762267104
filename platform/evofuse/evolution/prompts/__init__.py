"""Evolution's versioned prompt files (`<name>.v<N>.md`); each report records the versions used."""

from __future__ import annotations

from evofuse.fusion.prompts import Prompt
from evofuse.fusion.prompts import load_prompt as _load


def load_prompt(name: str) -> Prompt:
    """The newest version of a packaged evolution prompt."""
    return _load(name, __package__)
