"""Fuzz the API from its own OpenAPI document (schemathesis, bounded examples, valid and
invalid requests): whatever the request, the server never answers with a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode

from tests.api.support import Server, new_key

MAX_EXAMPLES = 10
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@schemathesis.serializer("application/zip", XLSX)
def _binary(_context: Any, value: Any) -> bytes:
    """Uploads go on the wire as the bytes generated (or their text)."""
    return value if isinstance(value, bytes) else str(value).encode()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_makes_the_server_fail(server: Server, mode: GenerationMode) -> None:
    token = new_key(server.database_url, "fuzz")
    config = SchemathesisConfig.from_dict({"base-url": server.url})
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=config)
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in schema.get_all_operations()
                  if isinstance(result, Ok)]
    assert len(operations) >= 12

    for operation in operations:

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case: Any) -> None:
            response = case.call(headers=headers, timeout=30)
            assert response.status_code < 500, (
                case.method, case.formatted_path, case.query, response.text[:500])

        try:
            call()
        except Unsatisfiable:  # nothing in this operation can be made invalid (e.g. /healthz)
            assert mode is GenerationMode.NEGATIVE
