"""`evofuse keys …` and `evofuse serve`'s refusal to expose an API without keys."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from evofuse.cli.app import main
from evofuse.cli.serve import check_exposure, is_loopback
from evofuse.config.loader import load_settings
from evofuse.store import Store
from evofuse.store.keys import find_key


def write_config(tmp_path: Path, *, auth: bool = True) -> Path:
    path = tmp_path / "evofuse.yaml"
    path.write_text(
        "model_list:\n"
        "  - model_name: m\n"
        "    litellm_params: {model: openai/m, api_base: 'http://127.0.0.1:9/v1', api_key: sk-t}\n"
        "fusion: {default_profile: p, profiles: {p: {models: [m], mode: single}}}\n"
        f"storage: {{database_url: 'sqlite:///{tmp_path}/e.db', chroma: '{tmp_path}/chroma'}}\n"
        f"auth: {{enabled: {'true' if auth else 'false'}}}\n"
    )
    return path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["evofuse", *args])
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = cli(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)  # exactly one document


def test_keys_create_prints_the_key_once_and_stores_its_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path))
    code, out, err = cli(
        capsys, "keys", "create", "--tenant", "acme", "--rpm", "30", "--config", config
    )
    assert code == 0, err
    secret = out.strip()
    assert out == secret + "\n" and secret.startswith("efk-")  # nothing else on stdout
    assert "shown only once" in err

    made = cli_json(
        capsys,
        "keys",
        "create",
        "--tenant",
        "globex",
        "--daily-budget-usd",
        "2.5",
        "--name",
        "ci",
        "--config",
        config,
    )
    assert made["tenant"] == "globex" and made["daily_budget_usd"] == 2.5
    store = Store(f"sqlite:///{tmp_path}/e.db")
    try:
        row = find_key(store, made["key"])
        assert row is not None and row.id == made["id"] and row.name == "ci"
        first = find_key(store, secret)
        assert first is not None and first.rpm == 30
    finally:
        store.close()

    listed = cli_json(capsys, "keys", "list", "--config", config)
    assert {k["tenant"] for k in listed} == {"acme", "globex"}
    assert secret not in json.dumps(listed) and made["key"] not in json.dumps(listed)
    only = cli_json(capsys, "keys", "list", "--tenant", "acme", "--config", config)
    assert [k["hint"] for k in only] == [secret[:12] + "…"]

    revoked = cli_json(capsys, "keys", "revoke", made["id"], "--config", config)
    assert revoked["revoked_at"] is not None
    code, _, err = cli(capsys, "keys", "revoke", "key_nope", "--config", config)
    assert code == 2 and "keys list" in err


def test_keys_create_rejects_bad_limits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config(tmp_path))
    code, out, err = cli(
        capsys, "keys", "create", "--tenant", "acme", "--daily-budget-usd", "-1", "--config", config
    )
    assert code == 2 and out == "" and "budget" in err


def test_serve_refuses_a_network_address_without_auth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path, auth=False))
    code, out, err = cli(capsys, "serve", "--host", "0.0.0.0", "--config", config)
    assert code == 2 and out == ""
    assert "Refusing to serve on 0.0.0.0" in err and "--force" in err


def test_exposure_rules(tmp_path: Path) -> None:
    open_settings = load_settings(write_config(tmp_path, auth=False))
    check_exposure(open_settings, "127.0.0.1", force=False)
    check_exposure(open_settings, "::1", force=False)
    check_exposure(open_settings, "0.0.0.0", force=True)
    with pytest.raises(Exception, match="Refusing"):
        check_exposure(open_settings, "api.example.com", force=False)
    closed = load_settings(write_config(tmp_path, auth=True))
    check_exposure(closed, "0.0.0.0", force=False)
    assert is_loopback("localhost") and is_loopback("127.0.0.2") and not is_loopback("10.0.0.1")
