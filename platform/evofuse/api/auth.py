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
    admin: bool = False

    @property
    def limited(self) -> bool:
        return self.key_id is not None and (
            self.rpm is not None or self.daily_budget_usd is not None
        )


ANONYMOUS = Principal(tenant="", admin=True)


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
        admin=row.admin,
    )
