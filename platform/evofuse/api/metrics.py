"""Prometheus metrics: HTTP requests and latency, runs, fusion member outcomes, cost, limits.

Each app has its own registry (tests build many apps in one process). With several uvicorn
workers, `evofuse serve` sets PROMETHEUS_MULTIPROC_DIR and /metrics aggregates all of them.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from evofuse.runtime.results import RunResult

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "evofuse_http_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "evofuse_http_request_duration_seconds",
            "HTTP request duration (a stream: until its last byte)",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.runs = Counter(
            "evofuse_runs", "Chat completion runs by outcome", ["model", "status"], registry=r
        )
        self.members = Counter(
            "evofuse_fusion_member_calls",
            "Pool member answers by outcome (last step of each run)",
            ["model", "status"],
            registry=r,
        )
        self.judges = Counter(
            "evofuse_fusion_judge_calls", "Judge calls by outcome", ["model", "status"], registry=r
        )
        self.cost = Counter("evofuse_cost_usd", "Model spend in USD", ["model"], registry=r)
        self.tokens = Counter("evofuse_tokens", "Tokens of every call", ["kind"], registry=r)
        self.refusals = Counter(
            "evofuse_limit_refusals", "Requests refused by a per-key limit", ["limit"], registry=r
        )

    def record_run(self, model: str, status: str, result: RunResult | None) -> None:
        """Count a finished run; with its result, the final step's members and judge, the
        cost and the tokens of every step."""
        self.runs.labels(model, status).inc()
        if result is None:
            return
        final = result.final
        if final is not None:
            for candidate in final.candidates:
                self.members.labels(candidate.model, candidate.status).inc()
            if final.judge.model:
                self.judges.labels(final.judge.model, final.judge.status).inc()
        if result.cost_usd:
            self.cost.labels(model).inc(result.cost_usd)
        self.tokens.labels("prompt").inc(result.prompt_tokens)
        self.tokens.labels("completion").inc(result.completion_tokens)

    def exposition(self) -> bytes:
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (bounded label values)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "?")
            self.metrics.requests.labels(method, path, str(status)).inc()
            self.metrics.latency.labels(method, path).observe(time.perf_counter() - started)
