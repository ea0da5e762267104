"""A seeded test set of planted personal data and secrets, and the scrubber's recall on it.

120 items of each kind, each planted in a sentence of the kind users write to an assistant.
Values are generated, valid where the kind has a checksum (Luhn for cards, mod-97 for IBANs,
libphonenumber's validity for phones), in several common formats each. Person names come from a
hand-picked international list, 120 after a cue phrase
("my name is", "Dr.", a sign-off) and 120 without one.

    python -m tests.unit.evolution.pii_corpus      # prints the recall table (README figures)

A second set of 120 names without a cue (`generate_held_out`) was written before the gazetteer
recognizer and never used to tune it.
"""

from __future__ import annotations

import random
import string
import time
from dataclasses import dataclass

import phonenumbers

from evofuse.evolution.pii import Scrubber

PER_KIND = 120
KINDS = ("email", "phone", "card", "iban", "ip", "secret", "person (cue)", "person (no cue)")
PATTERN_KINDS = KINDS[:6]
EXPECTED = {
    "email": "EMAIL_ADDRESS",
    "phone": "PHONE_NUMBER",
    "card": "CREDIT_CARD",
    "iban": "IBAN_CODE",
    "ip": "IP_ADDRESS",
    "secret": "SECRET",
    "person (cue)": "PERSON",
    "person (no cue)": "PERSON",
}
_TEMPLATES = [
    "Please review this for me, {x} is what the customer sent.",
    "Can you fix the query? The failing row has {x} in it.",
    "{x} keeps showing up in the logs after the deploy, why?",
    "Summarize the ticket: the user wrote from {x} and asked for a refund.",
    "Here is my config, value {x}; what is wrong with it?",
    "Draft a reply. Context: {x}. Keep it short.",
]
_FIRST = [
    "Priya",
    "Oluwaseun",
    "Mei",
    "Jonas",
    "Ana",
    "Kwame",
    "Sofia",
    "Hiroshi",
    "Fatima",
    "Lukas",
    "Chiara",
    "Mateo",
    "Aisha",
    "Dmitri",
    "Ingrid",
    "Tariq",
    "Elena",
    "Ravi",
    "Yuki",
    "Camille",
    "Nikolai",
    "Amara",
    "Diego",
    "Leila",
]
_LAST = [
    "Raman",
    "Adeyemi",
    "Chen",
    "Becker",
    "Silva",
    "Mensah",
    "Rossi",
    "Tanaka",
    "Haddad",
    "Novak",
    "Moretti",
    "Garcia",
    "Khan",
    "Ivanov",
    "Larsen",
    "Aziz",
    "Popescu",
    "Sharma",
    "Sato",
    "Dubois",
    "Petrov",
    "Okafor",
    "Herrera",
    "Farahani",
]
_NAME_CUED = [
    "Hi, my name is {x} and the import fails.",
    "Please forward this to Dr. {x} before Friday.",
    "The query still times out.\nRegards,\n{x}",
    "Thanks for the help!\nBest,\n{x}",
    "Ask {x} whether the migration ran.",
    "I'm {x}, the on-call engineer this week.",
]
_NAME_BARE = [
    "{x} said the dashboard is slow since Monday.",
    "Compare the numbers {x} sent with last week's.",
    "The meeting with {x} moved to Thursday.",
    "Write a summary for {x} about the outage.",
    "{x} and I reviewed the schema yesterday.",
    "Send the minutes to {x} and the team.",
]

# A second, held-out set of names and sentences, written before the name recognizer was changed
# and never used to tune it: different people, some with accents, apostrophes or a particle, in
# different sentences. Its recall is reported beside the seeded set's.
_FIRST_HELD_OUT = [
    "Abebe",
    "Zeynep",
    "Thandiwe",
    "Siobhan",
    "Rahul",
    "Ngozi",
    "Tomasz",
    "Lucía",
    "Kenji",
    "Anneliese",
    "Mohammed",
    "Björn",
    "Marisol",
    "Tuan",
    "Olga",
    "Emeka",
    "Saoirse",
    "Javier",
    "Keiko",
    "Hamid",
    "Valentina",
    "Arjun",
    "Nadia",
    "Pieter",
    "Wanjiru",
    "Sergei",
    "Ayesha",
    "Mihai",
    "Gabriela",
    "Chinedu",
]
_LAST_HELD_OUT = [
    "Tesfaye",
    "Yilmaz",
    "Nkosi",
    "O'Brien",
    "Gupta",
    "Okonkwo",
    "Kowalski",
    "Fernández",
    "Watanabe",
    "Schmidt",
    "Rahman",
    "Lindqvist",
    "Castillo",
    "Nguyen",
    "Kuznetsova",
    "Eze",
    "Murphy",
    "Navarro",
    "Yamamoto",
    "Karimi",
    "Bianchi",
    "Patel",
    "Benali",
    "Van Dijk",
    "Kamau",
    "Morozov",
    "Siddiqui",
    "Ionescu",
    "Costa",
    "Obi",
]
_NAME_BARE_HELD_OUT = [
    "Can you check why {x} cannot log in to the portal?",
    "Forward the invoice to {x} once it is approved.",
    "{x} from accounting asked for the quarterly export.",
    "Remind me to phone {x} tomorrow about the contract.",
    "The report that {x} wrote has a wrong total.",
    "Book a room for {x} and two guests on Friday.",
    "Why did the deployment by {x} fail last night?",
    "Translate this note for {x}, who starts on Monday.",
]


@dataclass(frozen=True)
class Planted:
    kind: str
    value: str
    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.value)


def _luhn_complete(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits + "0")):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return digits + str((10 - total % 10) % 10)


def _card(rng: random.Random) -> str:
    prefix, length, groups = rng.choice(
        [
            ("4", 16, (4, 4, 4, 4)),
            ("5" + str(rng.randint(1, 5)), 16, (4, 4, 4, 4)),
            ("3" + rng.choice("47"), 15, (4, 6, 5)),
            ("6011", 16, (4, 4, 4, 4)),
        ]
    )
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    number = _luhn_complete(body)
    sep = rng.choice([" ", "-", ""])
    parts, i = [], 0
    for g in groups:
        parts.append(number[i : i + g])
        i += g
    return sep.join(parts)


_IBAN_FORMATS = {
    "DE": [(18, "n")],
    "GB": [(4, "a"), (14, "n")],
    "FR": [(23, "n")],
    "NL": [(4, "a"), (10, "n")],
    "ES": [(20, "n")],
    "IT": [(1, "a"), (22, "n")],
}


def _iban(rng: random.Random) -> str:
    country = rng.choice(sorted(_IBAN_FORMATS))
    bban = ""
    for count, kind in _IBAN_FORMATS[country]:
        alphabet = string.digits if kind == "n" else string.ascii_uppercase
        bban += "".join(rng.choice(alphabet) for _ in range(count))
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    iban = f"{country}{check:02d}{bban}"
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if rng.random() < 0.5 else iban


def _phone(rng: random.Random) -> str:
    fmt = rng.choice(
        [
            phonenumbers.PhoneNumberFormat.INTERNATIONAL,
            phonenumbers.PhoneNumberFormat.NATIONAL,
            phonenumbers.PhoneNumberFormat.E164,
        ]
    )
    while True:
        region = rng.choice(["US", "US", "GB", "DE", "FR", "IN", "CA"])
        example = phonenumbers.example_number(region)
        assert example is not None
        national = str(example.national_number)
        keep = max(3, len(national) - 6)
        digits = national[:keep] + "".join(rng.choice(string.digits) for _ in national[keep:])
        number = phonenumbers.parse(digits, region)
        if phonenumbers.is_valid_number(number):
            text = phonenumbers.format_number(number, fmt)
            if (
                region == "US"
                and fmt == phonenumbers.PhoneNumberFormat.NATIONAL
                and rng.random() < 0.5
            ):
                d = digits
                text = f"{d[:3]}.{d[3:6]}.{d[6:]}"
            return text


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return ".".join(
            str(rng.randint(1 if i == 0 else 0, 223 if i == 0 else 255)) for i in range(4)
        )
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    if rng.random() < 0.5:
        return ":".join(groups)
    return ":".join(groups[:3]) + "::" + ":".join(groups[6:])


def _token(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _secret(rng: random.Random) -> str:
    upper = string.ascii_uppercase + string.digits
    lower = string.ascii_lowercase + string.digits
    return rng.choice(
        [
            lambda: "sk-proj-" + _token(rng, 48),
            lambda: "sk-ant-api03-" + _token(rng, 60, string.ascii_letters + string.digits + "-_"),
            lambda: "sk-" + _token(rng, 48),
            lambda: rng.choice(["ghp_", "gho_", "ghs_"]) + _token(rng, 36),
            lambda: "AKIA" + _token(rng, 16, upper),
            lambda: (
                f"xoxb-{rng.randint(10**9, 10**10)}-{rng.randint(10**9, 10**10)}-"
                + _token(rng, 24, lower)
            ),
            lambda: "glpat-" + _token(rng, 20),
            lambda: "eyJ" + _token(rng, 30) + ".eyJ" + _token(rng, 40) + "." + _token(rng, 43),
            lambda: "Bearer " + _token(rng, 40),
            lambda: "hf_" + _token(rng, 34),
            lambda: "AIza" + _token(rng, 35, string.ascii_letters + string.digits + "-_"),
            lambda: "sk_live_" + _token(rng, 24),
            lambda: "password: " + _token(rng, 14, string.ascii_letters + string.digits + "!#%"),
            lambda: "api_key=" + _token(rng, 32, "0123456789abcdef"),
            lambda: "token " + _token(rng, 40),
            lambda: "efk-" + _token(rng, 43, string.ascii_letters + string.digits + "-_"),
        ]
    )()


def _email(rng: random.Random) -> str:
    first, last = rng.choice(_FIRST).lower(), rng.choice(_LAST).lower()
    local = rng.choice(
        [
            f"{first}.{last}",
            f"{first}_{last}{rng.randint(1, 99)}",
            f"{first[0]}{last}",
            f"{first}+billing",
            f"{last}-{first}",
        ]
    )
    domain = rng.choice(
        [
            "example.com",
            "mail.example.co.uk",
            "corp.example.de",
            "example.io",
            "uni.example.edu",
            "example.org",
            "shop.example.fr",
            "example.dev",
        ]
    )
    return f"{local}@{domain}"


def generate(seed: int = 20261128) -> list[Planted]:
    rng = random.Random(seed)
    makers = {
        "email": _email,
        "phone": _phone,
        "card": _card,
        "iban": _iban,
        "ip": _ip,
        "secret": _secret,
    }
    out: list[Planted] = []
    for kind in KINDS:
        for _ in range(PER_KIND):
            if kind.startswith("person"):
                value = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
                template = rng.choice(_NAME_CUED if kind == "person (cue)" else _NAME_BARE)
            else:
                value = makers[kind](rng)
                template = rng.choice(_TEMPLATES)
            text = template.replace("{x}", value)
            # In "password: <value>" the value is the secret; the key name is not personal data.
            for key in ("password: ", "api_key=", "token "):
                value = value.removeprefix(key)
            out.append(Planted(kind, value, text, text.index(value)))
    return out


def generate_held_out(seed: int = 20261130) -> list[Planted]:
    """120 names without a cue from the held-out lists and sentences (kind "person (no cue)")."""
    rng = random.Random(seed)
    out: list[Planted] = []
    for _ in range(PER_KIND):
        value = f"{rng.choice(_FIRST_HELD_OUT)} {rng.choice(_LAST_HELD_OUT)}"
        text = rng.choice(_NAME_BARE_HELD_OUT).replace("{x}", value)
        out.append(Planted("person (no cue)", value, text, text.index(value)))
    return out


def recall(scrubber: Scrubber, planted: list[Planted]) -> dict[str, tuple[int, int, int]]:
    """kind -> (items fully removed, of them labelled with the right kind, items)."""
    table: dict[str, list[int]] = {k: [0, 0, 0] for k in KINDS}
    for item in planted:
        findings = scrubber.find(item.text)
        covered = set()
        for f in findings:
            covered.update(range(f.start, f.end))
        row = table[item.kind]
        row[2] += 1
        if all(i in covered for i in range(item.start, item.end)):
            row[0] += 1
            overlapping = [f for f in findings if f.start < item.end and f.end > item.start]
            row[1] += any(f.kind.value == EXPECTED[item.kind] for f in overlapping)
    return {k: (v[0], v[1], v[2]) for k, v in table.items()}


def main() -> None:
    scrubber = Scrubber()
    planted = generate()
    scrubber.find("warm up")
    started = time.perf_counter()
    table = recall(scrubber, planted)
    per_text_ms = (time.perf_counter() - started) / len(planted) * 1000
    print("| kind | planted | removed | recall | labelled right |")
    print("|---|---:|---:|---:|---:|")
    for kind, (found, right, total) in table.items():
        print(f"| {kind} | {total} | {found} | {found / total:.3f} | {right / total:.3f} |")
    found, right, total = recall(scrubber, generate_held_out())["person (no cue)"]
    print(
        f"| person (no cue), held-out set | {total} | {found} | {found / total:.3f} "
        f"| {right / total:.3f} |"
    )
    print(f"\n{per_text_ms:.1f} ms per text on average ({len(planted)} texts)")


if __name__ == "__main__":
    main()
