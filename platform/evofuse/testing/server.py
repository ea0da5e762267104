"""Serving the scripted upstream: uvicorn in a background thread, or as its own process."""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from evofuse.testing.app import create_app
from evofuse.testing.script import RecordedRequest, RequestLog, UpstreamScript, as_script


def _config(app: Starlette) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        loop="asyncio",
        http="auto",  # httptools when installed, else h11
        ws="none",
        lifespan="off",
        access_log=False,
        log_config=None,  # leave the host process's logging alone
        log_level="warning",
        timeout_keep_alive=60,
        timeout_graceful_shutdown=1,
    )


def _listening_socket(host: str, port: int) -> socket.socket:
    # proto=IPPROTO_TCP makes asyncio set TCP_NODELAY on accepted connections; without it,
    # Nagle's algorithm and delayed ACKs add ~40 ms to every response.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


class UpstreamServer:
    """The upstream served by uvicorn in a background thread, on a free port of 127.0.0.1."""

    def __init__(
        self, script: UpstreamScript | Mapping[str, Any], *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.script = as_script(script)
        self.log = RequestLog()
        self._sock = _listening_socket(host, port)
        self.host, self.port = self._sock.getsockname()[:2]
        self._server = uvicorn.Server(_config(create_app(self.script, self.log)))
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name="evofuse-upstream",
            daemon=True,
        )

    @property
    def base_url(self) -> str:
        """The `api_base` for `model_list` entries (ends with /v1)."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, in order of arrival."""
        return list(self.log.entries)

    def requests_for(self, model: str) -> list[RecordedRequest]:
        return [r for r in self.log.entries if r.model == model]

    def wait_until(
        self, predicate: Callable[[UpstreamServer], bool], timeout_s: float = 5.0
    ) -> bool:
        """Poll `predicate(self)` until true or timeout (outcomes land just after a call ends)."""
        deadline = time.monotonic() + timeout_s
        while not predicate(self):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def start(self) -> UpstreamServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the scripted upstream did not start")
            time.sleep(0.002)
        return self

    def stop(self) -> None:
        # force_exit: do not wait for hanging requests; they are cancelled with the loop.
        self._server.should_exit = self._server.force_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> UpstreamServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running_upstream(script: UpstreamScript | Mapping[str, Any]) -> Iterator[str]:
    """Serve `script` in a background thread; yield its base URL (…/v1). See `UpstreamServer`."""
    with UpstreamServer(script) as server:
        yield server.base_url


@contextlib.contextmanager
def upstream_process(
    script: UpstreamScript | Mapping[str, Any], *, env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Serve `script` in its own process (no GIL shared with the caller); yield its base URL.

    If the block fails, the error carries a note saying whether the upstream still runs and
    the end of its log: a failed model call may be the upstream's fault.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "script.json")
        path.write_text(as_script(script).model_dump_json(), encoding="utf-8")
        log = Path(folder, "upstream.log")
        cmd = [sys.executable, "-m", "evofuse.testing.upstream", "--script", str(path)]
        with (
            log.open("w", encoding="utf-8") as errors,
            subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=errors, text=True, env=env
            ) as proc,
        ):
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            try:
                if not url.startswith("http://"):
                    tail = "\n".join(log.read_text(encoding="utf-8").splitlines()[-20:])
                    raise RuntimeError(f"the scripted upstream did not start: {url!r}\n{tail}")
                yield url
            except BaseException as exc:
                state = "running" if proc.poll() is None else f"exited with {proc.returncode}"
                tail = "\n".join(log.read_text(encoding="utf-8").splitlines()[-20:])
                exc.add_note(f"scripted upstream: {state}\n{tail}")
                raise
            finally:
                proc.terminate()
                proc.wait(timeout=15)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m evofuse.testing.upstream --script FILE.json [--host H] [--port N]`."""
    parser = argparse.ArgumentParser(
        prog="python -m evofuse.testing.upstream",
        description="A scripted OpenAI-compatible upstream; prints its base URL, then serves.",
    )
    parser.add_argument(
        "--script", type=Path, help="JSON UpstreamScript (default: every model answers)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    raw = json.loads(args.script.read_text(encoding="utf-8")) if args.script else {}
    script = as_script(raw)
    sock = _listening_socket(args.host, args.port)
    host, port = sock.getsockname()[:2]
    # The first line of stdout is the contract with the parent process: the base URL.
    sys.stdout.write(f"http://{host}:{port}/v1\n")
    sys.stdout.flush()
    uvicorn.Server(_config(create_app(script))).run(sockets=[sock])
