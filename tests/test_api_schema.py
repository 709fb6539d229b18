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
from schemathesis.core.result import Ok
from sqlalchemy import delete, update

from logistics.ops.users import ROLES
from logistics.persistence.db import session_scope
from logistics.persistence.models import ApiKey, User
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
        assert isinstance(result, Ok), result  # the document itself is valid
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


def test_stateful_links_create_read_update_delete(api: Api, db_url: str) -> None:
    """Schemathesis follows the API's OpenAPI links: a new user leads to his keys (list,
    create), his password and (de)activation; a new key to its revocation. Every
    answer on the way is checked as above. Each scenario starts from the same users
    (Hypothesis replays scenarios)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app).include(
        operation_id=["create_user", "list_api_keys", "create_api_key", "revoke_api_key",
                      "set_password", "deactivate_user"])
    headers = api.headers["admin"]
    seen: set[tuple[str, str, int]] = set()

    def reset() -> None:
        with session_scope(db_url) as s:
            s.execute(delete(ApiKey))
            s.execute(delete(User).where(User.name.not_in(ROLES)))
            s.execute(update(User).values(active=True))
        api.client.app.state.principal_cache.clear()  # type: ignore[attr-defined]

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            reset()

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers}

        def after_call(self, response: Any, case: Any) -> None:
            seen.add((case.method.upper(), case.operation.path, response.status_code))

        def validate_response(self, response: Any, case: Any,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    Machine.run(settings=settings(max_examples=80, stateful_step_count=8, deadline=None,
                                  derandomize=True,
                                  database=None, suppress_health_check=list(HealthCheck)))
    # the links were followed: each step below needs a row that an earlier step made
    for step in [("POST", "/users", 201), ("GET", "/users/{name}/api-keys", 200),
                 ("POST", "/users/{name}/api-keys", 201), ("DELETE", "/api-keys/{key_id}", 204),
                 ("PUT", "/users/{name}/password", 204),
                 ("POST", "/users/{name}/deactivate", 200)]:
        assert step in seen, f"{step} not in {sorted(seen)}"
