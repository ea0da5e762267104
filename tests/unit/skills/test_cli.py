"""`evofuse skills …` end to end in-process: exit codes, one JSON document with --json."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from evofuse.cli.app import main
from evofuse.store import Store, record_outcome
from tests.unit.skills.conftest import SEED_SKILLS, skill_md, write_skill


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EVOFUSE_USER_HASH_SECRET", "test-secret")
    path = tmp_path / "evofuse.yaml"
    path.write_text(
        "model_list:\n"
        "  - model_name: m\n"
        "    litellm_params: {model: openai/m, api_base: 'http://m.test/v1', api_key: sk-test}\n"
        "fusion: {default_profile: p, profiles: {p: {models: [m], mode: single}}}\n"
        f"storage: {{database_url: '{database_url}', chroma: '{tmp_path / 'chroma'}'}}\n"
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["evofuse", "skills", *args])
        return _main(capsys)


def _main(capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)  # exactly one document: json.loads refuses trailing data


def test_import_list_search_versions_rollback_export(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    c = str(config)
    imported = run_json(capsys, "import", str(SEED_SKILLS), "--origin", "seed", "--config", c)
    assert imported["counts"] == {"created": 12, "unchanged": 0, "invalid": 0}

    listed = run_json(capsys, "list", "--config", c)
    assert [s["name"] for s in listed] == sorted(p.name for p in SEED_SKILLS.iterdir())

    found = run_json(capsys, "search", "why is this SQL query slow", "--config", c)
    assert found[0]["name"] == "sql-review"
    assert set(found[0]) == {"name", "version", "score"}
    assert [r["score"] for r in found] == sorted((r["score"] for r in found), reverse=True)

    folder = write_skill(tmp_path / "mine", "code-review", "Review code, my way.")
    (folder / "SKILL.md").write_text(skill_md("code-review", "Review code, my way."))
    assert run_json(capsys, "import", str(folder), "--config", c)["counts"]["created"] == 1
    versions = run_json(capsys, "versions", "code-review", "--config", c)
    assert [(v["version"], v["status"], v["parent_version"]) for v in versions] == [
        (1, "retired", None),
        (2, "active", 1),
    ]
    rolled = run_json(capsys, "rollback", "code-review", "--config", c)
    assert (rolled["version"], rolled["status"]) == (1, "active")

    shown = run_json(capsys, "show", "code-review", "--config", c)
    assert shown["version"] == 1 and shown["files"] == ["SKILL.md"]
    assert [s["mode"] for s in shown["steps"]] == ["merge", "debate", "merge"]

    out = tmp_path / "export"
    written = run_json(capsys, "export", str(out), "--config", c)["written"]
    assert len(written) == 12
    original = (SEED_SKILLS / "code-review" / "SKILL.md").read_bytes()
    assert (out / "code-review" / "SKILL.md").read_bytes() == original


def test_tables_without_json(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, _ = run(capsys, "import", str(SEED_SKILLS), "--config", str(config))
    assert code == 0 and "12 created" in out
    code, out, _ = run(capsys, "show", "sql-review", "--config", str(config))
    assert code == 0 and "1. find-issues (debate)" in out


def test_route_explains_the_selector_s_choice_and_its_misses(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    c = str(config)
    run_json(capsys, "import", str(SEED_SKILLS), "--origin", "seed", "--config", c)

    routed = run_json(capsys, "route", "why is this postgres query so slow", "--config", c)
    assert routed["skill"] == {"name": "sql-review", "version": 1}
    assert set(routed) == {"skill", "reason", "threshold", "lexical_weight", "nearest"}
    nearest = routed["nearest"]
    assert len(nearest) == 5 and nearest[0]["name"] == "sql-review" and nearest[0]["relevant"]
    assert [m["relevance"] for m in nearest] == sorted(
        (m["relevance"] for m in nearest), reverse=True
    )
    for m in nearest:  # each row carries the numbers the cut looked at
        weighted = m["similarity"] + routed["lexical_weight"] * m["lexical"]
        assert m["relevance"] == pytest.approx(weighted, abs=2e-4)
        assert m["relevant"] == (m["relevance"] >= routed["threshold"])

    missed = run_json(capsys, "route", "hello", "-k", "2", "--config", c)
    assert missed["skill"] is None and "no skill is relevant enough" in missed["reason"]
    assert len(missed["nearest"]) == 2 and not any(m["relevant"] for m in missed["nearest"])

    # A tenant's own skill is routed to for that tenant only.
    write_skill(tmp_path / "t", "acme-invoices", "Check Acme supplier invoices for VAT errors.")
    tenant = ["--scope", "tenant", "--tenant", "acme", "--config", c]
    assert run_json(capsys, "import", str(tmp_path / "t"), *tenant)["counts"]["created"] == 1
    task = "check this supplier invoice for VAT errors"
    mine = run_json(capsys, "route", task, "--tenant", "acme", "--config", c)
    assert mine["skill"]["name"] == "acme-invoices"
    other = run_json(capsys, "route", task, "--tenant", "globex", "--config", c)
    assert all(m["name"] != "acme-invoices" for m in other["nearest"])

    code, out, _ = run(capsys, "route", "hello", "-k", "1", "--config", c)
    assert code == 0 and out.startswith("no skill:") and "; no skill below 0." in out
    code, out, err = run(capsys, "route", "  ", "--json", "--config", c)
    assert (code, out) == (2, "") and "TASK is empty" in err and "Hint:" in err


def test_user_mistakes_exit_2_with_a_hint(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    c = str(config)
    code, out, err = run(capsys, "show", "no-such-skill", "--json", "--config", c)
    assert (code, out) == (2, "")
    assert "No skill named 'no-such-skill'" in err and "Hint:" in err
    code, _, err = run(capsys, "import", str(tmp_path / "nowhere"), "--config", c)
    assert code == 2 and "does not exist" in err
    code, _, err = run(capsys, "list", "--config", str(tmp_path / "missing.yaml"))
    assert code == 2


def test_import_reports_invalid_skills_and_keeps_the_valid_ones(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    write_skill(tmp_path / "batch", "fine", "A fine skill.")
    broken = tmp_path / "batch" / "broken"
    broken.mkdir()
    (broken / "SKILL.md").write_text("---\nname: broken\ndescription: [\n---\n")
    code, out, err = run(
        capsys, "import", str(tmp_path / "batch"), "--json", "--config", str(config)
    )
    assert code == 2
    report = json.loads(out)
    assert report["counts"] == {"created": 1, "unchanged": 0, "invalid": 1}
    (bad,) = [r for r in report["results"] if r["status"] == "invalid"]
    assert bad["issues"][0]["field"] == "frontmatter"
    assert "invalid YAML" in bad["issues"][0]["message"]
    assert "1 skill(s) were not imported" in err


def test_private_skills_by_user(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    c = str(config)
    write_skill(tmp_path / "p", "alice-notes", "Alice's private notes.")
    args = ["--scope", "user", "--tenant", "acme", "--user", "alice", "--config", c]
    assert run_json(capsys, "import", str(tmp_path / "p"), *args)["counts"]["created"] == 1
    assert [
        s["name"]
        for s in run_json(capsys, "list", "--tenant", "acme", "--user", "alice", "--config", c)
    ] == ["alice-notes"]
    assert run_json(capsys, "list", "--tenant", "acme", "--user", "bob", "--config", c) == []
    assert len(run_json(capsys, "list", "--all", "--config", c)) == 1


def test_versions_report_the_outcomes_credited_to_each_exact_version(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    tmp_path: Path,
    database_url: str,
) -> None:
    c = str(config)
    write_skill(tmp_path / "g", "sql-review", "Review SQL.", "Global steps.\n")
    write_skill(tmp_path / "t", "sql-review", "Review SQL.", "Acme's steps.\n")
    assert run_json(capsys, "import", str(tmp_path / "g"), "--config", c)["counts"]["created"] == 1
    tenant = ["--scope", "tenant", "--tenant", "acme", "--config", c]
    assert run_json(capsys, "import", str(tmp_path / "t"), *tenant)["counts"]["created"] == 1
    [global_v1] = run_json(capsys, "versions", "sql-review", "--scope", "global", "--config", c)
    [acme_v1] = run_json(capsys, "versions", "sql-review", *tenant)
    assert (global_v1["outcomes"], global_v1["mean_score"]) == (0, None)

    store = Store(database_url)
    try:
        with store.session() as session:
            for version_id, tenant_name, score in [
                (global_v1["id"], "globex", 0.2),
                (global_v1["id"], "initech", 0.6),
                (acme_v1["id"], "acme", 1.0),
            ]:
                record_outcome(
                    session,
                    run_id=f"run-{tenant_name}",
                    skill_version_id=version_id,
                    skill_name="sql-review",
                    version=1,
                    tenant=tenant_name,
                    user_hash="u",
                    score=score,
                    source="feedback",
                )
    finally:
        store.close()
    [global_v1] = run_json(capsys, "versions", "sql-review", "--scope", "global", "--config", c)
    [acme_v1] = run_json(capsys, "versions", "sql-review", *tenant)
    assert (global_v1["outcomes"], global_v1["mean_score"]) == (2, 0.4)
    assert (acme_v1["outcomes"], acme_v1["mean_score"]) == (1, 1.0)
    code, out, _ = run(capsys, "versions", "sql-review", *tenant)
    assert code == 0 and "outcomes" in out and "1.000" in out
