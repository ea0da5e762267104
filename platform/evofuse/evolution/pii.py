"""Personal data and secrets out of everything evolution reads, stores or publishes.

presidio-analyzer's default setup downloads a spaCy NER model, which fails offline. Here its
NLP engine wraps `spacy.blank("en")` (a tokenizer, nothing to download) and only recognizers
that need no model are registered: presidio's own pattern recognizers for emails, phone
numbers, credit cards (Luhn-checked), IBANs (checksum-checked) and IP addresses, plus EvoFuse's
secret and person-name recognizers (`recognizers.py`). The email recognizer validates domains
with tldextract, which by default fetches the public suffix list from the internet; ours uses
the snapshot bundled with tldextract instead.

Each finding is replaced by its kind in angle brackets (`<EMAIL_ADDRESS>`), so evidence still
reads naturally ("write to <EMAIL_ADDRESS> about the refund").
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine


class PiiKind(StrEnum):
    EMAIL = "EMAIL_ADDRESS"
    PHONE = "PHONE_NUMBER"
    CARD = "CREDIT_CARD"
    IBAN = "IBAN_CODE"
    IP = "IP_ADDRESS"
    SECRET = "SECRET"
    PERSON = "PERSON"


PLACEHOLDER = re.compile(r"<(" + "|".join(k.value for k in PiiKind) + r")>")
# Scrubbing errs towards removing too much; the gate blocks a skill only on confident findings,
# so a skill that mentions "Python" after "with" is not refused as containing a name.
SCRUB_THRESHOLD = 0.3
GATE_THRESHOLD = 0.5


@dataclass(frozen=True)
class Finding:
    kind: PiiKind
    start: int
    end: int
    score: float


class Scrubber:
    """Finds and replaces personal data and secrets; safe to share between threads."""

    def __init__(self) -> None:
        self._engine: AnalyzerEngine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> AnalyzerEngine:
        with self._lock:
            if self._engine is None:
                self._engine = _build_engine()
            return self._engine

    def find(self, text: str, *, threshold: float = SCRUB_THRESHOLD) -> list[Finding]:
        """Non-overlapping findings, left to right.

        Overlapping findings merge into one span covering all of them (removing too much beats
        leaving the tail of a token behind), labelled with the surest finding's kind.
        """
        if not text.strip():
            return []
        results = self.engine.analyze(
            text, language="en", entities=[k.value for k in PiiKind], score_threshold=threshold
        )
        found = sorted(
            (Finding(PiiKind(r.entity_type), r.start, r.end, float(r.score)) for r in results),
            key=lambda f: (f.start, -f.end),
        )
        merged: list[Finding] = []
        for f in found:
            last = merged[-1] if merged else None
            if last is None or f.start >= last.end:
                merged.append(f)
                continue
            surest = last if last.score >= f.score else f
            merged[-1] = Finding(surest.kind, last.start, max(last.end, f.end), surest.score)
        return merged

    def scrub(self, text: str) -> str:
        out = text
        for finding in reversed(self.find(text)):
            out = f"{out[: finding.start]}<{finding.kind.value}>{out[finding.end :]}"
        return out

    def kinds(self, text: str, *, threshold: float = GATE_THRESHOLD) -> Counter[str]:
        """How many findings of each kind, placeholders included (they must not be published)."""
        counts: Counter[str] = Counter(f.kind.value for f in self.find(text, threshold=threshold))
        counts.update(m.group(1) for m in PLACEHOLDER.finditer(text))
        return counts

    def scrub_any(self, value: Any) -> Any:
        """Scrub every string inside a JSON-like value (what goes into a stored report)."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, list):
            return [self.scrub_any(v) for v in value]
        if isinstance(value, dict):
            return {k: self.scrub_any(v) for k, v in value.items()}
        return value


@cache
def default_scrubber() -> Scrubber:
    """One scrubber per process: building presidio's registry costs ~0.1 s."""
    return Scrubber()


def _build_engine() -> AnalyzerEngine:
    import spacy
    import tldextract
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
    )

    from evofuse.evolution.recognizers import PersonNameRecognizer, SecretRecognizer

    # No URLs and no cache directory: the suffix list bundled with tldextract, never a download.
    suffixes = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return bool(suffixes(pattern_text).fqdn)

    class BlankSpacyEngine(SpacyNlpEngine):
        """presidio's spaCy engine around `spacy.blank("en")`: tokens, no model to download."""

        def __init__(self) -> None:
            super().__init__(models=[{"lang_code": "en", "model_name": "blank:en"}])
            # presidio annotates `nlp` as None until load(); it holds {language: pipeline}.
            self.nlp = {"en": spacy.blank("en")}  # type: ignore[assignment]

        def load(self) -> None:
            pass  # already loaded: the parent would try to download "blank:en"

    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in (
        OfflineEmailRecognizer(),
        PhoneRecognizer(),
        CreditCardRecognizer(),
        IbanRecognizer(),
        IpRecognizer(),
        SecretRecognizer(),
        PersonNameRecognizer(),
    ):
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(
        registry=registry, nlp_engine=BlankSpacyEngine(), supported_languages=["en"]
    )
