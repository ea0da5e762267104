"""Planted personal data never reaches the LLM, a stored version, a report or a Chroma document."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import select

from evofuse.store import SkillFileRow
from evofuse.store.evolution import EvolutionRunRow
from tests.integration.evolution.conftest import Env

PLANTED = {
    "email": "jane.roe@example.org",
    "phone": "+1 415 555 2671",
    "card": "4111 1111 1111 1111",
    "iban": "DE89 3704 0044 0532 0130 00",
    "ip": "203.0.113.77",
    "key": "sk-proj-AbCdEf1234567890GhIjKlMn",
    "name": "Priya Raman",
}
TASK = (
    "My name is Priya Raman, mail jane.roe@example.org or call +1 415 555 2671. Review this SQL "
    "migration from 203.0.113.77 with key sk-proj-AbCdEf1234567890GhIjKlMn: ALTER TABLE pay ADD "
    "iban text -- DE89 3704 0044 0532 0130 00, card 4111 1111 1111 1111"
)
COMMENT = (
    "Wrong again. Write to jane.roe@example.org, card 4111 1111 1111 1111.\nRegards,\nPriya Raman"
)


def _chroma_documents(env: Env) -> list[str]:
    docs: list[str] = []
    index: Any = env.library.index
    for collection in (index._global, index._private):  # the index has no public dump
        docs += collection.get(include=["documents"]).get("documents") or []
    return docs


def test_planted_pii_appears_nowhere_evolution_writes_or_sends(env: Env) -> None:
    env.publish()
    for user in ("alice", "bob", "carol"):
        for _ in range(3):
            env.record(
                user,
                score=0.1,
                comment=COMMENT,
                task=TASK,
                answer=TASK,
                error=f"timeout talking to {PLANTED['ip']} as {PLANTED['email']}",
            )
    for i in range(4):
        env.record(f"holdout-user-{i}", score=0.5, held_out=True, task=TASK)
    for user in ("dan", "eve", "fay", "gus"):  # no-skill pool tasks for the Extractor
        env.record(user, skill=None, task=TASK)
    env.brain.evolver = "pii"  # the model "hallucinates" an address into its patch

    report = env.cycle()

    [proposal] = [p for p in report.proposals if p.source == "evolver"]
    assert proposal.status == "rejected"
    assert proposal.reason.startswith("pii: contains EMAIL_ADDRESS")
    # The report keeps the change it refused, with the address scrubbed like all its text.
    assert "+Escalate to <EMAIL_ADDRESS> when unsure." in proposal.diff
    with env.store.session() as session:
        files = [row.decode("utf-8") for row in session.exec(select(SkillFileRow.data)).all()]
        stored = session.exec(select(EvolutionRunRow.report)).all()
    texts = {
        "a prompt sent to the models": "\n".join(env.brain.seen),
        "a stored skill file": "\n".join(files),
        "a stored report": json.dumps(stored),
        "a Chroma document": "\n".join(_chroma_documents(env)),
    }
    for kind, planted in [*PLANTED.items(), ("hallucinated", env.brain.planted)]:
        for where, text in texts.items():
            assert planted not in text, f"planted {kind} found in {where}"
    # Scrubbed, not dropped: the evidence still reads, with the kind in place of the value.
    shown = json.dumps(stored)
    for tag in (
        "<EMAIL_ADDRESS>",
        "<PHONE_NUMBER>",
        "<CREDIT_CARD>",
        "<IBAN_CODE>",
        "<IP_ADDRESS>",
        "<SECRET>",
        "<PERSON>",
    ):
        assert tag in shown
    assert "<EMAIL_ADDRESS>" in texts["a prompt sent to the models"]
