"""Who is calling: `Authorization: Bearer <key>` resolves to a tenant and the key's limits."""

from __future__ import annotations

from dataclasses import dataclass

from evofuse.api.errors import ApiError
from evofuse.store import Store
from evofuse.store.keys import find_key

_CREATE_HINT = "Create one with `evofuse keys create --tenant NAME` and send it as a Bearer token."


@dataclass(frozen=True)
class Principal:
    """The caller. With auth disabled: the anonymous tenant "", allowed everything."""

    tenant: str
    key_id: str | None = None
    rpm: int | None = None
    daily_budget_usd: float | None = None
    admin: bool = False  # may act for its own tenant: forget users, read its audit entries
    operator: bool = False  # may act for every tenant, run evolution, roll back global skills

    @property
    def limited(self) -> bool:
        return self.key_id is not None and (
            self.rpm is not None or self.daily_budget_usd is not None
        )


ANONYMOUS = Principal(tenant="", admin=True, operator=True)


def require_admin(principal: Principal, what: str) -> None:
    """A 403 unless the key is an admin (of its tenant) or an operator."""
    if not principal.admin:
        raise ApiError(
            403,
            f"Only an admin key may {what}: create one with `evofuse keys create --tenant NAME "
            "--admin`.",
            code="admin_required",
        )


def require_operator(principal: Principal, what: str, why: str) -> None:
    """A 403 unless the key is an operator: the action reaches beyond the key's own tenant."""
    if not principal.operator:
        raise ApiError(
            403,
            f"Only an operator key may {what}: {why}. Create one with `evofuse keys create "
            "--tenant NAME --operator`.",
            code="operator_required",
        )


def acting_tenant(principal: Principal, tenant: str | None, what: str) -> str:
    """The tenant an admin action applies to: the key's own, or another one for operators."""
    if tenant is None or tenant == principal.tenant:
        return principal.tenant
    require_operator(principal, what + " of another tenant", "an admin key acts for its own")
    return tenant


def actor(principal: Principal) -> str:
    """Who did it, for the audit log: the key's id (auth off: nobody could be told apart)."""
    return principal.key_id or "anonymous (auth disabled)"


def authenticate(store: Store, authorization: str | None, *, enabled: bool) -> Principal:
    """The principal of a request, or a 401 in OpenAI's shape."""
    if not enabled:
        return ANONYMOUS
    if not authorization:
        raise ApiError(
            401,
            "No API key: send `Authorization: Bearer <key>`. " + _CREATE_HINT,
            code="missing_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    scheme, _, secret = authorization.strip().partition(" ")
    secret = secret.strip()
    row = find_key(store, secret) if scheme.lower() == "bearer" and secret else None
    if row is None:
        raise ApiError(
            401,
            "Invalid or revoked API key. " + _CREATE_HINT,
            code="invalid_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Principal(
        tenant=row.tenant,
        key_id=row.id,
        rpm=row.rpm,
        daily_budget_usd=row.daily_budget_usd,
        admin=row.admin or row.operator,
        operator=row.operator,
    )
