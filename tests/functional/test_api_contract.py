"""Contract tests from the OpenAPI document (schemathesis): requests generated for every
operation, sent with an admin key, never get a 500, and get only the statuses the document
lists for the operation."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from portrait.api.app import create_app
from portrait.workspace import Workspace


def test_no_server_errors_on_generated_requests(demo_ws: Workspace) -> None:
    demo_ws.segments.create("beijing", 'city = "北京"')
    _, key = demo_ws.keys.create("admin")
    headers = {"Authorization": f"Bearer {key}"}
    app = create_app(demo_ws.root)
    document = app.openapi()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 27
    failures: list[str] = []
    calls = 0

    def check(operation: Any) -> None:
        @given(case=operation.as_strategy())
        @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
        def call(case: Any) -> None:
            nonlocal calls
            calls += 1
            response = case.call(headers=headers)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.text[:200]}")
            listed = document["paths"][operation.path][operation.method.lower()]["responses"]
            if str(response.status_code) not in listed:
                failures.append(
                    f"{case.method} {operation.path}: undocumented {response.status_code}"
                )

        call()

    for operation in operations:
        check(operation)
    assert calls >= len(operations) * 2  # requests were generated and sent
    assert failures == []
