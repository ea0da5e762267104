"""The tracer, its set-up from the environment, and the run and step spans."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from evofuse import __version__

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer, TracerProvider

log = logging.getLogger("evofuse.telemetry")

# Set by `using_provider` (tests, or an application that keeps EvoFuse's spans apart from its
# own); otherwise the global provider, a no-op until someone configures one.
_provider: TracerProvider | None = None
_configured = False
# The global provider's tracer, fetched once: looking the provider up reads os.environ, and
# spans open several times per request. Fetched before anyone sets a provider, it is
# OpenTelemetry's proxy, which follows the provider set later.
_global_tracer: Tracer | None = None


def tracer() -> Tracer:
    global _global_tracer
    if _provider is not None:
        return _provider.get_tracer("evofuse", __version__)
    if _global_tracer is None:
        _global_tracer = trace.get_tracer("evofuse", __version__)
    return _global_tracer


@contextmanager
def using_provider(provider: TracerProvider) -> Iterator[None]:
    """Send EvoFuse's spans to `provider` (not the global one) inside the block."""
    global _provider
    previous, _provider = _provider, provider
    try:
        yield
    finally:
        _provider = previous


def configure_tracing() -> bool:
    """Export spans over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces-only
    variable) is set and no tracer provider is configured yet; True when it installed one.

    The exporter reads the standard variables itself (`OTEL_EXPORTER_OTLP_HEADERS`, timeouts,
    `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`). Spans leave in batches from a background
    thread, so a slow collector never slows a request.
    """
    global _configured
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if _configured or not endpoint:
        return False
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

    if isinstance(trace.get_tracer_provider(), SdkTracerProvider):
        return False  # the application (or opentelemetry-instrument) already set one up
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    service = os.environ.get("OTEL_SERVICE_NAME", "evofuse")
    provider = SdkTracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True
    log.info("exporting traces over OTLP to %s as service %r", endpoint, service)
    return True


@contextmanager
def run_span(run_id: str, graph: str, tenant: str | None) -> Iterator[Span]:
    """The root span of a run; its status is set from how the run ended."""
    attributes: dict[str, Any] = {"evofuse.run_id": run_id, "evofuse.graph": graph}
    if tenant:
        attributes["evofuse.tenant"] = tenant
    with tracer().start_as_current_span(
        "evofuse.run", attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        yield span


@contextmanager
def step_span(
    run_id: str, index: int, name: str, skill: Mapping[str, Any] | None
) -> Iterator[Span]:
    """A step of a run (its status set from how it ended); its model calls are its children."""
    attributes: dict[str, Any] = {
        "evofuse.run_id": run_id,
        "evofuse.step.index": index,
        "evofuse.step.name": name,
    }
    if skill:
        attributes["evofuse.skill.name"] = str(skill.get("name"))
        attributes["evofuse.skill.version"] = int(skill.get("version") or 0)
    with tracer().start_as_current_span(
        f"evofuse.step {name}",
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except (asyncio.CancelledError, GeneratorExit):
            end_status(span, "cancelled", "the caller cancelled the run")
            raise
        except BaseException as exc:
            end_status(span, "failed", f"{type(exc).__name__}: {exc}"[:500])
            raise
        end_status(span, "succeeded")


def end_status(span: Span, status: str, error: str | None = None) -> None:
    """Record how a run or step ended: `succeeded` is OK, anything else an error."""
    if not span.is_recording():
        return
    span.set_attribute("evofuse.status", status)
    if status == "succeeded":
        span.set_status(Status(StatusCode.OK))
    else:
        span.set_status(Status(StatusCode.ERROR, error or status))
