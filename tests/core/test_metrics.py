"""GET /metrics: who may read it, and what HTTP traffic looks like in it (issue 10)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.requires import needs_redis

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-token-9fQ2xL7pV4kZ"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = TOKEN

    def get() -> str:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=")
        return response.content.decode()

    return get


# --- who may read it ---------------------------------------------------------------------------


def test_metrics_do_not_exist_until_a_token_or_network_is_set(client, settings, db):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", []
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


def test_metrics_need_the_token(client, settings, db):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = TOKEN, []
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Token {TOKEN}").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_metrics_from_an_allowed_network_need_no_token(client, settings, db):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", ["10.1.0.0/16", "::1/128"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.200.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.2.0.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403


def test_a_refused_scrape_shows_nothing(client, settings, db):
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics")
    assert response.status_code == 403 and b"supportdesk_" not in response.content


# --- HTTP requests -----------------------------------------------------------------------------


def test_requests_are_counted_by_route_pattern_not_raw_path(scrape, client, agent):
    client.force_login(agent)
    for pk in (123456, 123457):
        assert client.get(f"/api/v1/conversations/{pk}").status_code == 404
    assert client.get("/no/such/page/98765").status_code == 404
    text = scrape()
    samples = _samples(text)
    key = (
        "supportdesk_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "api/v1/conversations/<int:pk>"), ("status", "404")),
    )
    assert samples[key] >= 2
    assert (
        samples[
            (
                "supportdesk_http_request_duration_seconds_count",
                (("method", "GET"), ("route", "<unmatched>"), ("status", "404")),
            )
        ]
        >= 1
    )
    assert "123456" not in text and "98765" not in text


def test_the_duration_histogram_has_buckets(scrape, client, db):
    client.get("/healthz")
    samples = _samples(scrape())
    buckets = {
        dict(labels)["le"]: value
        for (name, labels), value in samples.items()
        if name == "supportdesk_http_request_duration_seconds_bucket" and dict(labels)["route"] == "healthz"
    }
    assert buckets["+Inf"] >= 1 and "0.005" in buckets


def test_every_response_carries_a_request_id_and_an_incoming_one_is_kept(client, db):
    first, second = client.get("/healthz"), client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", first["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]
    assert client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.42").headers["X-Request-ID"] == "lb-7f3a.42"
    # Not a token: a new id instead of echoing it back.
    bad = client.get("/healthz", HTTP_X_REQUEST_ID="<script>")["X-Request-ID"]
    assert bad != "<script>" and re.fullmatch(r"[0-9a-f]{32}", bad)


# --- the dashboard -----------------------------------------------------------------------------


def _dashboard_metric_names() -> set[str]:
    dashboard = json.loads((ROOT / "docker" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert exprs, "the dashboard has no queries"
    names = set()
    for expr in exprs:
        names |= set(re.findall(r"\b(supportdesk_[a-z_]+)", expr))
    return names


def test_the_grafana_dashboard_is_importable_json_with_panels(db):
    dashboard = json.loads((ROOT / "docker" / "grafana-dashboard.json").read_text())
    assert dashboard["title"] and dashboard["schemaVersion"] >= 30
    assert {"id", "type", "title", "gridPos", "targets"} <= set(dashboard["panels"][1])
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    # The data source is chosen at import.
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"


@needs_redis
def test_every_metric_the_dashboard_queries_is_in_metrics(scrape, client, settings, db):
    # As in production: tasks go to a worker through Redis, so the queue's length is measured.
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    client.get("/healthz")
    families = {family.name for family in text_string_to_metric_families(scrape())}
    # Sample names of histograms and counters carry suffixes the family name does not.
    exported = families | {f"{f}_{s}" for f in families for s in ("bucket", "count", "sum", "total")}
    missing = _dashboard_metric_names() - exported
    assert not missing, f"the dashboard queries metrics /metrics does not have: {sorted(missing)}"
