"""The content gate: what users wrote as evidence must not become an instruction in a skill.

Feedback comments and recorded tasks are data written by whoever holds an API key. An Evolver
that obeys an instruction hidden in them (a weak model, or a hostile one) would publish it to
everyone who uses the skill. So the text a proposal adds is compared with the evidence the model
was shown and with the base skill, and the proposal is refused when it adds:

- a *link*: a URL, domain, e-mail address or phone number that appears in the evidence (also
  written as "evil[.]example[.]com" or "evil dot example dot com") and not in the base skill;
- *code*: a code block, inline code or a shell command whose tokens appear in the evidence;
- an *instruction* to contact, visit, buy, download, install, pay, recommend, … whose object
  words come from the evidence and not from the base skill;
- an *injected phrase*: a new sentence at least half of whose content words (and at least
  three) come from what ONE supporter wrote, are written by fewer than `min_distinct_users`
  supporters, and are not in the base skill. Words that several supporters used are the shared
  problem an honest improvement distills ("state the assumed database"); words only one
  supporter wrote, making up most of a sentence, are that supporter's text copied in.

Each check names what it found and which evidence item holds it, for the cycle report.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from evofuse.evolution.report import Check

_WORD = re.compile(r"[^\W\d_][\w'\u2019-]*")
_URL = re.compile(r"(?i)\b(?:https?://|ftp://|www\.)[^\s<>()\"'`]+")
_EMAIL = re.compile(r"(?i)\b[a-z0-9._%+-]+@(?:[a-z0-9-]+\.)+[a-z]{2,24}\b")
_DOMAIN = re.compile(r"(?i)(?<![@\w.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}\b")
# "name.md", "setup.py": file names whose extension happens to be a country's domain.
_FILE_EXTENSIONS = frozenset(
    "md py rs sh js ts go rb pl pm cs cc hh so mk in am ai ps sc gs ml me im it to do is as at by "
    "io".split()
)
_OBFUSCATED_DOT = re.compile(r"(?i)\s*(?:[\[({]\s*(?:\.|dot)\s*[\])}]|\s+dot\s+)\s*")
_OBFUSCATED_AT = re.compile(r"(?i)\s*(?:[\[({]\s*(?:@|at)\s*[\])}]|\s+at\s+)\s*")
_FENCE = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_INLINE = re.compile(r"`([^`\n]{3,})`")
_COMMAND = re.compile(
    r"(?m)^\s*(?:\$\s+)?(?:curl|wget|bash|sh|zsh|powershell|pwsh|iex|python3?|node|ruby|perl|"
    r"php|sudo|rm|chmod|pip3?|npm|npx|yarn|apt(?:-get)?|brew|docker|kubectl|eval|exec)\b.*$"
)
_SENTENCE = re.compile(r"(?<=[.!?;:])\s+|\n+")
# Verbs that send a reader somewhere or make them act for someone; stems (see `stem`).
_CALLS_TO_ACTION_WORDS = (
    "contact visit buy purchase download install subscribe register signup click call phone "
    "email e-mail mail text message whatsapp telegram pay donate transfer wire send recommend "
    "promote advertise endorse refer redirect navigate browse open follow join reach upload "
    "share sell invest trust praise favor favour prefer choose pick"
)
# Words after which a verb is an imperative: "always recommend", "users to visit", "please buy".
_LEADS = frozenset(
    "to always please must should then and or just also first you kindly immediately".split()
)
_PHRASE_MIN_WORDS = 3
_PHRASE_MIN_SHARE = 0.5
_CODE_RUN = 3  # consecutive code tokens shared with the evidence


@dataclass(frozen=True)
class Source:
    """One piece of user-supplied text the model was shown: a comment, a task, a step error."""

    label: str  # the evidence id the prompt used (e3, t2, …)
    supporter: str
    text: str


@cache
def _stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(w.lower() for w in STOP_WORDS)


def stem(word: str) -> str:
    """A deliberately crude suffix stripper: both sides of every comparison go through it."""
    w = word.lower().replace("\u2019", "'").removesuffix("'s").strip("'-")
    for suffix in ("ing", "ed", "es", "s", "ly", "e"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and not w.endswith("ss"):
            return w[: -len(suffix)]
    return w


_CALLS_TO_ACTION = frozenset(stem(w) for w in _CALLS_TO_ACTION_WORDS.split())


def content_words(text: str) -> list[str]:
    stops = _stop_words()
    return [stem(w) for w in _WORD.findall(text) if len(w) >= 3 and w.lower() not in stops]


def new_lines(base: str, candidate: str) -> list[str]:
    """Lines of the candidate that the base does not have (a changed line counts whole)."""
    have = {line.strip() for line in base.splitlines()}
    return [line for line in candidate.splitlines() if line.strip() and line.strip() not in have]


def _sentences(lines: Iterable[str]) -> list[str]:
    return [s.strip() for line in lines for s in _SENTENCE.split(line) if s.strip()]


def _deobfuscate(text: str) -> str:
    return _OBFUSCATED_AT.sub("@", _OBFUSCATED_DOT.sub(".", text)).lower()


def _host_words(host: str) -> list[str]:
    labels = [x for x in host.lower().split(".") if x and x != "www"]
    return labels[:-1] if len(labels) > 1 else labels  # the suffix alone says nothing


def _links(text: str) -> list[tuple[str, str]]:
    """(kind, normalized value) of every URL, e-mail, domain and phone number in `text`."""
    found: list[tuple[str, str]] = []
    rest = text
    for match in _URL.finditer(text):
        value = match.group().rstrip(".,;:!?").lower()
        found.append(("URL", value))
        rest = rest.replace(match.group(), " ")
    for match in _EMAIL.finditer(rest):
        found.append(("e-mail", match.group().lower()))
        rest = rest.replace(match.group(), " ")
    for match in _DOMAIN.finditer(rest):
        value = match.group().lower()
        labels = value.split(".")
        if len(labels) == 2 and labels[1] in _FILE_EXTENSIONS:
            continue
        if _is_domain(value):
            found.append(("domain", value))
    import phonenumbers

    for number in phonenumbers.PhoneNumberMatcher(rest, "US"):
        found.append(("phone number", re.sub(r"\D", "", number.raw_string)))
    return found


@cache
def _suffixes() -> object:
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _is_domain(value: str) -> bool:
    extract = _suffixes()
    parts = extract(value)  # type: ignore[operator]
    return bool(parts.suffix and parts.domain)


def _host_of(kind: str, value: str) -> str:
    if kind == "e-mail":
        return value.split("@", 1)[1]
    if kind == "URL":
        return re.sub(r"^(?:[a-z]+://)?", "", value).split("/", 1)[0].split(":", 1)[0]
    return value


class EvidenceText:
    """The evidence, prepared once per proposal for every check."""

    def __init__(self, sources: Sequence[Source]) -> None:
        self.sources = [s for s in sources if s.text and s.text.strip()]
        self._plain = [_deobfuscate(s.text) for s in self.sources]
        self._digits = [re.sub(r"[\s().\-+]", "", s.text) for s in self.sources]
        self._words = [set(content_words(s.text)) for s in self.sources]
        self._all_words = [{w.lower() for w in re.findall(r"[\w-]+", p)} for p in self._plain]
        self._tokens = [_code_tokens(s.text) for s in self.sources]
        writers: dict[str, set[str]] = defaultdict(set)
        for source, words in zip(self.sources, self._words, strict=True):
            for w in words:
                writers[w].add(source.supporter)
        self.writers = writers

    def link_source(self, kind: str, value: str) -> str | None:
        """The label of the evidence item that holds this link, if any."""
        for source, plain, digits, words in zip(
            self.sources, self._plain, self._digits, self._all_words, strict=True
        ):
            if kind == "phone number":
                if value in digits:
                    return source.label
                continue
            if value in plain:
                return source.label
            host = _host_words(_host_of(kind, value))
            # "x.sh" would match any text with an "x" in it: short hosts must appear whole.
            if sum(map(len, host)) >= 4 and all(h in words for h in host):
                return source.label
        return None

    def code_source(self, tokens: list[str]) -> str | None:
        run = _CODE_RUN
        wanted = {tuple(tokens[i : i + run]) for i in range(len(tokens) - run + 1)}
        for source, have in zip(self.sources, self._tokens, strict=True):
            grams = {tuple(have[i : i + run]) for i in range(len(have) - run + 1)}
            if wanted & grams:
                return source.label
        return None

    def action_source(self, verb: str, objects: set[str]) -> str | None:
        for source, words in zip(self.sources, self._words, strict=True):
            if verb in words and objects & words:
                return source.label
        return None


def _code_tokens(text: str) -> list[str]:
    return [t.lower() for t in re.findall(r"[^\s`]+", text)]


def _snippets(text: str) -> list[str]:
    found = [m.group(1).strip() for m in _FENCE.finditer(text)]
    found += [m.group(1).strip() for m in _INLINE.finditer(text)]
    found += [m.group().strip() for m in _COMMAND.finditer(_FENCE.sub(" ", text))]
    # A word or two in backticks (`NOT IN`) names a thing; code to run has more to it.
    return [s for s in found if len(_code_tokens(s)) >= _CODE_RUN]


def _quote(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def content_checks(
    base: str, candidate: str, sources: Sequence[Source], *, min_supporters: int
) -> list[Check]:
    """The four checks, each passed or naming the first thing it refused and its evidence id."""
    evidence = EvidenceText(sources)
    added = new_lines(base, candidate)
    added_text = "\n".join(added)
    base_plain = _deobfuscate(base)
    base_words = set(content_words(base))
    where = f"{len(evidence.sources)} user-supplied texts"
    return [
        _link_check(added_text, base_plain, evidence, where),
        _code_check(added_text, base, evidence, where),
        _action_check(added, base_words, evidence, where),
        _phrase_check(added, base_words, evidence, where, min_supporters),
    ]


def _link_check(added: str, base_plain: str, evidence: EvidenceText, where: str) -> Check:
    base_digits = re.sub(r"[\s().\-+]", "", base_plain)
    for kind, value in _links(added):
        if value in (base_digits if kind == "phone number" else base_plain):
            continue
        label = evidence.link_source(kind, value)
        if label is not None:
            return Check(
                name="injected_link",
                passed=False,
                detail=f"adds the {kind} {_quote(value)}, which user evidence {label} contains "
                "and the base skill does not",
            )
    return Check(name="injected_link", passed=True, detail=f"no link taken from {where}")


def _code_check(added: str, base: str, evidence: EvidenceText, where: str) -> Check:
    base_tokens = " ".join(_code_tokens(base))
    for snippet in _snippets(added):
        tokens = _code_tokens(snippet)
        if " ".join(tokens) in base_tokens:
            continue
        label = evidence.code_source(tokens)
        if label is not None:
            return Check(
                name="injected_code",
                passed=False,
                detail=f"adds code {_quote(snippet)} that comes from user evidence {label}",
            )
    return Check(name="injected_code", passed=True, detail=f"no code taken from {where}")


def _action_check(
    added: list[str], base_words: set[str], evidence: EvidenceText, where: str
) -> Check:
    stops = _stop_words()
    for sentence in _sentences(added):
        words = [w.lower() for w in _WORD.findall(sentence)]
        for i, word in enumerate(words):
            # A verb in the imperative ("Visit …", "always recommend …", "users to buy …"), not
            # a noun that looks like one ("a commit message").
            if stem(word) not in _CALLS_TO_ACTION or (i > 0 and words[i - 1] not in _LEADS):
                continue
            objects = {
                stem(w)
                for w in words[i + 1 : i + 7]
                if len(w) >= 3 and w not in stops and stem(w) not in base_words
            }
            label = evidence.action_source(stem(word), objects) if objects else None
            if label is not None:
                return Check(
                    name="injected_instruction",
                    passed=False,
                    detail=f"adds the instruction {_quote(sentence)}, whose action and object "
                    f"come from user evidence {label}",
                )
    return Check(
        name="injected_instruction", passed=True, detail=f"no instruction taken from {where}"
    )


def _phrase_check(
    added: list[str],
    base_words: set[str],
    evidence: EvidenceText,
    where: str,
    min_supporters: int,
) -> Check:
    for sentence in _sentences(added):
        words = set(content_words(sentence))
        if len(words) < _PHRASE_MIN_WORDS:
            continue
        by_supporter: dict[str, set[str]] = defaultdict(set)
        for w in words - base_words:
            writers = evidence.writers.get(w, set())
            if 0 < len(writers) < min_supporters:
                for supporter in writers:
                    by_supporter[supporter].add(w)
        for supporter, taken in by_supporter.items():
            if len(taken) >= _PHRASE_MIN_WORDS and len(taken) / len(words) >= _PHRASE_MIN_SHARE:
                labels = sorted({s.label for s in evidence.sources if s.supporter == supporter})[:5]
                return Check(
                    name="injected_phrase",
                    passed=False,
                    detail=f"the new sentence {_quote(sentence)} takes {len(taken)} of its "
                    f"{len(words)} content words ({', '.join(sorted(taken))}) from what one "
                    f"supporter wrote (evidence {', '.join(labels)}), not from the base skill",
                )
    return Check(
        name="injected_phrase",
        passed=True,
        detail=f"no new sentence made mostly of one supporter's words from {where}",
    )
