"""What every benchmark reports about the machine it ran on, and the pieces that start and load
`evofuse serve` processes (shared by benchmarks/scale.py and benchmarks/replicas.py)."""

from __future__ import annotations

import asyncio
import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import httpx

from evofuse.testing.postgres import throwaway_database

# The console scripts installed beside the interpreter that runs the benchmark.
BIN = Path(sys.executable).parent
EVOFUSE = BIN / "evofuse"


def machine_facts() -> dict[str, Any]:
    """Cores, CPU model and Python; each benchmark adds the package versions it depends on."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "python": platform.python_version(),
    }


def load_average() -> str:
    """The 1-minute load average, as `uptime` shows it."""
    return f"{os.getloadavg()[0]:.2f}"


def env() -> dict[str, str]:
    """The environment of every process a benchmark starts (no network, one pseudonym secret)."""
    return {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "EVOFUSE_USER_HASH_SECRET": "benchmark-secret",
        "ANONYMIZED_TELEMETRY": "False",
    }


def make_key(config: Path, *flags: str, tenant: str = "bench") -> str:
    """A new API key through `evofuse keys create`; returns its secret."""
    done = subprocess.run(
        [str(EVOFUSE), "keys", "create", "--tenant", tenant, *flags, "--config", str(config)],
        capture_output=True,
        text=True,
        env=env(),
        check=True,
    )
    return done.stdout.strip()


def wait_until_up(
    proc: subprocess.Popen[bytes],
    url: str,
    log: Path,
    ready: Callable[[httpx.Response], bool] = lambda r: r.status_code == 200,
) -> None:
    """Poll `url` until `ready(response)`; exit, naming the log, if the process dies first."""
    deadline = time.monotonic() + 180
    while True:
        try:
            if ready(httpx.get(url, timeout=1)):
                return
        except (httpx.TransportError, ValueError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise SystemExit(f"{url} did not come up; the end of {log.name}:\n{tail}")
        time.sleep(0.3)


def _models_loaded(health: httpx.Response) -> bool:
    return health.status_code == 200 and health.json().get("models") != "warming"


@contextmanager
def server(config: Path, port: int) -> Iterator[str]:
    """`evofuse serve` on `port` until the block ends; yields its URL once its models are loaded.

    Its output goes to server-PORT.log beside the configuration file."""
    log_path = config.parent / f"server-{port}.log"
    cmd = [str(EVOFUSE), "serve", "--port", str(port), "--no-access-log", "--config", str(config)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env())
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, url + "/healthz", log_path, _models_loaded)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)


class Load:
    """A closed loop of chat clients; latencies are kept with their start and end times.

    Requests go to `urls` in turn (client-side round robin); the default `("",)` sends them to
    the client's own base URL."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        key: str,
        concurrency: int,
        urls: Sequence[str] = ("",),
    ) -> None:
        self.client, self.key, self.concurrency = client, key, concurrency
        self.urls = list(urls)
        self.samples: list[tuple[float, float]] = []  # (start, end), monotonic seconds
        self.failures: list[float] = []  # end times of requests that did not answer 200
        self._stop = asyncio.Event()
        self._n = 0

    @property
    def errors(self) -> int:
        return len(self.failures)

    async def _worker(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        while not self._stop.is_set():
            self._n += 1
            url = self.urls[self._n % len(self.urls)] + "/v1/chat/completions"
            body = {
                "model": "fusion/p",
                "messages": [{"role": "user", "content": f"What is 2 + 2? (#{self._n})"}],
            }
            start = time.monotonic()
            try:
                response = await self.client.post(url, json=body, headers=headers)
                ok = response.status_code == 200
            except httpx.TransportError:
                ok = False
            if ok:
                self.samples.append((start, time.monotonic()))
            else:
                self.failures.append(time.monotonic())

    async def run_while(self, until: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
        """Run the clients until `await until()` returns; (start, end) of the window."""
        self._stop.clear()
        workers = [asyncio.create_task(self._worker()) for _ in range(self.concurrency)]
        start = time.monotonic()
        await until()
        end = time.monotonic()
        self._stop.set()
        await asyncio.gather(*workers)
        return start, end

    def within(self, start: float, end: float) -> list[float]:
        """Latencies (ms) of the requests that started and ended inside [start, end]."""
        return [(e - s) * 1000 for s, e in self.samples if s >= start and e <= end]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def bootstrap(values: list[float], q: float, rng: random.Random, n: int = 2000) -> list[float]:
    """The q-th percentile of `n` resamples of `values`."""
    return [percentile(rng.choices(values, k=len(values)), q) for _ in range(n)]


def interval(samples: list[float]) -> tuple[float, float]:
    """The central 95 % of bootstrap samples."""
    ordered = sorted(samples)
    return ordered[int(0.025 * len(ordered))], ordered[int(0.975 * len(ordered)) - 1]


def estimate(values: list[float], q: float, rng: random.Random) -> list[float]:
    """[point, low, high]: the q-th percentile with its bootstrap 95 % interval, rounded."""
    low, high = interval(bootstrap(values, q, rng))
    return [round(percentile(values, q), 1), round(low, 1), round(high, 1)]


@contextmanager
def fresh_postgres(admin_url: str, hint: str) -> Iterator[str]:
    """A uniquely named database on the PostgreSQL server at `admin_url`, dropped when the block
    ends; without a server, exit with `hint` (what to do instead)."""

    def unavailable(reason: str) -> NoReturn:
        raise SystemExit(f"PostgreSQL is not available at {admin_url} ({reason}). {hint}")

    with throwaway_database(admin_url, prefix="evofuse_bench", unavailable=unavailable) as url:
        yield url
