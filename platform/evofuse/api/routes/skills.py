"""The skill library as this tenant (and optionally one of its users) sees it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from evofuse.api.auth import Principal, actor, require_admin, require_operator
from evofuse.api.deps import PrincipalDep, StateDep
from evofuse.api.schemas import ErrorResponse, RollbackRequest
from evofuse.api.state import ApiState
from evofuse.skills.models import Context, SkillInfo, VersionInfo, VersionStats, aware
from evofuse.store import Scope, audit

router = APIRouter(tags=["skills"])
_404: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
}
UserQuery = Annotated[
    str | None,
    Query(max_length=256, description="An end user: adds that user's private skills"),
]


def _context(state: ApiState, principal: Principal, user: str | None) -> Context:
    return Context(principal.tenant, state.services.hasher(principal.tenant, user))


@router.get("/v1/skills", response_model=list[SkillInfo], responses=_404)
def list_skills(state: StateDep, principal: PrincipalDep, user: UserQuery = None) -> Any:
    skills = state.services.library.list_skills(_context(state, principal, user))
    # SQLite returns naive timestamps (written in UTC); the API always says so.
    return [s.model_copy(update={"updated_at": aware(s.updated_at)}) for s in skills]


@router.get("/v1/skills/{name}", responses=_404)
def show_skill(
    name: str, state: StateDep, principal: PrincipalDep, user: UserQuery = None
) -> dict[str, Any]:
    """The active version with its SKILL.md, files and steps."""
    loaded = state.services.library.load(name, context=_context(state, principal, user))
    return {**loaded.summary(), "skill_md": loaded.bundle.skill_md.decode("utf-8", "replace")}


@router.get("/v1/skills/{name}/versions", response_model=list[VersionStats], responses=_404)
def skill_versions(
    name: str, state: StateDep, principal: PrincipalDep, user: UserQuery = None
) -> Any:
    """Every version, oldest first, with the outcomes credited to it (`outcomes`, `mean_score`)."""
    return state.services.library.version_stats(name, context=_context(state, principal, user))


@router.post(
    "/v1/skills/{name}/rollback",
    response_model=VersionInfo,
    responses={**_404, 400: {"model": ErrorResponse}, 403: {"model": ErrorResponse}},
)
def rollback_skill(
    name: str,
    state: StateDep,
    principal: PrincipalDep,
    body: Annotated[RollbackRequest | None, Body()] = None,
    user: UserQuery = None,
) -> Any:
    """Serve an earlier version again: a user's own skill by any key sending that user, a
    tenant's skill by its admin keys, a global skill (it serves every tenant) by operators."""
    return rollback(state, principal, name, to=body.to if body else None, user=user)


def may_roll_back(principal: Principal, scope: Scope) -> bool:
    """Whether this key may change which version a skill of this scope serves."""
    if scope is Scope.GLOBAL:
        return principal.operator
    return scope is not Scope.TENANT or principal.admin


def rollback(
    state: ApiState, principal: Principal, name: str, *, to: int | None, user: str | None
) -> VersionInfo:
    """The rollback of the API and the dashboard: the same rule, the same audit entry."""
    context = _context(state, principal, user)
    library = state.services.library
    scope = Scope(library.versions(name, context=context)[0].scope)
    if scope is Scope.GLOBAL:
        require_operator(
            principal, f"roll back {name}", "it is a global skill, shared by every tenant"
        )
    elif scope is Scope.TENANT:
        require_admin(principal, f"roll back {name}, a skill of tenant {principal.tenant!r}")
    info = library.rollback(name, to=to, context=context, scope=scope)
    audit.record(
        state.store,
        actor=actor(principal),
        action=audit.AuditAction.SKILL_ROLLBACK,
        tenant=info.tenant if scope is not Scope.GLOBAL else "",
        target=f"{name} v{info.version}",
        detail={"scope": scope.value, "requested": to},
    )
    return info
