"""DELETE /v1/users/{user_id} (forget a user) and GET /v1/audit (the audit log): admin keys.

An admin key acts for its own tenant only; `?tenant=NAME` names another one, which only an
operator key may (forgetting a user of a customer tenant, say). A tenant's admin reads only its
own tenant's audit entries.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query

from evofuse.api.auth import acting_tenant, actor, require_admin
from evofuse.api.deps import PrincipalDep, StateDep
from evofuse.api.errors import ApiError
from evofuse.api.schemas import ErrorResponse
from evofuse.errors import UnsafeTextError
from evofuse.governance.forget import Forgetter
from evofuse.store import audit
from evofuse.textcheck import check_text

router = APIRouter(tags=["governance"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse},
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse},
}
TenantQuery = Annotated[
    str | None,
    Query(max_length=128, description="The tenant acted for (default: the key's own)"),
]


@router.delete("/v1/users/{user_id}", responses=_ERRORS)
async def forget_user(
    user_id: str, state: StateDep, principal: PrincipalDep, tenant: TenantQuery = None
) -> dict[str, Any]:
    """Delete everything recorded about one end user (the `user` sent with their requests) and
    re-check the skill versions their runs backed; the report says what was retired."""
    require_admin(principal, "forget a user")
    tenant = acting_tenant(principal, tenant, "forget a user")
    try:
        check_text(user_id, "user_id")
    except UnsafeTextError as exc:
        raise ApiError(400, f"{exc.message} {exc.hint}", code=exc.code, param="user_id") from None
    user_hash = state.services.hasher(tenant, user_id)
    assert user_hash is not None  # a path parameter is never empty
    forgetter = Forgetter(state.settings, state.store, state.services.library)
    report = await asyncio.to_thread(
        forgetter.forget, tenant=tenant, user_hash=user_hash, actor=actor(principal)
    )
    return {"object": "user.forgotten", "summary": report.summary(), **report.model_dump()}


@router.get("/v1/audit", responses=_ERRORS)
def audit_log(
    state: StateDep,
    principal: PrincipalDep,
    tenant: TenantQuery = None,
    action: Annotated[str | None, Query(max_length=32, description="e.g. user.forget")] = None,
    limit: int = Query(default=50, ge=1, le=500),
) -> dict[str, Any]:
    """Admin actions, newest first: rollbacks, keys created and revoked, forgotten users,
    versions retired or flagged for review, evolution triggers, retention runs."""
    require_admin(principal, "read the audit log")
    if not principal.operator:  # a tenant's admin sees its own tenant's entries, nobody else's
        tenant = acting_tenant(principal, tenant, "read the audit log")
    rows = audit.entries(state.store, tenant=tenant, action=action, limit=limit)
    return {"object": "list", "data": [audit.document(row) for row in rows]}
