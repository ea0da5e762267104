"""A scripted OpenAI-compatible upstream on 127.0.0.1, for tests and benchmarks.

Each model name (the request's `model`, i.e. what follows `openai/` in `model_list`) gets a
scripted behavior: a latency, an answer, an HTTP error, a garbage body, a hang, an empty answer,
or a judge that reads the candidate labels (`[A]`, `[B]`, …) from the prompt and returns a valid
verdict. Every request is recorded so that tests can check what the models were asked.

In a test::

    script = UpstreamScript(models={"fast": ModelBehavior(latency_ms=50), "judge": JUDGE})
    with UpstreamServer(script) as upstream:
        model_list = [model_entry(name, upstream.base_url) for name in ("fast", "judge")]
        ...
        assert upstream.requests[0].model == "fast"

As a process (prints the base URL as its first line of stdout, then serves until stopped)::

    python -m evofuse.testing.upstream --script script.json --port 0

with a script such as `{"models": {"fast": {"latency_ms": 50}, "down": {"kind": "error",
"status": 503}, "judge": {"kind": "judge", "latency_ms": [100, 300]}}, "default": null}`.
The process's log of requests is at `GET /_upstream/requests`.
"""

from __future__ import annotations

from evofuse.testing.app import create_app
from evofuse.testing.script import (
    DEFAULT_API_KEY,
    JUDGE,
    ModelBehavior,
    RecordedRequest,
    RequestLog,
    UpstreamScript,
    model_entry,
)
from evofuse.testing.server import UpstreamServer, main, running_upstream, upstream_process

__all__ = [
    "DEFAULT_API_KEY",
    "JUDGE",
    "ModelBehavior",
    "RecordedRequest",
    "RequestLog",
    "UpstreamScript",
    "UpstreamServer",
    "create_app",
    "main",
    "model_entry",
    "running_upstream",
    "upstream_process",
]

if __name__ == "__main__":
    main()
