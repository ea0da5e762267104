"""The local model manager, with small real stand-ins for llama.cpp on 127.0.0.1.

Each stand-in is a real process or a real HTTP server: what the manager does with ports,
processes and log files is the thing under test, so none of that is mocked.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evofuse.config import load_settings
from evofuse.config.models import LocalModelSettings
from evofuse.errors import LocalModelSetupError, LocalModelStartError
from evofuse.localmodel import (
    DEFAULT_LOG_PATH,
    LocalModelServer,
    Probe,
    local_model_running,
    probe,
    server_command,
)

REPO = Path(__file__).resolve().parents[2]

# A stand-in for `python -m llama_cpp.server`: prints to stdout (which must land in the log),
# waits a moment like a model load, then serves GET /v1/models. Args: port, delay, pid file,
# and "ignore-term" to make it ignore SIGTERM.
FAKE_SERVER = textwrap.dedent(
    """
    import http.server, json, os, signal, sys, time

    port, delay, pid_file = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    if "ignore-term" in sys.argv:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with open(pid_file, "w") as f:
        f.write(str(os.getpid()))
    print("fake llama server: loading model", flush=True)
    time.sleep(delay)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/v1/models":
                self.send_error(404)
                return
            body = json.dumps({"object": "list", "data": [{"id": "fake"}]}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            print("fake llama server: request", self.path, flush=True)

    print("fake llama server: ready", flush=True)
    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The manager writes .evofuse/logs/ relative to the working directory.
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def port() -> int:
    return free_port()


def settings(port: int, **kwargs: Any) -> LocalModelSettings:
    return LocalModelSettings(enabled=True, port=port, **kwargs)


class Fake:
    """The fake server's command line and the pid it reports."""

    def __init__(self, tmp_path: Path, port: int) -> None:
        self.script = tmp_path / "fake_server.py"
        self.script.write_text(FAKE_SERVER)
        self.pid_file = tmp_path / "fake.pid"
        self.port = port

    def command(self, delay: float = 0.2, *extra: str) -> list[str]:
        return [
            sys.executable,
            str(self.script),
            str(self.port),
            str(delay),
            str(self.pid_file),
            *extra,
        ]

    @property
    def pid(self) -> int:
        return int(self.pid_file.read_text())


@pytest.fixture
def fake(tmp_path: Path, port: int) -> Fake:
    return Fake(tmp_path, port)


class _OpenAIHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"object": "list", "data": [{"id": "already-running"}]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class _WebsiteHandler(_OpenAIHandler):
    """Some other web app: /v1/models is a 404 page."""

    def do_GET(self) -> None:
        self.send_error(404, "Not Found")


@pytest.fixture
def http_server() -> Iterator[Any]:
    """Start an in-process HTTP server with the given handler; stopped after the test."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(handler: type[http.server.BaseHTTPRequestHandler]) -> int:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return int(server.server_address[1])

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# -- configuration and prerequisites -------------------------------------------------------


def test_disabled_is_a_no_op(tmp_path: Path, fake: Fake) -> None:
    with local_model_running(LocalModelSettings(enabled=False), command=fake.command()) as server:
        assert server is None
    assert not fake.pid_file.exists()
    assert not (tmp_path / DEFAULT_LOG_PATH).exists()


def test_missing_gguf_names_the_key_and_the_path(tmp_path: Path, port: int) -> None:
    missing = tmp_path / "models" / "nope.gguf"
    with (
        pytest.raises(LocalModelSetupError) as err,
        local_model_running(settings(port, model_path=missing)),
    ):
        pass
    assert "local_model.model_path" in err.value.message
    assert str(missing) in err.value.message
    assert err.value.hint


def test_llama_cpp_missing_says_how_to_install(
    tmp_path: Path, port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # how Python spells "not installed"
    with (
        pytest.raises(LocalModelSetupError) as err,
        local_model_running(settings(port, model_path=gguf)),
    ):
        pass
    assert "llama-cpp-python" in err.value.message
    assert err.value.hint is not None
    assert "CMAKE_ARGS=-DGGML_NATIVE=OFF" in err.value.hint


def test_default_command_runs_llama_cpp_with_our_interpreter(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    command = server_command(LocalModelSettings(port=9001, n_ctx=2048, n_threads=2), gguf)
    assert command[:3] == [sys.executable, "-m", "llama_cpp.server"]
    flags = dict(zip(command[3::2], command[4::2], strict=True))
    assert flags["--model"] == str(gguf)
    assert flags["--port"] == "9001"
    assert flags["--n_ctx"] == "2048"
    assert flags["--n_threads"] == "2"
    assert flags["--interrupt_requests"] == "false"


# -- the port ------------------------------------------------------------------------------


def test_port_taken_by_something_else_is_refused(http_server: Any, fake: Fake) -> None:
    port = http_server(_WebsiteHandler)
    assert probe(f"http://127.0.0.1:{port}/v1") is Probe.OTHER
    with (
        pytest.raises(LocalModelSetupError) as err,
        local_model_running(settings(port), command=fake.command()),
    ):
        pass
    assert f"Port {port}" in err.value.message
    assert "not an OpenAI-compatible server" in err.value.message
    assert "local_model.port" in (err.value.hint or "")
    assert not fake.pid_file.exists(), "nothing may be started on a taken port"


def test_port_taken_by_a_non_http_listener_is_refused(fake: Fake) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]

        def close_connections() -> None:
            conn, _ = sock.accept()
            conn.close()  # hang up without a word, like a database port would to HTTP

        threading.Thread(target=close_connections, daemon=True).start()
        with (
            pytest.raises(LocalModelSetupError),
            local_model_running(settings(port), command=fake.command()),
        ):
            pass
    assert not fake.pid_file.exists()


def test_reuses_a_running_server_and_leaves_it_running(http_server: Any, fake: Fake) -> None:
    port = http_server(_OpenAIHandler)
    with local_model_running(settings(port), command=fake.command()) as server:
        assert server is not None
        assert server.reused
        assert server.pid is None
    assert not fake.pid_file.exists()
    assert probe(f"http://127.0.0.1:{port}/v1") is Probe.OPENAI


# -- starting and stopping -----------------------------------------------------------------


def test_starts_waits_until_ready_and_stops(
    tmp_path: Path, fake: Fake, capfd: pytest.CaptureFixture[str]
) -> None:
    with local_model_running(settings(fake.port), command=fake.command(delay=0.5)) as server:
        assert server is not None
        assert not server.reused
        assert server.startup_s is not None and server.startup_s >= 0.5
        assert probe(server.base_url) is Probe.OPENAI
        pid = fake.pid
        assert alive(pid)
    assert not alive(pid)
    assert probe(f"http://127.0.0.1:{fake.port}/v1") is Probe.NOTHING
    out, err = capfd.readouterr()
    assert out == "", "the server's output must never reach our stdout"
    assert "ready" in err  # the status line goes to stderr
    log = (tmp_path / DEFAULT_LOG_PATH).read_text()
    assert "fake llama server: loading model" in log
    assert "fake llama server: request /v1/models" in log


def test_stops_the_server_on_an_exception(fake: Fake) -> None:
    with (
        pytest.raises(RuntimeError),
        local_model_running(settings(fake.port), quiet=True, command=fake.command()),
    ):
        assert alive(fake.pid)
        raise RuntimeError("the fusion failed")
    assert not alive(fake.pid)


def test_stops_the_server_on_keyboard_interrupt(fake: Fake) -> None:
    with (
        pytest.raises(KeyboardInterrupt),
        local_model_running(settings(fake.port), quiet=True, command=fake.command()),
    ):
        raise KeyboardInterrupt
    assert not alive(fake.pid)


def test_kills_a_server_that_ignores_terminate(fake: Fake) -> None:
    server = LocalModelServer(
        settings(fake.port), quiet=True, command=fake.command(0.1, "ignore-term"), stop_grace_s=0.5
    )
    server.start()
    pid = fake.pid
    started = time.monotonic()
    server.stop()
    assert not alive(pid)
    assert 0.5 <= time.monotonic() - started < 5
    server.stop()  # stopping twice is harmless


def test_early_exit_reports_the_end_of_the_log(
    tmp_path: Path, port: int, capfd: pytest.CaptureFixture[str]
) -> None:
    crash = [
        sys.executable,
        "-c",
        "import sys; print('loading model');"
        " print('error: invalid GGUF magic', file=sys.stderr); sys.exit(3)",
    ]
    with (
        pytest.raises(LocalModelStartError) as err,
        local_model_running(settings(port), command=crash),
    ):
        pass
    message = err.value.message
    assert "exited with code 3" in message
    assert "error: invalid GGUF magic" in message
    assert "loading model" in message
    assert str(DEFAULT_LOG_PATH) in message
    assert capfd.readouterr().out == ""


def test_log_tail_shows_only_this_run(tmp_path: Path, port: int) -> None:
    log = tmp_path / DEFAULT_LOG_PATH
    log.parent.mkdir(parents=True)
    log.write_text("an old run's line\n")
    crash = [sys.executable, "-c", "print('this run'); raise SystemExit(1)"]
    with (
        pytest.raises(LocalModelStartError) as err,
        local_model_running(settings(port), command=crash),
    ):
        pass
    assert "this run" in err.value.message
    assert "an old run's line" not in err.value.message
    assert log.read_text().startswith("an old run's line\n"), "the log is appended to, not replaced"


def test_startup_timeout_stops_the_process(fake: Fake) -> None:
    slow = settings(fake.port, startup_timeout_s=0.5)
    started = time.monotonic()
    with (
        pytest.raises(LocalModelStartError) as err,
        local_model_running(slow, quiet=True, command=fake.command(delay=60)),
    ):
        pass
    assert time.monotonic() - started < 10
    assert "not ready within 0.5 s" in err.value.message
    assert "startup_timeout_s" in (err.value.hint or "")
    assert "fake llama server: loading model" in err.value.message
    assert not alive(fake.pid)


def test_sigterm_to_evofuse_stops_the_server(tmp_path: Path, fake: Fake) -> None:
    # A process killed with SIGTERM would normally skip `finally` and orphan the server.
    script = tmp_path / "host.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import time
            from evofuse.config.models import LocalModelSettings
            from evofuse.localmodel import local_model_running

            settings = LocalModelSettings(enabled=True, port={fake.port})
            with local_model_running(settings, quiet=True, command={fake.command()!r}):
                print("up", flush=True)
                time.sleep(60)
            """
        )
    )
    with subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True) as host:
        try:
            assert host.stdout is not None
            assert host.stdout.readline().strip() == "up"
            child = fake.pid
            assert alive(child)
            host.send_signal(signal.SIGTERM)
            assert host.wait(timeout=10) == 128 + signal.SIGTERM
        finally:
            if host.poll() is None:
                host.kill()
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)


# -- the shipped configuration files ---------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["evofuse.yaml", "examples/configs/openrouter.yaml", "examples/configs/direct-keys.yaml"],
)
def test_shipped_configs_are_valid(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("OPENROUTER_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.setenv(key, "sk-test-not-used")
    loaded = load_settings(REPO / path)
    profile = loaded.fusion.profiles[loaded.fusion.default_profile]
    assert len(profile.models) == 3 and profile.judge is not None
    if loaded.local_model.enabled:
        # Every model of the offline default must reach the server EvoFuse starts.
        for deployment in loaded.model_list:
            assert deployment.litellm_params["api_base"] == loaded.local_model.base_url
        assert profile.judge_output.value == "json_object"
    else:
        assert all(p.judge_output.value == "json_schema" for p in loaded.fusion.profiles.values())
