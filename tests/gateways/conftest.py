"""Twilio's webhook tests through both paths: Django's view and the ASGI front (webhook_paths.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gateways.webhook_paths import AsgiWebhookClient


@pytest.fixture
def webhook_path() -> str:
    return "django"


@pytest.fixture
def client(client: Any, webhook_path: str) -> Any:
    return client if webhook_path == "django" else AsgiWebhookClient(client)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if not getattr(metafunc.module, "BOTH_WEBHOOK_PATHS", False) or "client" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("django_db")
    transactional = marker is not None and marker.kwargs.get("transaction", False)
    metafunc.parametrize("webhook_path", ["django", "asgi"] if transactional else ["django"])
