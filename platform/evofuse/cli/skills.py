"""`evofuse skills …`: list, show, search, route, import, export, versions, rollback, reindex.

Commands are thin: the work happens in `evofuse.skills`. With --json each prints exactly one
JSON document on stdout; tables, progress and warnings go elsewhere (stdout tables without
--json, progress and warnings on stderr).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evofuse.cli.options import ConfigOption, JsonOption, load

if TYPE_CHECKING:
    from evofuse.skills import Context, Library, Scope

app = typer.Typer(
    name="skills",
    help="The skill library: Agent Skills (SKILL.md folders), versioned, searchable.",
    no_args_is_help=True,
)

TenantOption = Annotated[
    str, typer.Option("--tenant", help="Tenant whose skills to include (and own, on import).")
]
UserOption = Annotated[
    str | None, typer.Option("--user", help="End user whose private skills to include.")
]
ScopeOption = Annotated[
    str | None,
    typer.Option("--scope", help="global, tenant or user (default: the most specific match)."),
]
NameArgument = Annotated[str, typer.Argument(help="Skill name.")]


def _out() -> Console:
    return Console(highlight=False)


def _err() -> Console:
    return Console(stderr=True, highlight=False)


def _emit(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, default=str) + "\n")


def _open(config: Path | None) -> Library:
    from evofuse.skills import Library

    return Library.from_settings(load(config))


def _context(tenant: str, user: str | None) -> Context:
    from evofuse.identity import UserHasher
    from evofuse.skills import Context

    # The same pseudonym the server computes for this end user (same secret), so a private
    # skill imported here is the one that user's requests see.
    return Context(tenant=tenant, user_hash=UserHasher()(tenant, user) if user else None)


def _scope(value: str | None) -> Scope | None:
    from evofuse.errors import UserError
    from evofuse.skills import Scope

    if value is None:
        return None
    try:
        return Scope(value)
    except ValueError:
        raise UserError(
            f"--scope {value!r} is not a scope.", hint="Use global, tenant or user."
        ) from None


@app.command("list")
def list_skills(
    tenant: TenantOption = "",
    user: UserOption = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Every skill of every tenant and user (administrators).")
    ] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """List the skills visible here (global, plus --tenant's and --user's own)."""
    library = _open(config)
    try:
        skills = library.list_skills(_context(tenant, user), everything=everything)
    finally:
        library.close()
    if as_json:
        _emit([s.model_dump(mode="json") for s in skills])
        return
    out = _out()
    table = Table(box=None)
    for column in ("name", "scope", "active", "versions", "mode", "description"):
        table.add_column(column, no_wrap=True)
    fixed = max((len(s.name) for s in skills), default=4) + 45  # the other columns and padding
    room = max(16, out.width - fixed)
    for s in skills:
        scope = s.scope if not s.tenant else f"{s.scope}:{s.tenant}"
        active = f"v{s.active_version}" if s.active_version else "-"
        summary = " ".join(s.description.split())
        summary = summary if len(summary) <= room else summary[: room - 1] + "…"
        table.add_row(s.name, scope, active, str(s.versions), s.mode or "-", escape(summary))
    out.print(table if skills else "No skills yet: evofuse skills import skills/")


@app.command("show")
def show(
    name: NameArgument,
    version: Annotated[int | None, typer.Option("--version", help="Default: active.")] = None,
    scope: ScopeOption = None,
    tenant: TenantOption = "",
    user: UserOption = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Show one skill version: lineage, steps, files and instructions."""
    library = _open(config)
    try:
        skill = library.load(
            name, context=_context(tenant, user), version=version, scope=_scope(scope)
        )
    finally:
        library.close()
    if as_json:
        _emit({**skill.summary(), "body": skill.spec.body})
        return
    info, out = skill.info, _out()
    out.print(f"[bold]{info.name}[/] v{info.version} ({info.status}, {info.scope}, {info.origin})")
    parent = f"v{info.parent_version}" if info.parent_version else "-"
    out.print(f"hash {info.content_hash}  parent {parent}  mode {info.mode or '-'}")
    out.print(escape(info.description))
    out.print("steps:")
    for number, step in enumerate(skill.spec.effective_steps(), start=1):
        mode = step.mode.value if step.mode else info.mode or "profile default"
        out.print(f"  {number}. {step.name} ({mode})")
    out.print("files: " + ", ".join(escape(f.path) for f in skill.bundle.files))
    for issue in info.issues:
        out.print(f"[yellow]warning:[/] {escape(issue['field'])}: {escape(issue['message'])}")


@app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="A task, as a user would ask it.")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=100, help="How many.")] = 5,
    tenant: TenantOption = "",
    user: UserOption = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Find the active skills most similar to QUERY (best first)."""
    library = _open(config)
    try:
        results = library.search(query, context=_context(tenant, user), k=k)
    finally:
        library.close()
    if as_json:
        _emit([{"name": r.name, "version": r.version, "score": r.score} for r in results])
        return
    table = Table("score", "name", "version", "scope", box=None)
    for r in results:
        table.add_row(f"{r.score:.3f}", r.name, f"v{r.version}", r.scope)
    _out().print(table)


@app.command("route")
def route(
    task: Annotated[str, typer.Argument(help="A task, as a user would ask it.")],
    k: Annotated[
        int, typer.Option("--k", "-k", min=1, max=100, help="How many near skills to show.")
    ] = 5,
    tenant: TenantOption = "",
    user: UserOption = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Which skill the Selector would pick for TASK, and why: the nearest skills with their
    similarity, lexical score and relevance against the cut. A task that should reach a skill
    but does not usually needs an example request like it in that skill's `evofuse-examples`."""
    from evofuse.errors import UserError
    from evofuse.skills import Selector

    if not task.strip():
        raise UserError("TASK is empty.", hint='Pass the request as a user would write it: "..."')
    library = _open(config)
    try:
        context = _context(tenant, user)
        selector = Selector(library, seed=0)  # seeded: the same answer every time
        messages = [{"role": "user", "content": task}]
        selection = selector.select(messages, tenant=context.tenant, user_hash=context.user_hash)
        near = selector.nearest(task, tenant=context.tenant, user_hash=context.user_hash, k=k)
    finally:
        library.close()
    cut, weight = selector.config.threshold, selector.config.lexical_weight
    if as_json:
        _emit(
            {
                "skill": selection.contract(),
                "reason": selection.reason,
                "threshold": cut,
                "lexical_weight": weight,
                "nearest": [m.model_dump() for m in near],
            }
        )
        return
    picked = f"{selection.name} v{selection.version}" if selection.name else "no skill"
    _out().print(f"[bold]{escape(picked)}[/bold]: {escape(selection.reason)}")
    table = Table(
        "relevance", "similarity", f"lexical (x{weight:g})", f"≥ {cut:g}", "name", "scope", box=None
    )
    for m in near:
        table.add_row(
            f"{m.relevance:.3f}",
            f"{m.similarity:.3f}",
            f"{m.lexical:.3f}",
            "yes" if m.relevant else "no",
            escape(m.name),
            m.scope,
        )
    _out().print(table)
    _out().print(f"Relevance = similarity + {weight:g} x lexical; no skill below {cut:g}.")


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="A skill folder, or a folder of skill folders.")],
    scope: Annotated[str, typer.Option("--scope", help="global, tenant or user.")] = "global",
    tenant: TenantOption = "",
    user: UserOption = None,
    origin: Annotated[str, typer.Option("--origin", help="import, seed or manual.")] = "import",
    strict: Annotated[
        bool, typer.Option("--strict", help="Reject skills with specification warnings too.")
    ] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Import skills. Unchanged skills make no new version; invalid ones are reported (exit 2)."""
    from rich.progress import Progress

    from evofuse.errors import UserError
    from evofuse.skills import ImportStatus, Origin, Scope, import_path

    try:
        origin_value = Origin(origin)
    except ValueError:
        raise UserError(
            f"--origin {origin!r} is not allowed.", hint="Use import, seed or manual."
        ) from None
    library = _open(config)
    try:
        with Progress(console=_err(), transient=True, disable=as_json) as progress:
            task = progress.add_task("Importing", total=None)
            report = import_path(
                library,
                path,
                scope=_scope(scope) or Scope.GLOBAL,
                context=_context(tenant, user),
                origin=origin_value,
                strict=strict,
                progress=lambda name: progress.update(task, description=f"Importing {name}"),
            )
    finally:
        library.close()
    counts = {s.value: report.count(s) for s in ImportStatus}
    if as_json:
        _emit({"counts": counts, "results": [r.as_dict() for r in report.results]})
    else:
        table = Table("name", "result", "version", box=None)
        for r in report.results:
            table.add_row(
                r.name or Path(r.path).name, r.status.value, f"v{r.version}" if r.version else "-"
            )
        _out().print(table)
        _out().print(", ".join(f"{n} {s}" for s, n in counts.items()))
        for r in report.results:
            for issue in r.issues:
                colour = "yellow" if issue.severity == "warning" else "red"
                _err().print(f"[{colour}]{issue.severity}:[/] {escape(str(issue))}")
    invalid = counts[ImportStatus.INVALID.value]
    if invalid:
        # A UserError, not typer.Exit: the CLI's entry point maps it to exit code 2.
        raise UserError(
            f"{invalid} skill(s) were not imported because they are invalid (see above); "
            "the others were imported.",
            hint="Fix the fields named for each file and import again.",
        )


@app.command("export")
def export(
    dest: Annotated[Path, typer.Argument(help="Folder to write <name>/SKILL.md folders into.")],
    names: Annotated[
        list[str] | None, typer.Argument(help="Skills to export (default: all).")
    ] = None,
    version: Annotated[
        int | None, typer.Option("--version", help="A version of one skill.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace existing skill folders (removes extra files).")
    ] = False,
    scope: ScopeOption = None,
    tenant: TenantOption = "",
    user: UserOption = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Write skills back as SKILL.md folders, byte for byte (review evolution as a git diff)."""
    from evofuse.skills import export_skills

    library = _open(config)
    try:
        written = export_skills(
            library,
            dest,
            names=names or None,
            context=_context(tenant, user),
            scope=_scope(scope),
            version=version,
            force=force,
        )
    finally:
        library.close()
    if as_json:
        _emit({"written": [str(p) for p in written]})
        return
    _out().print(f"Exported {len(written)} skill(s) to {dest}")


@app.command("versions")
def versions(
    name: NameArgument,
    scope: ScopeOption = None,
    tenant: TenantOption = "",
    user: UserOption = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """List every version of a skill, oldest first, with its lineage, status and outcomes."""
    library = _open(config)
    try:
        rows = library.version_stats(name, context=_context(tenant, user), scope=_scope(scope))
    finally:
        library.close()
    if as_json:
        _emit([v.model_dump(mode="json") for v in rows])
        return
    table = Table(
        "version", "status", "origin", "parent", "outcomes", "mean", "created", "hash", box=None
    )
    for v in rows:
        table.add_row(
            f"v{v.version}",
            v.status,
            v.origin,
            f"v{v.parent_version}" if v.parent_version else "-",
            str(v.outcomes),
            "-" if v.mean_score is None else f"{v.mean_score:.3f}",
            v.created_at.strftime("%Y-%m-%d %H:%M"),
            v.content_hash.removeprefix("sha256:")[:12],
        )
    _out().print(table)


@app.command("rollback")
def rollback(
    name: NameArgument,
    to: Annotated[
        int | None,
        typer.Option("--to", help="Version to activate (default: the active one's parent)."),
    ] = None,
    scope: ScopeOption = None,
    tenant: TenantOption = "",
    user: UserOption = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Make an earlier version active again; the version active until now is retired."""
    library = _open(config)
    try:
        info = library.rollback(name, to=to, context=_context(tenant, user), scope=_scope(scope))
        from evofuse.store import audit

        audit.record(
            library.store,
            actor=audit.cli_actor(),
            action=audit.AuditAction.SKILL_ROLLBACK,
            tenant=info.tenant,
            target=f"{name} v{info.version}",
            detail={"scope": info.scope, "requested": to},
        )
    finally:
        library.close()
    if as_json:
        _emit(info.model_dump(mode="json"))
        return
    _out().print(f"{info.name} is now at v{info.version}")


@app.command("reindex")
def reindex(as_json: JsonOption = False, config: ConfigOption = None) -> None:
    """Rebuild the Chroma index from SQL (after changing skills.embedding)."""
    from evofuse.skills import Library
    from evofuse.skills.embeddings import make_embedder
    from evofuse.skills.index import open_skill_index
    from evofuse.store import Store

    settings = load(config)
    embedder = make_embedder(settings.skills.embedding, settings.router_model_list())
    # The index is opened for rebuilding: its old backend must not make opening fail.
    index = open_skill_index(settings.storage.chroma, embedder, rebuild=True)
    library = Library(Store(settings.storage.database_url), index, sync=False)
    try:
        count = library.reindex()
    finally:
        library.close()
    if as_json:
        _emit({"indexed": count, "backend": embedder.name})
        return
    _out().print(f"Indexed {count} active skill version(s) with {embedder.name}")
