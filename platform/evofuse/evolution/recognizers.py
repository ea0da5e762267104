"""EvoFuse's own presidio recognizers: secrets (API keys, tokens) and person names without NER.

Presidio's predefined pattern recognizers cover emails, phones, cards, IBANs and IPs offline. Two
kinds need more:

- *Secrets*: detect-secrets' regex detectors (AWS, GitHub, GitLab, Slack, Stripe, JWT, …, kept up
  to date by its maintainers) plus patterns for keys those miss (OpenAI/Anthropic-style `sk-…`,
  Hugging Face, Google, EvoFuse's own `efk-…`, bearer tokens, `key = value` assignments, PEM
  blocks) and a Shannon-entropy test for any other long random-looking token.
- *Person names*: presidio finds them with a NER model, which no official PyPI package ships and
  which must not be downloaded at run time. Instead: cue phrases ("my name is …", "Dr. …",
  sign-offs) and the US census first-name list (from the `names` package) followed by a
  capitalised word. Recall is measured, and lower than for the pattern kinds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

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

_CAP = r"[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?"
_FULL = rf"{_CAP}(?:\s+{_CAP}){{0,2}}"
# Phrases after which the next capitalised words are a name, with how sure that makes us. The
# weak cues ("ask Jordan", but also "from Python") score below the gate's threshold: they scrub
# evidence but do not block a skill that names a tool.
_CUES = [
    (
        re.compile(
            rf"(?:\b[Mm]y name is|\bI am|\bI'm|\b[Tt]his is|\b[Nn]ame:)\s+(?P<name>{_FULL})"
        ),
        0.7,
    ),
    (re.compile(rf"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof|Sir|Madam)\.?\s+(?P<name>{_FULL})"), 0.7),
    (
        re.compile(
            rf"(?m)^\s*(?:[Rr]egards|[Bb]est(?: regards)?|[Tt]hanks|[Tt]hank you|[Cc]heers|"
            rf"[Ss]incerely|[Kk]ind regards|[Yy]ours)[,!.]?\s*\n\s*(?P<name>{_FULL})\s*$"
        ),
        0.7,
    ),
    (
        re.compile(
            rf"\b(?:[Cc]ontact|[Aa]sk|[Ee]mail|[Cc]all|[Tt]ell|[Cc]c|[Ff]rom|[Ww]ith|[Mm]anager|"
            rf"[Cc]olleague|[Cc]ustomer|[Cc]lient|[Pp]atient|[Cc]oworker|[Bb]oss)\s+"
            rf"(?P<name>{_FULL})"
        ),
        0.45,
    ),
]
_CAPITALISED = re.compile(rf"\b{_CAP}(?:\s+{_CAP})+")


@cache
def first_names() -> frozenset[str]:
    """US census first names (MIT-licensed data of the `names` package), lowercase."""
    found: set[str] = set()
    for file in ("dist.male.first", "dist.female.first"):
        text = resources.files("names").joinpath(file).read_text(encoding="utf-8")
        found.update(line.split()[0].lower() for line in text.splitlines() if line.strip())
    return frozenset(found)


@cache
def _common_words() -> frozenset[str]:
    # Names that are also ordinary words ("Will", "May", "Grant") need a cue, not the list alone.
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(w.lower() for w in STOP_WORDS)


class PersonNameRecognizer(EntityRecognizer):
    """Names after cue phrases, and census first names followed by a capitalised surname."""

    def __init__(self) -> None:
        super().__init__(supported_entities=[PERSON], name="EvoFusePersonNameRecognizer")

    def load(self) -> None:
        first_names()

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        del entities, nlp_artifacts
        return [RecognizerResult(PERSON, s, e, score) for s, e, score in find_names(text)]


def find_names(text: str) -> Iterator[tuple[int, int, float]]:
    for pattern, score in _CUES:
        for match in pattern.finditer(text):
            yield match.start("name"), match.end("name"), score
    names, common = first_names(), _common_words()
    for match in _CAPITALISED.finditer(text):
        words = match.group().split()
        # "Priya Raman", "Review Maria Lopez's PR": the name starts at the first census name.
        for word in words[:-1]:
            key = word.lower()
            if key in names and key not in common and len(key) > 2:
                start = match.start() + match.group().index(word)
                yield start, match.end(), 0.6
                break
