"""The shared real server of the HTTP and fuzz tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reshore.api import db
from tests.api.support import Server

SETTINGS = {"workers": 2, "tenant_max_running": 1, "heartbeat_s": 0.5,
            "dispatch_interval_s": 0.2, "max_model_variables": 100_000,
            "max_time_limit_s": 120, "max_body_bytes": 2_000_000,
            "auth_failures_per_minute": 100_000}
"""The fuzz test sends many requests without a valid key: the shared server must not rate limit
them (tests/api/test_faults.py checks the limit on a server of its own)."""


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("http")
    url = f"sqlite:///{folder / 'reshore.db'}"
    db.migrate(url)
    running_server = Server(url, folder / "server.log", **SETTINGS).start()
    yield running_server
    running_server.stop()
