"""Who supports a change, counted so that one client cannot pose as many people.

The OpenAI `user` field is written by the client: one API key can send any number of user ids.
What the server authenticated is the key, and through it the tenant. So:

- for a change to a **global** skill, one supporter is one tenant: a tenant's end users count
  as one together, unless an operator lists the tenant in `evolution.trusted_user_ids`, vouching
  that it sends real, distinct user ids (then each of its users counts);
- for a tenant's (or a user's) own skill, one supporter is one user of that tenant: only that
  tenant's runs reach it, so its user ids can only move its own skill.

Anonymous runs of a tenant count as one user. Every supporter is an opaque pseudonym (a user's
is already an HMAC; a tenant's is a hash of its name), so prompts never show tenant names.

One key's weight is capped too: at most `evolution.max_runs_per_key` of its runs (the newest) are
evidence for one skill version per cycle. Runs without a key (the operator's CLI, or auth
switched off) have no authenticated client to cap.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import defaultdict
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select as sa_select
from sqlmodel import col, select

from evofuse.config.models import EvolutionSettings
from evofuse.evolution.report import KeySupport, SupportBreakdown, TenantSupport
from evofuse.store import Store
from evofuse.store.runs import RunRow

if TYPE_CHECKING:
    from evofuse.evolution.evidence import EvidenceBuilder, SkillEvidence

GLOBAL = "global"
NO_KEY = "(no key)"


@dataclass(frozen=True)
class Origin:
    """Where one piece of evidence came from, as the server recorded it."""

    tenant: str
    user: str  # the user's pseudonym; "" when the client sent none
    key: str | None  # the id of the API key that sent the run; None from the CLI


def tenant_pseudonym(tenant: str) -> str:
    return "t" + hashlib.sha256(f"tenant:{tenant}".encode()).hexdigest()[:15]


class SupportRules:
    """Turns an origin into a supporter for a skill of a given scope."""

    def __init__(self, settings: EvolutionSettings) -> None:
        self.settings = settings
        self.trusted = frozenset(settings.trusted_user_ids)

    def counts_users(self, scope: str, tenant: str) -> bool:
        return scope != GLOBAL or tenant in self.trusted

    def supporter(self, scope: str, origin: Origin) -> str:
        if not self.counts_users(scope, origin.tenant):
            return tenant_pseudonym(origin.tenant)
        # Anonymous runs of a tenant cannot be told apart: together they count as one user.
        return origin.user or f"{tenant_pseudonym(origin.tenant)}:anonymous"

    def unit(self, scope: str) -> str:
        if scope != GLOBAL:
            return "users of the tenant"
        if self.trusted:
            return "tenants (users of trusted tenants)"
        return "tenants"

    def breakdown(self, scope: str, origins: Iterable[Origin]) -> SupportBreakdown:
        """Support behind some evidence: distinct supporters, and who they are by tenant and key."""
        items: dict[str, int] = defaultdict(int)
        users: dict[str, set[str]] = defaultdict(set)
        keys: dict[str, set[str]] = defaultdict(set)
        key_tenant: dict[str, str] = {}
        key_users: dict[str, set[str]] = defaultdict(set)
        key_items: dict[str, int] = defaultdict(int)
        supporters: set[str] = set()
        for origin in origins:
            key = origin.key or NO_KEY
            supporters.add(self.supporter(scope, origin))
            items[origin.tenant] += 1
            users[origin.tenant].add(origin.user)
            keys[origin.tenant].add(key)
            key_tenant[key] = origin.tenant
            key_users[key].add(origin.user)
            key_items[key] += 1
        return SupportBreakdown(
            counted_as=self.unit(scope),
            distinct=len(supporters),
            needed=self.settings.min_distinct_users,
            tenants=len(items),
            keys=len(key_items),
            users=sum(len(u) for u in users.values()),
            by_tenant=[
                TenantSupport(
                    tenant=tenant,
                    users_count_apart=self.counts_users(scope, tenant),
                    keys=len(keys[tenant]),
                    users=len(users[tenant]),
                    items=n,
                )
                for tenant, n in sorted(items.items())
            ],
            by_key=[
                KeySupport(key=key, tenant=key_tenant[key], users=len(key_users[key]), items=n)
                for key, n in sorted(key_items.items())
            ],
        )


def runs_over_key_cap(
    builder: EvidenceBuilder, by_version: Mapping[int, SkillEvidence]
) -> set[str]:
    """Runs beyond `max_runs_per_key` per API key and skill version (the oldest go first).

    Counts each skill's `capped` runs. One pass over the runs of the active versions, keeping a
    heap of at most `max_runs_per_key` entries per (version, key)."""
    from evofuse.evolution.evidence import stream

    cap = builder.settings.max_runs_per_key
    newest: dict[tuple[int, str], list[tuple[datetime, str]]] = defaultdict(list)
    over: set[str] = set()
    query = sa_select(
        col(RunRow.id), col(RunRow.skill_version_id), col(RunRow.api_key_id), col(RunRow.created_at)
    ).where(col(RunRow.skill_version_id).in_(list(by_version)), col(RunRow.api_key_id).is_not(None))
    with builder.store.session() as session, ExitStack() as stack:
        for run_id, version_id, key, created_at in stack.enter_context(stream(session, query)):
            if builder.held_out(run_id):
                continue
            heap = newest[(version_id, key)]
            entry = (created_at, run_id)
            if len(heap) < cap:
                heapq.heappush(heap, entry)
                continue
            dropped = heapq.heappushpop(heap, entry)
            over.add(dropped[1])
            by_version[version_id].capped += 1
    return over


def load_origins(store: Store, run_ids: Iterable[str]) -> list[Origin]:
    """Where the runs came from, as recorded when the server authenticated them."""
    ids = sorted(set(run_ids))
    if not ids:
        return []
    with store.session() as session:
        rows = session.exec(
            select(RunRow.tenant, RunRow.user_hash, RunRow.api_key_id).where(
                col(RunRow.id).in_(ids)
            )
        ).all()
    return [Origin(tenant, user_hash or "", key) for tenant, user_hash, key in rows]
