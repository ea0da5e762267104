"""The library: immutable versions in SQL, active ones in Chroma, strict scope isolation.

Every test runs on SQLite and on PostgreSQL (`database_url`); the integration suite runs this
module again against a real Chroma server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evofuse.errors import UserError
from evofuse.skills import (
    Bundle,
    BundleFile,
    Context,
    ImportStatus,
    Library,
    Origin,
    Scope,
    SkillNotFoundError,
    Status,
    export_skills,
    import_path,
)
from tests.unit.skills.conftest import SEED_SKILLS, MakeLibrary, skill_md, write_skill

ALICE = Context(tenant="acme", user_hash="alice-pseudonym")
BOB = Context(tenant="acme", user_hash="bob-pseudonym")
CAROL = Context(tenant="globex", user_hash="carol-pseudonym")
ACME = Context(tenant="acme")


def names(library: Library, context: Context) -> set[str]:
    return {s.name for s in library.list_skills(context)}


def searched(library: Library, query: str, context: Context) -> list[str]:
    return [r.name for r in library.search(query, context=context, k=20)]


def test_import_then_reimport_unchanged_makes_no_version(library: Library, tmp_path: Path) -> None:
    report = import_path(library, SEED_SKILLS, origin=Origin.SEED)
    assert report.count(ImportStatus.CREATED) == len(list(SEED_SKILLS.iterdir()))
    again = import_path(library, SEED_SKILLS, origin=Origin.SEED)
    assert again.count(ImportStatus.UNCHANGED) == len(again.results)
    versions = library.versions("code-review")
    assert [(v.version, v.status, v.origin, v.parent_version) for v in versions] == [
        (1, "active", "seed", None)
    ]
    assert versions[0].content_hash.startswith("sha256:")


def test_changed_skill_gets_a_new_version_linked_to_its_parent(
    library: Library, tmp_path: Path
) -> None:
    folder = write_skill(tmp_path, "greet", "Greet people politely.", "Say hello.\n")
    import_path(library, folder)
    (folder / "SKILL.md").write_text(skill_md("greet", "Greet people politely.", "Say hi.\n"))
    (folder / "references").mkdir()
    (folder / "references" / "tone.md").write_text("warm")
    report = import_path(library, folder)
    assert [(r.status, r.version) for r in report.results] == [(ImportStatus.CREATED, 2)]
    assert [(v.version, v.status, v.parent_version) for v in library.versions("greet")] == [
        (1, "retired", None),
        (2, "active", 1),
    ]
    loaded = library.load("greet")
    assert loaded.spec.body == "Say hi.\n"
    assert [f.path for f in loaded.bundle.files] == ["SKILL.md", "references/tone.md"]
    # Going back to the old content does not create a third version.
    (folder / "SKILL.md").write_text(skill_md("greet", "Greet people politely.", "Say hello.\n"))
    (folder / "references" / "tone.md").unlink()
    (folder / "references").rmdir()
    report = import_path(library, folder)
    assert [(r.status, r.version) for r in report.results] == [(ImportStatus.UNCHANGED, 1)]


def test_versions_are_immutable_rows(library: Library) -> None:
    first = library.publish(Bundle.of([BundleFile("SKILL.md", skill_md("imm", "d").encode())]))
    second = library.publish(
        Bundle.of([BundleFile("SKILL.md", skill_md("imm", "d", "changed\n").encode())])
    )
    assert first.created and second.created
    old = library.load("imm", version=1)
    assert old.info.content_hash == first.version.content_hash
    assert old.bundle.skill_md == skill_md("imm", "d").encode()


def test_invalid_skills_are_reported_and_do_not_stop_valid_ones(
    library: Library, tmp_path: Path
) -> None:
    write_skill(tmp_path, "good", "A fine skill.")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "SKILL.md").write_text("---\nname: bad\n---\nno description\n")
    wrong = tmp_path / "wrong-folder"
    wrong.mkdir()
    (wrong / "SKILL.md").write_text(skill_md("other-name", "d"))
    report = import_path(library, tmp_path)
    by_path = {Path(r.path).name: r for r in report.results}
    assert by_path["good"].status is ImportStatus.CREATED
    assert by_path["bad"].status is ImportStatus.INVALID
    assert [str(i) for i in by_path["bad"].issues] == [
        f"{bad / 'SKILL.md'}: description: missing; say what the skill does and when to use it"
    ]
    assert by_path["wrong-folder"].status is ImportStatus.INVALID
    assert names(library, Context()) == {"good"}


def test_strict_import_rejects_specification_warnings(library: Library, tmp_path: Path) -> None:
    write_skill(tmp_path, "long", "d" * 1100)
    assert import_path(library, tmp_path, strict=True).count(ImportStatus.INVALID) == 1
    report = import_path(library, tmp_path)
    assert report.count(ImportStatus.CREATED) == 1
    assert [i.field for i in report.warnings] == ["description"]
    assert library.versions("long")[0].issues[0]["field"] == "description"


def test_search_finds_the_relevant_skill_first(library: Library) -> None:
    import_path(library, SEED_SKILLS, origin=Origin.SEED)
    results = library.search("this SQL query takes forever on a big table", k=3)
    assert results[0].name == "sql-review"
    assert results[0].score > results[1].score >= results[2].score


def test_user_and_tenant_skills_never_leak(library: Library, tmp_path: Path) -> None:
    write_skill(tmp_path / "a", "alice-notes", "Write Alice's private weekly status notes.")
    write_skill(tmp_path / "t", "acme-release", "Prepare the acme release checklist.")
    write_skill(tmp_path / "g", "public-helper", "Help with weekly status notes for anyone.")
    import_path(library, tmp_path / "a", scope=Scope.USER, context=ALICE)
    import_path(library, tmp_path / "t", scope=Scope.TENANT, context=ACME)
    import_path(library, tmp_path / "g")

    assert names(library, ALICE) == {"alice-notes", "acme-release", "public-helper"}
    assert names(library, BOB) == {"acme-release", "public-helper"}
    assert names(library, CAROL) == {"public-helper"}
    assert names(library, Context()) == {"public-helper"}
    # A user id that equals Alice's in another tenant is another user.
    assert names(library, Context("globex", ALICE.user_hash)) == {"public-helper"}

    query = "weekly status notes and the release checklist"
    assert set(searched(library, query, ALICE)) == {"alice-notes", "acme-release", "public-helper"}
    assert set(searched(library, query, BOB)) == {"acme-release", "public-helper"}
    assert set(searched(library, query, CAROL)) == {"public-helper"}
    for context in (BOB, CAROL, Context()):
        with pytest.raises(SkillNotFoundError):
            library.load("alice-notes", context=context)
    with pytest.raises(SkillNotFoundError):
        library.versions("acme-release", context=CAROL)


def test_most_specific_scope_wins_for_a_shared_name(library: Library, tmp_path: Path) -> None:
    write_skill(tmp_path / "g", "style", "House style, global version.")
    write_skill(tmp_path / "u", "style", "House style, Alice's version.")
    import_path(library, tmp_path / "g")
    import_path(library, tmp_path / "u", scope=Scope.USER, context=ALICE)
    assert library.load("style", context=ALICE).info.scope == "user"
    assert library.load("style", context=BOB).info.scope == "global"
    assert library.load("style", context=ALICE, scope=Scope.GLOBAL).info.scope == "global"


def test_scoped_import_needs_its_owner(library: Library, tmp_path: Path) -> None:
    write_skill(tmp_path, "x", "d")
    with pytest.raises(UserError, match="needs a user"):
        import_path(library, tmp_path, scope=Scope.USER, context=ACME)
    with pytest.raises(UserError, match="needs a tenant"):
        import_path(library, tmp_path, scope=Scope.TENANT)


def test_rollback_activates_the_parent_and_updates_search(library: Library, tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "tone", "Rewrite emails in a friendly tone.")
    import_path(library, folder)
    (folder / "SKILL.md").write_text(skill_md("tone", "Translate invoices into German."))
    import_path(library, folder)
    assert searched(library, "rewrite this email to sound friendlier", Context())[0] == "tone"
    assert library.search("translate my invoice to German", k=1)[0].version == 2

    info = library.rollback("tone")
    assert (info.version, info.status) == (1, "active")
    assert [(v.version, v.status) for v in library.versions("tone")] == [
        (1, "active"),
        (2, "retired"),
    ]
    assert library.search("rewrite this email to sound friendlier", k=1)[0].version == 1
    with pytest.raises(UserError, match="no earlier version"):
        library.rollback("tone")
    assert library.rollback("tone", to=2).version == 2
    with pytest.raises(UserError, match="already the active version"):
        library.rollback("tone", to=2)
    with pytest.raises(SkillNotFoundError, match="no version 9"):
        library.rollback("tone", to=9)


def test_candidates_are_stored_but_not_served_until_activated(library: Library) -> None:
    base = library.publish(Bundle.of([BundleFile("SKILL.md", skill_md("c", "d").encode())]))
    candidate = library.publish(
        Bundle.of([BundleFile("SKILL.md", skill_md("c", "d", "better\n").encode())]),
        origin=Origin.EVOLUTION,
        status=Status.CANDIDATE,
        note="clearer steps",
    )
    assert candidate.version.parent_version == base.version.version
    assert library.load("c").info.version == 1
    assert library.versions("c")[1].note == "clearer steps"
    library.activate("c", 2)
    assert [(v.version, v.status) for v in library.versions("c")] == [(1, "retired"), (2, "active")]


def test_retire_removes_a_skill_from_search(library: Library) -> None:
    library.publish(
        Bundle.of([BundleFile("SKILL.md", skill_md("old", "Make ASCII art banners.").encode())])
    )
    assert searched(library, "make an ascii art banner", Context()) == ["old"]
    library.retire("old")
    assert searched(library, "make an ascii art banner", Context()) == []
    assert library.list_skills()[0].active_version is None


def test_export_is_byte_identical_and_force_replaces(library: Library, tmp_path: Path) -> None:
    import_path(library, SEED_SKILLS, origin=Origin.SEED)
    out = tmp_path / "out"
    written = export_skills(library, out)
    assert sorted(p.name for p in written) == sorted(p.name for p in SEED_SKILLS.iterdir())
    for folder in SEED_SKILLS.iterdir():
        assert (out / folder.name / "SKILL.md").read_bytes() == (folder / "SKILL.md").read_bytes()
    (out / "code-review" / "stray.txt").write_text("left over")
    with pytest.raises(UserError, match="already exist"):
        export_skills(library, out, names=["code-review"])
    export_skills(library, out, names=["code-review"], force=True)
    assert sorted(p.name for p in (out / "code-review").iterdir()) == ["SKILL.md"]


def test_index_is_repaired_from_sql_when_it_drifts(make_library: MakeLibrary) -> None:
    library = make_library()
    import_path(library, SEED_SKILLS, origin=Origin.SEED)
    skill_ids = sorted(library.index.snapshot())
    library.index.delete(skill_ids[:3])  # lost writes, e.g. Chroma was down
    assert len(library.index.snapshot()) == len(skill_ids) - 3
    reopened = make_library()  # opening syncs the index from SQL
    assert sorted(reopened.index.snapshot()) == skill_ids
    assert reopened.sync_index() == (0, 0)
    assert reopened.search("write a commit message for my diff", k=1)[0].name == "commit-message"
