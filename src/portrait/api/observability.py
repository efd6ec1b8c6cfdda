"""Metrics (Prometheus text format at ``/metrics``) and structured access logs.

Every request gets a request id (the caller's ``X-Request-ID``, or a new one), returned in the
response header and written with the route, status and duration as one JSON line to the
``portrait.access`` logger. Counters and histograms are per worker process (each uvicorn
worker serves its own ``/metrics``).
"""

from __future__ import annotations

import json
import logging
import random
import time
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
        # the labelled series of each (route, method, status): looked up once, not per request
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def count(self, route: str, method: str, status: int, seconds: float) -> None:
        """One answered request."""
        key = (route, method, status)
        series = self._series.get(key)
        if series is None:
            series = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route, method),
            )
            self._series[key] = series
        series[0].inc()
        series[1].observe(seconds)

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class _Observe:
    """Pure ASGI middleware (no per-request task or stream, unlike ``@app.middleware``):
    request id, metrics and one JSON access-log line per request (body limits:
    :mod:`portrait.api.guard`)."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        # a new id: 128 random bits like a uuid4's, without its system call per request
        request_id = headers.get(b"x-request-id", b"").decode("latin-1") or (
            f"{random.getrandbits(128):032x}"
        )
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "(unmatched)")
            method = scope.get("method", "")
            self.metrics.count(route, method, status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    json.dumps(
                        {
                            "request_id": request_id,
                            "method": method,
                            "route": route,
                            "path": scope.get("path", ""),
                            "status": status,
                            "ms": round(seconds * 1000, 2),
                        }
                    )
                )


def observe(app: FastAPI, metrics: Metrics) -> None:
    """Add the metrics and access-log middleware (outside the middleware added before it)
    and the ``/metrics`` route."""
    app.add_middleware(_Observe, metrics=metrics)

    @app.get("/metrics", tags=["service"], include_in_schema=False)
    def prometheus() -> Response:
        return metrics.render()
