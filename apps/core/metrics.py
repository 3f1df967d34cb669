"""`GET /metrics`: Prometheus text format (prometheus_client), for the token or networks allowed.

What is here is the floor the other apps build on: the HTTP request histogram (the request
middleware observes it, labelled by route pattern, never the raw path), and the socket gauges,
fed by the apps that own sockets through `socket_source_register` (the console's consumers,
the widget hub), since those figures live in each process's memory. The bus registers its own
collector, which reads the database at scrape time (apps/bus/health.py).

Per-process figures (requests, sockets) come from whichever process answers: scrape each web
process (web1:8000, web2:8000), not the load balancer. Figures read from the database are the
same from any process.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

HTTP_DURATION = Histogram(
    "supportdesk_http_request_duration_seconds",
    "HTTP requests served by Django, by method, route pattern and status code",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
UNMATCHED_ROUTE = "<unmatched>"


def http_request_observe(*, method: str, route: str, status: int, seconds: float) -> None:
    HTTP_DURATION.labels(method=method, route=route, status=str(status)).observe(seconds)


# --- sockets: registered by the apps that hold them ---------------------------------------


@dataclass(frozen=True)
class SocketStats:
    open: int
    lowest_position: int | None  # the lowest event-log position a socket has confirmed


_socket_sources: dict[str, Callable[[], SocketStats]] = {}


def socket_source_register(kind: str, source: Callable[[], SocketStats]) -> None:
    """Called from an AppConfig.ready(): `source()` tells this process's sockets of `kind`."""
    _socket_sources[kind] = source


class SocketCollector(Collector):
    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("supportdesk_sockets_open", "", labels=["kind"])
        yield GaugeMetricFamily("supportdesk_sockets_lowest_confirmed_event_id", "", labels=["kind"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        opened = GaugeMetricFamily("supportdesk_sockets_open", "Open WebSockets in this process", labels=["kind"])
        lowest = GaugeMetricFamily(
            "supportdesk_sockets_lowest_confirmed_event_id",
            "Lowest event-log position confirmed to a socket of this process (absent without sockets); "
            "compare with supportdesk_bus_event_log_head_id",
            labels=["kind"],
        )
        for kind, source in sorted(_socket_sources.items()):
            try:
                stats = source()
            except Exception:  # noqa: BLE001 - one source must not break the scrape
                log.exception("socket figures of %s could not be read", kind)
                continue
            opened.add_metric([kind], stats.open)
            if stats.lowest_position is not None:
                lowest.add_metric([kind], stats.lowest_position)
        yield opened
        yield lowest


REGISTRY.register(SocketCollector())


# --- the view --------------------------------------------------------------------------------


def _bearer(request: HttpRequest) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _address_allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for network in settings.METRICS_ALLOWED_NETWORKS:
        try:
            if ip in ipaddress.ip_network(network.strip(), strict=False):
                return True
        except ValueError:
            log.error("METRICS_ALLOWED_NETWORKS: %r is not a network", network)
    return False


def metrics_allowed(request: HttpRequest) -> bool:
    """A request with the METRICS_TOKEN as Bearer, or from METRICS_ALLOWED_NETWORKS.

    Raises Http404 when neither is configured: an endpoint nobody may use does not exist."""
    token = settings.METRICS_TOKEN
    if not token and not settings.METRICS_ALLOWED_NETWORKS:
        raise Http404("metrics are off: set METRICS_TOKEN or METRICS_ALLOWED_NETWORKS")
    given = _bearer(request)
    if token and given and hmac.compare_digest(given.encode(), token.encode()):
        return True
    return bool(settings.METRICS_ALLOWED_NETWORKS) and _address_allowed(request.META.get("REMOTE_ADDR", ""))


def metrics(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        return HttpResponse("metrics: not for you (METRICS_TOKEN, METRICS_ALLOWED_NETWORKS)\n", status=403)
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
