"""Metrics (Prometheus text format at ``/metrics``) and structured access logs.

Every request gets a request id (the caller's ``X-Request-ID``, or a new one), returned in the
response header and written with the route, status and duration as one JSON line to the
``portrait.access`` logger. Counters and histograms are per worker process (each uvicorn
worker serves its own ``/metrics``).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

access_log = logging.getLogger("portrait.access")


class Metrics:
    """The app's metrics, in a registry of its own (several apps in one process stay apart)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "portrait_http_requests_total",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "portrait_http_request_seconds",
            "HTTP request latency by route and method.",
            ["route", "method"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.evaluations = Histogram(
            "portrait_audience_evaluation_seconds",
            "Time to evaluate an audience (a rule or segment) for a request.",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
            registry=self.registry,
        )
        self.messages = Counter(
            "portrait_campaign_messages_total",
            "Campaign messages by channel and outcome, as launches report them.",
            ["channel", "outcome"],
            registry=self.registry,
        )

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> Metrics:
    """Add the metrics and access-log middleware and the ``/metrics`` route to ``app``."""
    metrics = Metrics()

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Any:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
        finally:
            seconds = time.perf_counter() - started
            route = getattr(request.scope.get("route"), "path", "(unmatched)")
            metrics.requests.labels(route, request.method, str(status)).inc()
            metrics.latency.labels(route, request.method).observe(seconds)
            access_log.info(
                json.dumps(
                    {
                        "request_id": request_id,
                        "method": request.method,
                        "route": route,
                        "path": request.url.path,
                        "status": status,
                        "ms": round(seconds * 1000, 2),
                    }
                )
            )
        response.headers["X-Request-ID"] = request_id
        return response

    @app.get("/metrics", tags=["service"], include_in_schema=False)
    def prometheus() -> Response:
        return metrics.render()

    return metrics
