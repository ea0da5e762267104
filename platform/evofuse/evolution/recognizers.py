"""EvoFuse's own presidio recognizers: secrets (API keys, tokens) and person names without NER.

Presidio's predefined pattern recognizers cover emails, phones, cards, IBANs and IPs offline. Two
kinds need more:

- *Secrets*: detect-secrets' regex detectors (AWS, GitHub, GitLab, Slack, Stripe, JWT, …, kept up
  to date by its maintainers) plus patterns for keys those miss (OpenAI/Anthropic-style `sk-…`,
  Hugging Face, Google, EvoFuse's own `efk-…`, bearer tokens, `key = value` assignments, PEM
  blocks) and a Shannon-entropy test for any other long random-looking token.
- *Person names*: presidio finds them with a NER model, which no official PyPI package ships and
  which must not be downloaded at run time. Instead: cue phrases and international first-name
  and surname gazetteers with capitalization rules (`person_names.py`). Recall is measured on a
  seeded and a held-out set.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from evofuse.evolution.person_names import find_names, gazetteers

SECRET = "SECRET"
PERSON = "PERSON"

_PROJECT_SECRETS = [
    # OpenAI, Anthropic, OpenRouter and most "sk-" style keys (incl. sk-proj-, sk-ant-, sk-or-).
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"\befk-[A-Za-z0-9_\-]{16,}"),  # EvoFuse API keys (evofuse keys create)
    re.compile(r"\bhf_[A-Za-z0-9]{30,}"),  # Hugging Face
    re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"),  # Google API keys
    re.compile(r"\b(?:xai|gsk|pplx|nvapi|r8)[-_][A-Za-z0-9_\-]{20,}"),  # xAI, Groq, …
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]{12,}=*"),
    # JSON Web Tokens with their signature (detect-secrets' pattern may stop before it).
    re.compile(r"\beyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"),
    re.compile(
        r"-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----.*?"
        r"-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----",
        re.DOTALL,
    ),
]
# `api_key = "…"`, `password: …`, `token=…`: the value is the secret, whatever it looks like.
_ASSIGNMENT = re.compile(
    r"(?i)\b(?:api[_-]?key|access[_-]?key|secret(?:[_-]?key)?|client[_-]?secret|token|"
    r"auth[_-]?token|access[_-]?token|password|passwd|pwd)\b[\"']?\s*[:=]\s*[\"']?"
    r"(?P<value>[^\s\"',;]{6,})"
)
# Candidates for the entropy test: long unbroken runs of key alphabet characters.
_TOKENISH = re.compile(r"(?<![A-Za-z0-9_\-+/=])[A-Za-z0-9_\-+/=.]{24,}(?![A-Za-z0-9_\-+/=])")
_ENTROPY_MIN = 3.5  # bits per character; English words and paths stay well below


@cache
def _detect_secrets_patterns() -> tuple[re.Pattern[str], ...]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.base import RegexBasedDetector

    patterns: list[re.Pattern[str]] = []
    plugins: list[type[Any]] = list(get_mapping_from_secret_type_to_class().values())
    for plugin in plugins:
        # IPs are presidio's IP_ADDRESS; the keyword and entropy plugins are not regex-based.
        if issubclass(plugin, RegexBasedDetector) and plugin.__name__ != "IPPublicDetector":
            patterns.extend(plugin().denylist)
    return tuple(patterns)


def _entropy(text: str) -> float:
    from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString

    return float(Base64HighEntropyString().calculate_shannon_entropy(text))


class SecretRecognizer(EntityRecognizer):
    """API keys, tokens, passwords and private keys."""

    def __init__(self) -> None:
        super().__init__(supported_entities=[SECRET], name="EvoFuseSecretRecognizer")

    def load(self) -> None:
        _detect_secrets_patterns()

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        del entities, nlp_artifacts  # one entity, and no linguistic features needed
        return [RecognizerResult(SECRET, s, e, score) for s, e, score in find_secrets(text)]


def find_secrets(text: str) -> Iterator[tuple[int, int, float]]:
    for pattern in (*_detect_secrets_patterns(), *_PROJECT_SECRETS):
        for match in pattern.finditer(text):
            if match.end() > match.start():
                yield match.start(), match.end(), 0.95
    for match in _ASSIGNMENT.finditer(text):
        yield match.start("value"), match.end("value"), 0.8
    for match in _TOKENISH.finditer(text):
        token = match.group().strip(".")
        has_digit = any(c.isdigit() for c in token)
        has_alpha = any(c.isalpha() for c in token)
        if has_digit and has_alpha and _entropy(token) >= _ENTROPY_MIN:
            yield match.start(), match.start() + len(token), 0.6


# -- person names ---------------------------------------------------------------------------


class PersonNameRecognizer(EntityRecognizer):
    """Names after cue phrases, and gazetteer names without one (see `person_names`)."""

    def __init__(self) -> None:
        super().__init__(supported_entities=[PERSON], name="EvoFusePersonNameRecognizer")

    def load(self) -> None:
        gazetteers()

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        del entities, nlp_artifacts
        return [RecognizerResult(PERSON, s, e, score) for s, e, score in find_names(text)]
