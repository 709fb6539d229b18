"""Schemathesis against the app's own OpenAPI document, authenticated as admin:
no answer is a server error and every answer matches the documented schema.
(POST /plans is left out: each example would start a solve.)"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import Api

SKIP = {("POST", "/plans")}
#: no 5xx, documented status codes and media types, bodies and headers as documented.
#: (positive_data_acceptance is not among them: write bodies are import rows that the
#: importer validates beyond what the JSON schema says, answering 422 with row errors.)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
EXAMPLES = 12


def test_every_operation_answers_as_documented(api: Api) -> None:  # noqa: F811
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    headers = api.headers["admin"]
    checked = 0
    for result in schema.get_all_operations():
        op = result.ok()
        if (op.method.upper(), op.path) in SKIP:
            continue

        @given(case=op.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # name the operation in the failure
            pytest.fail(f"{op.method.upper()} {op.path}: {exc}")
        checked += 1
    assert checked >= 40
