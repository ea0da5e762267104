"""Person names without a NER model: international gazetteers, capitalization and context.

No NER model ships on PyPI from its publisher (spaCy's English pipelines are on PyPI only as
third-party re-uploads whose weights cannot be checked against Explosion's release), and none may
be downloaded at run time. So names are found with lists and rules:

- cue phrases ("my name is …", "Dr. …", sign-offs, "ask …") make the next capitalised words a
  name, whatever they are;
- without a cue, a run of capitalised words is a name when it starts with a known first name and
  ends with a known surname (either list) — or, less surely, with any capitalised word that is
  not a common English word. The lists: the US census first names and surnames (the `names`
  package, MIT) and the first and last names of Faker's 80+ locales (MIT), kept where written
  in Latin script: about 25,000 first names and 100,000 surnames from every continent.

Words that are names and ordinary English words ("Will", "May", "Grant", "Black") do not start a
name without a cue. Findings without a cue and without a known surname score below the gate's
threshold: they are scrubbed from evidence but do not refuse a skill that names a tool.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources

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
# A word of any Latin script (accents, apostrophes and hyphens inside), then the gap to the next.
_TOKEN = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*")
# Lowercase particles inside a surname: "Ludwig van Beethoven", "Maria de la Cruz".
_PARTICLES = frozenset(
    "van von der den de del della da di du la le dos das bin ibn al el ter".split()
)
SURE, UNSURE = 0.6, 0.4


def _latin(name: str) -> bool:
    return bool(_TOKEN.fullmatch(name.replace(" ", "-"))) and all(ord(c) < 0x250 for c in name)


@cache
def gazetteers() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, surnames), lowercase, Latin script only."""
    first: set[str] = set()
    last: set[str] = set()
    for file, into in (
        ("dist.male.first", first),
        ("dist.female.first", first),
        ("dist.all.last", last),
    ):
        text = resources.files("names").joinpath(file).read_text(encoding="utf-8")
        into.update(line.split()[0].lower() for line in text.splitlines() if line.strip())
    import faker.providers.person as person

    for module in pkgutil.iter_modules(person.__path__):
        provider = getattr(
            importlib.import_module(f"{person.__name__}.{module.name}"), "Provider", None
        )
        for attr in dir(provider) if provider is not None else ():
            if not attr.startswith(("first_names", "last_names")):
                continue
            values = getattr(provider, attr)
            if not isinstance(values, (list, tuple, dict)):
                continue
            into = first if attr.startswith("first") else last
            for value in values:
                if isinstance(value, str) and len(value) > 1 and _latin(value):
                    into.update(part.lower() for part in value.split())
    return frozenset(first), frozenset(last)


@cache
def common_words() -> frozenset[str]:
    """English words that are also names ("Will", "May", "Grant"): never a name without a cue."""
    from faker.providers.lorem.en_US import Provider as Lorem
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(w.lower() for w in (*STOP_WORDS, *Lorem.word_list))


def _capitalised(word: str) -> bool:
    return word[0].isupper() and any(c.islower() for c in word[1:])


def find_names(text: str) -> Iterator[tuple[int, int, float]]:
    for pattern, score in _CUES:
        for match in pattern.finditer(text):
            yield match.start("name"), match.end("name"), score
    first, last = gazetteers()
    common = common_words()
    tokens = list(_TOKEN.finditer(text))
    i = 0
    while i < len(tokens):
        word = tokens[i].group()
        key = word.lower()
        if not (_capitalised(word) and key in first and key not in common and len(key) > 2):
            i += 1
            continue
        # The run of capitalised words (and lowercase particles between them) after it.
        end, j = i, i + 1
        while j < len(tokens) and _joined(text, tokens[j - 1], tokens[j]):
            nxt = tokens[j].group()
            if _capitalised(nxt):
                end = j
            elif nxt.lower() not in _PARTICLES:
                break
            j += 1
        if end == i:
            i += 1
            continue
        surname = tokens[end].group().lower().replace("\u2019", "'")
        stop = tokens[end].end()
        if surname.endswith("'s"):  # "Maria Lopez's PR": the name ends before the possessive
            surname, stop = surname[:-2], stop - 2
        if surname in last or surname in first:
            score = SURE
        elif surname in common:
            i += 1
            continue
        else:
            score = UNSURE
        yield tokens[i].start(), stop, score
        i = end + 1


def _joined(text: str, left: re.Match[str], right: re.Match[str]) -> bool:
    """Two words of one name: only spaces between them, no line break or punctuation."""
    gap = text[left.end() : right.start()]
    return 0 < len(gap) <= 2 and gap.strip(" ") == ""
