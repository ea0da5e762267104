"""Keep API keys out of error messages before they are shown, logged or stored."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

_ENV_PREFIX = "os.environ/"
# Shapes of credentials that providers echo back in errors (OpenAI/Anthropic/OpenRouter keys,
# bearer tokens, key=... query strings).
_PATTERNS = [
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"),
    re.compile(r"\b(?:AIza)[A-Za-z0-9_\-]{20,}"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._\-]{8,}"),
    re.compile(r"(?i)((?:api[_-]?key|x-api-key|token)[\"']?\s*[:=]\s*[\"']?)[^\s\"',&]{6,}"),
]
REDACTED = "[REDACTED]"


@dataclass
class Redactor:
    """Replaces known secret values and credential-shaped strings with `[REDACTED]`."""

    secrets: list[str] = field(default_factory=list)

    @classmethod
    def from_model_list(cls, model_list: Sequence[dict[str, Any]]) -> Redactor:
        secrets = []
        for deployment in model_list:
            for key, value in deployment.get("litellm_params", {}).items():
                if not isinstance(value, str) or (
                    "key" not in key.lower() and "token" not in key.lower()
                ):
                    continue
                if value.startswith(_ENV_PREFIX):
                    value = os.environ.get(value.removeprefix(_ENV_PREFIX), "")
                if len(value) >= 6:
                    secrets.append(value)
        return cls(secrets=secrets)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: (m.group(1) if m.re.groups else "") + REDACTED, text)
        return text
