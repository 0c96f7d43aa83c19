"""A hub that reports the spans and metrics its own server process recorded (tests/interop/test_tracing_live.py)."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace

from django_hubs import Hub


class TracedHub(Hub):
    async def echo(self, value: Any) -> Any:
        return value

    async def fail(self) -> None:
        raise ValueError("no")

    async def current_trace_id(self) -> str:
        """The trace the method runs in, as code in it (a database driver's instrumentation) sees it."""
        return format(trace.get_current_span().get_span_context().trace_id, "032x")

    async def finished_spans(self) -> list[dict[str, Any]]:
        from tests.interop.otel_telemetry import SPANS

        return [
            {
                "name": span.name,
                "kind": span.kind.name,
                "trace_id": format(span.context.trace_id, "032x"),
                "parent_id": format(span.parent.span_id, "016x") if span.parent else None,
                "attributes": dict(span.attributes or {}),
                "status": span.status.status_code.name,
            }
            for span in SPANS.get_finished_spans()
        ]

    async def metric_points(self) -> list[dict[str, Any]]:
        from tests.interop.otel_telemetry import METRICS

        data = METRICS.get_metrics_data()
        return [
            {
                "name": metric.name,
                "attributes": dict(point.attributes or {}),
                "value": getattr(point, "value", None),
                "count": getattr(point, "count", None),
            }
            for resource in (data.resource_metrics if data else ())
            for scope in resource.scope_metrics
            for metric in scope.metrics
            for point in metric.data.data_points
        ]
