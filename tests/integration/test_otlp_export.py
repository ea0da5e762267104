"""With OTEL_EXPORTER_OTLP_ENDPOINT set, a run's trace reaches an OTLP/HTTP collector.

The collector is a real HTTP server on 127.0.0.1 that decodes what it receives with
OpenTelemetry's own protobuf classes. The run happens in a fresh Python process, as in
production, where the first fusion engine installs the exporter (`configure_tracing`).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

PROGRAM = """
import asyncio
from evofuse.config.loader import settings_from_mapping
from evofuse.fusion import FusionEngine
from evofuse.runtime.runner import Runner
from evofuse.runtime.prebuilt import create_skill_agent
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from evofuse.testing import JUDGE, ModelBehavior, ScriptedGateway, UpstreamScript

names = ("m1", "m2", "j")
settings = settings_from_mapping({
    "model_list": [{"model_name": n, "litellm_params": {"model": f"openai/{n}"}} for n in names],
    "fusion": {"default_profile": "p", "profiles": {"p": {"models": ["m1", "m2"], "judge": "j"}}},
})
script = UpstreamScript(models={"m1": ModelBehavior(content="One."),
                                "m2": ModelBehavior(content="Two."), "j": JUDGE}, default=None)
from evofuse.telemetry.tracing import tracer
tracer()  # fetched (and kept) before any provider exists: the spans must follow the one set later
engine = FusionEngine(settings, gateway=ScriptedGateway(script))  # installs the exporter
assert isinstance(trace.get_tracer_provider(), TracerProvider)
runner = Runner(settings, engine=engine, checkpoints=False)
result = asyncio.run(runner.run(create_skill_agent(), "Hello?"))
print(result.run_id)
"""


class Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(b"")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def collector() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_a_run_is_exported_over_otlp_http(collector: str) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector,
        "OTEL_SERVICE_NAME": "evofuse-test",
        "EVOFUSE_USER_HASH_SECRET": "otlp-test",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = done.stdout.strip().splitlines()[-1]

    assert Collector.received, "no export reached the collector"
    spans = []
    for path, content_type, body in Collector.received:
        assert path == "/v1/traces" and content_type == "application/x-protobuf"
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource_spans in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}[
                "service.name"
            ]
            assert service == "evofuse-test"
            for scope in resource_spans.scope_spans:
                spans.extend(scope.spans)
    names = sorted(s.name for s in spans)
    assert names.count("evofuse.run") == 1
    assert sum(n.startswith("evofuse.member") for n in names) == 2
    assert sum(n.startswith("evofuse.judge") for n in names) == 1
    assert len({s.trace_id for s in spans}) == 1
    [run] = [s for s in spans if s.name == "evofuse.run"]
    assert {a.key: a.value.string_value for a in run.attributes}["evofuse.run_id"] == run_id
