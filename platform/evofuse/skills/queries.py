"""SQL lookups and updates the library is built from, each inside the caller's session."""

from __future__ import annotations

from sqlmodel import Session, col, func, select

from evofuse.errors import SkillNotFoundError, UserError
from evofuse.skills.bundle import Bundle, BundleFile
from evofuse.skills.models import Context, LoadedSkill, VersionInfo
from evofuse.skills.spec import parse_skill_md
from evofuse.store import OutcomeRow, Scope, SkillFileRow, SkillRow, SkillVersionRow, Status

# The most specific skill wins when names collide: a user's own, then the tenant's, then global.
_PRECEDENCE = {Scope.USER.value: 0, Scope.TENANT.value: 1, Scope.GLOBAL.value: 2}


def find_identity(
    session: Session, name: str, scope: str, tenant: str, owner: str
) -> SkillRow | None:
    return session.exec(
        select(SkillRow).where(
            col(SkillRow.name) == name,
            col(SkillRow.scope) == scope,
            col(SkillRow.tenant) == tenant,
            col(SkillRow.owner) == owner,
        )
    ).first()


def resolve(session: Session, name: str, context: Context, scope: Scope | None) -> SkillRow:
    """The skill `name` as `context` sees it (the most specific scope wins)."""
    rows = session.exec(select(SkillRow).where(col(SkillRow.name) == name)).all()
    visible = [r for r in rows if context.can_see(r) and (scope is None or r.scope == scope)]
    if not visible:
        where = f" in scope {scope.value}" if scope else ""
        raise SkillNotFoundError(
            f"No skill named {name!r}{where} is visible here.",
            hint="Check the name with `evofuse skills list` "
            "(add --tenant/--user for private skills).",
        )
    return min(visible, key=lambda r: _PRECEDENCE[r.scope])


def versions_of(session: Session, skill: SkillRow) -> list[SkillVersionRow]:
    """Every version of `skill`, oldest first."""
    return list(
        session.exec(
            select(SkillVersionRow)
            .where(col(SkillVersionRow.skill_id) == skill.id)
            .order_by(col(SkillVersionRow.version))
        ).all()
    )


def outcome_stats(session: Session, version_ids: list[int]) -> dict[int, tuple[int, float]]:
    """Per version row: how many outcomes it was credited and their mean score."""
    rows = session.exec(
        select(col(OutcomeRow.skill_version_id), func.count(), func.avg(col(OutcomeRow.score)))
        .where(col(OutcomeRow.skill_version_id).in_(version_ids))
        .group_by(col(OutcomeRow.skill_version_id))
    ).all()
    return {int(v): (int(n), float(mean)) for v, n, mean in rows}


def version_of(session: Session, skill: SkillRow, version: int) -> SkillVersionRow:
    for row in versions_of(session, skill):
        if row.version == version:
            return row
    raise SkillNotFoundError(
        f"{skill.name} has no version {version}.",
        hint=f"See `evofuse skills versions {skill.name}`.",
    )


def load_version(session: Session, skill: SkillRow, row: SkillVersionRow) -> LoadedSkill:
    """A stored version with its files and parsed SKILL.md."""
    files = session.exec(select(SkillFileRow).where(col(SkillFileRow.version_id) == row.id)).all()
    bundle = Bundle.of([BundleFile(f.path, f.data, f.executable) for f in files])
    spec, issues = parse_skill_md(bundle.skill_md, path=f"{skill.name} v{row.version}")
    if spec is None:  # stored versions were valid when stored: the rows were edited since
        raise UserError("Stored skill is corrupt: " + "; ".join(str(i) for i in issues))
    return LoadedSkill(info=VersionInfo.of(skill, row), spec=spec, bundle=bundle)


def make_active(session: Session, skill: SkillRow, row: SkillVersionRow) -> None:
    """`row` becomes the one active version of `skill`; the previous active one is retired."""
    for other in session.exec(
        select(SkillVersionRow).where(
            col(SkillVersionRow.skill_id) == skill.id,
            col(SkillVersionRow.status) == Status.ACTIVE.value,
        )
    ):
        other.status = Status.RETIRED.value
        session.add(other)
    row.status = Status.ACTIVE.value
    session.add(row)
    skill.active_version = row.version
