"""Prometheus metrics of one app: HTTP requests, Outline calls, live keys per server."""

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from domain.servers.stats import ServerStats


class Metrics:
    """The app's own registry (several apps in one process, e.g. tests, never collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "vpnkeys_http_requests",
            "HTTP API requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        # The labelled children of each (route, method, status): ``labels`` costs a lock.
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.latency = Histogram(
            "vpnkeys_http_request_duration_seconds",
            "HTTP API request latency by route template and method.",
            ["route", "method"],
            registry=self.registry,
        )
        self.outline_latency = Histogram(
            "vpnkeys_outline_call_duration_seconds",
            "Outline management API call latency by server and operation.",
            ["server", "operation"],
            registry=self.registry,
        )
        self.outline_errors = Counter(
            "vpnkeys_outline_call_errors",
            "Failed Outline management API calls by server, operation and error.",
            ["server", "operation", "error"],
            registry=self.registry,
        )
        self.keys = Gauge(
            "vpnkeys_live_keys",
            "Live (not deleted) keys by server and state (active or inactive).",
            ["server", "state"],
            registry=self.registry,
        )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered HTTP request."""
        key = (route, method, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route, method),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_outline(self, server: str, operation: str, outcome: str, seconds: float) -> None:
        """The ``BackendPool`` observer: one Outline call and how it ended."""
        self.outline_latency.labels(server, operation).observe(seconds)
        if outcome != "ok":
            self.outline_errors.labels(server, operation, outcome).inc()

    def set_keys(self, servers: Iterable[ServerStats]) -> None:
        """Replace the live-key gauges with fresh counts."""
        self.keys.clear()
        for server in servers:
            self.keys.labels(server.name, "active").set(server.active_keys)
            self.keys.labels(server.name, "inactive").set(server.live_keys - server.active_keys)

    def render(self) -> bytes:
        """The text exposition of every metric."""
        return generate_latest(self.registry)
