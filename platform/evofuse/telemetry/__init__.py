"""OpenTelemetry traces: one trace per run, with spans for the run, each step, and each call.

Spans go to whatever tracer provider the process has: none (no-op, the default), one the
embedding application configured, or the OTLP exporter `configure_tracing` installs when
`OTEL_EXPORTER_OTLP_ENDPOINT` is set. Prompt and answer text is never put on a span unless
`telemetry.include_content: true`.
"""

from evofuse.telemetry.calls import TracingGateway, call_role
from evofuse.telemetry.tracing import configure_tracing, run_span, step_span, tracer, using_provider

__all__ = [
    "TracingGateway",
    "call_role",
    "configure_tracing",
    "run_span",
    "step_span",
    "tracer",
    "using_provider",
]
