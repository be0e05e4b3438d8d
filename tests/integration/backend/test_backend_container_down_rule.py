"""QuadstatsContainerDown, as the backend role ships it, evaluated by a real Prometheus (Debian trixie's package).

The rules file is rendered from roles/backend/templates/alert-rules.yml.j2 through the role's argument_specs,
defaults, checks and Ansible's templating (tests/unit/role_render), with ``container_down_minutes: 0`` so the rule
fires at its first true evaluation (the test waits by polling, never on timing). Prometheus scrapes every second a
small HTTP server on 127.0.0.1 whose pages the test changes; each page is the container exporter's own ``/metrics``
(``services/container_exporter/prometheus.render``) for one host (its ``instance``):

- ``host-plain``: ``web`` stops (its series vanish, as the exporter follows running containers only) → one alert;
- ``host-heartbeats``: the same, but the exporter delivers heartbeats to the backend → no alert (the backend's own);
- ``host-heartbeats-restarted``: the same, and the exporter restarted (its sink counter back to 0) → no alert;
- ``host-restarted``: ``web`` restarted with a new id, image and labels → no alert;
- ``host-gone``: the whole page fails (exporter down, ``up == 0``) → no container alert (TargetDown's business).

Scraped directly, a vanished series gets a staleness marker at the next scrape. Series that reach Prometheus by
remote write vanish with the sender's staleness markers, or without them (the collector stand-in) only after the
5-minute lookback: the second test runs the same Prometheus's ``promtool test rules`` on the role's default
rendering with such series, minute by minute (both delays, the same cases, forgetting after 24 h).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import yaml

from ansible_collections.quadstats.stack.services.container_exporter import prometheus as exporter_page
from ansible_collections.quadstats.stack.services.container_exporter.sinks import SinkStats
from harness.prometheus import Prometheus
from harness.trixie_container import free_tcp_port, podman_available
from unit.role_render import render_role, rendered_case

pytestmark = [
    pytest.mark.slow,
    pytest.mark.podman,
    pytest.mark.skipif(not podman_available(), reason="needs rootful podman and runc on this machine"),
]
CANARY = "qscanary-container-down-rule-3307"
RULES = {
    "disk_used_percent": 90,
    "onefs_capacity_used_percent": 85,
    "host_down_minutes": 5,
    "container_down_minutes": 0,
    "container_forget_hours": 1,
}
HOSTS = ("host-plain", "host-heartbeats", "host-heartbeats-restarted", "host-restarted", "host-gone")
ALERT = "QuadstatsContainerDown"


def container(name: str, ident: str, image: str, labels: dict) -> dict:
    """A running container's sample as the core gives it (no figures: only the state series matter here)."""
    return {
        "id": ident, "name": name, "image": image, "state": "running", "timestamp": time.time(),
        "labels": {"id": ident, "name": name, "image": image}, "engine_labels": labels,
        "counters": {}, "gauges": {}, "rates": {},
    }  # fmt: skip


def page(containers: list[dict], backend_sent: int | None) -> str:
    """The exporter's /metrics page; ``backend_sent``: the backend sink's delivered count (None: no such sink)."""
    sinks = []
    if backend_sent is not None:
        sink = SinkStats()
        sink.sent = backend_sent
        sinks.append(("backend", sink))
    stats = {
        "engine_up": 1, "containers": len(containers), "containers_seen": len(containers), "cgroup_locations": 0,
        "events": {}, "reconnects": 0, "read_errors": {}, "durations": [], "duration_sum": 0.0, "collections": 0,
        "cpu_durations": [], "cpu_sum": 0.0, "sinks": sinks, "buffered": [(n, 0) for n, _s in sinks],
    }  # fmt: skip
    samples = [{**c, "timestamp": time.time()} for c in containers]
    return exporter_page.render(samples, {}, {}, stats, {c["id"]: c["engine_labels"] for c in containers})


class Pages:
    """What each host's exporter shows: (containers, backend_sent), or None for a failing exporter (503)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state: dict[str, tuple[list[dict], int | None] | None] = {}

    def set(self, host: str, value) -> None:
        with self.lock:
            self.state[host] = value

    def text(self, host: str) -> str | None:
        with self.lock:
            value = self.state.get(host)
        return None if value is None else page(*value)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The rules file per case: ``container_rule`` (for 0m, forget 1 h) and the role's ``defaults``."""
    cases = {
        "container_rule": {"backend_prometheus": True, "backend_prometheus_rules": RULES},
        "defaults": {"backend_prometheus": True},
    }
    out = render_role(
        "backend",
        cases,
        {"alert-rules.yml.j2": "alert-rules.yml"},
        ["backend__url"],
        out=tmp_path_factory.mktemp("container_rule"),
        secret=CANARY,
    )
    return {case: rendered_case(out, case, ["alert-rules.yml"])[0] for case in cases}


@pytest.fixture
def rules_text(rendered) -> str:
    return rendered["container_rule"]


@pytest.fixture
def pages():
    state = Pages()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            text = state.text(self.path.strip("/"))
            body = (text or "exporter down\n").encode()
            self.send_response(200 if text is not None else 503)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_tcp_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, server.server_address[1]
    server.shutdown()
    server.server_close()


def api(prom: Prometheus, path: str, **params) -> dict:
    answer = httpx.get(f"{prom.url}/api/v1/{path}", params=params, timeout=10)
    answer.raise_for_status()
    return answer.json()["data"]


def container_alerts(prom: Prometheus) -> list[dict]:
    return [a for a in api(prom, "alerts")["alerts"] if a["labels"]["alertname"] == ALERT]


def wait_for(what: str, check, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what}: not seen in {timeout} s"
        time.sleep(0.5)


def seen_by(prom: Prometheus, promql: str):
    """A check for ``wait_for``: the instant query returns something."""
    return lambda: bool(api(prom, "query", query=promql)["result"])


def evaluations(prom: Prometheus) -> float:
    """How often the containers' rule group has been evaluated (Prometheus's own counter, scraped every second)."""
    result = api(prom, "query", query='sum(prometheus_rule_evaluations_total{rule_group=~".*;quadstats-containers"})')
    return float(result["result"][0]["value"][1]) if result["result"] else 0.0


def container_rule(prom: Prometheus) -> dict:
    groups = api(prom, "rules")["groups"]
    return next(r for g in groups for r in g["rules"] if r["name"] == ALERT)


def test_container_down_fires_once_for_a_stopped_container_and_never_twice(rules_text, pages):
    rule = next(r for g in yaml.safe_load(rules_text)["groups"] for r in g["rules"] if r["alert"] == ALERT)
    assert rule["for"] == "0m" and "[1h]" in rule["expr"], rule
    state, port = pages
    web = {h: container("web", f"{i:02x}" * 32, "localhost/web:1", {"app": "web"}) for i, h in enumerate(HOSTS)}
    db = {h: container("db", f"{i + 16:02x}" * 32, "localhost/db:1", {}) for i, h in enumerate(HOSTS)}
    sent = {"host-heartbeats": 4, "host-heartbeats-restarted": 4}
    for host in HOSTS:
        state.set(host, ([web[host], db[host]], sent.get(host)))
    targets = [
        {"targets": [f"127.0.0.1:{port}"], "labels": {"instance": host, "__metrics_path__": f"/{host}"}}
        for host in HOSTS
    ]
    prom = Prometheus(
        scrape_configs=({"job_name": "container_exporter", "static_configs": targets},),
        rule_files={"alert-rules.yml": rules_text},
    ).start()
    try:
        checked = prom.podman("exec", prom.name, "promtool", "check", "rules", "/etc/qs/alert-rules.yml", check=False)
        assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked.stdout + checked.stderr

        # Before: every host's two containers in Prometheus, the rule evaluated without error, no alert.
        for host in HOSTS:
            wait_for(f"{host}'s containers", seen_by(prom, f'count(container_last_seen{{instance="{host}"}}) == 2'))
        first = evaluations(prom)
        wait_for("a rule evaluation after the first scrapes", lambda: evaluations(prom) > first)
        assert container_rule(prom)["health"] == "ok", container_rule(prom)
        assert container_alerts(prom) == []

        # web stops on every host (restarted on one: new id, image and labels; the whole exporter fails on another).
        restarted = container("web", "ab" * 32, "localhost/web:2", {"app": "web", "version": "2"})
        state.set("host-plain", ([db["host-plain"]], None))
        state.set("host-heartbeats", ([db["host-heartbeats"]], 5))
        state.set("host-heartbeats-restarted", ([db["host-heartbeats-restarted"]], 0))
        state.set("host-restarted", ([restarted, db["host-restarted"]], None))
        state.set("host-gone", None)

        fired = wait_for("the alert for host-plain's web", lambda: container_alerts(prom))
        # Every change is in Prometheus now; then watch at least 10 more evaluations for any other alert.
        wait_for("host-gone down", seen_by(prom, 'up{instance="host-gone"} == 0'))
        new_id = restarted["id"]
        wait_for("the restarted web", seen_by(prom, f'container_last_seen{{instance="host-restarted",id="{new_id}"}}'))
        for host in ("host-plain", "host-heartbeats", "host-heartbeats-restarted"):
            gone = f'absent(container_last_seen{{instance="{host}",name="web"}})'
            wait_for(f"{host}'s web gone", seen_by(prom, gone))
        seen = {(a["labels"]["instance"], a["labels"]["name"], a["state"]) for a in fired}
        watch_until = evaluations(prom) + 10
        deadline = time.monotonic() + 120
        while evaluations(prom) < watch_until:
            seen |= {(a["labels"]["instance"], a["labels"]["name"], a["state"]) for a in container_alerts(prom)}
            assert time.monotonic() < deadline, "the rule group was not evaluated 10 times in 120 s"
            time.sleep(0.5)
        assert seen == {("host-plain", "web", "firing")}
        (alert,) = container_alerts(prom)
        assert alert["labels"] == {
            "alertname": ALERT, "instance": "host-plain", "job": "container_exporter", "name": "web",
            "severity": "critical",
        }  # fmt: skip
        assert "Container web on host-plain is not running" in alert["annotations"]["summary"]
        assert container_rule(prom)["health"] == "ok", container_rule(prom)

        # web starts again on host-plain (a new id, as a podman restart gives): the alert resolves.
        again = container("web", "cd" * 32, "localhost/web:1", {"app": "web"})
        state.set("host-plain", ([again, db["host-plain"]], None))
        wait_for("the alert resolved", lambda: container_alerts(prom) == [])
    except BaseException:
        print(prom.logs(tail=60))  # shown by pytest with the failure
        raise
    finally:
        prom.stop()


# promtool's rule unit tests (the same engine, on series given minute by minute) for the role's defaults
# (container_down_minutes 2, container_forget_hours 24) and series that arrive by remote write: without staleness
# markers (the collector stand-in) they vanish only after the 5-minute lookback; with them (``stale``, what
# Alloy's scrape writes and the backend relays as received) at once.
LAST_SEEN = 'container_last_seen{{instance="{host}",job="container_exporter",name="web",id="{ident}",image="web:1"}}'
EXPORTER = 'quadstats_container_exporter_containers{{instance="{host}",job="container_exporter"}}'
SENT = 'quadstats_container_exporter_sink_sent_total{{instance="{host}",job="container_exporter",sink="backend"}}'
MINUTES = 25 * 60 + 10  # past container_forget_hours (24)


def series(name: str, host: str, values: str, ident: str = "aa") -> dict:
    return {"series": name.format(host=host, ident=ident), "values": values}


def alert(host: str) -> dict:
    return {
        "exp_labels": {"instance": host, "job": "container_exporter", "name": "web", "severity": "critical"},
        "exp_annotations": {
            "summary": f"Container web on {host} is not running (last seen 1970-01-01 00:01:40 +0000 UTC)"
        },
    }


def promtool_tests() -> dict:
    """Every series seen for minutes 0..10 (value 100: the last-seen second), then as each host's case says."""
    seen, always = "100x10", f"1x{MINUTES}"
    input_series = [
        # web stops at 10 m, no staleness marker: still looked up until 15 m, then 2 m pending.
        series(LAST_SEEN, "no-markers", seen), series(EXPORTER, "no-markers", always),
        # web stops at 10 m with a staleness marker at 11 m: pending from 11 m, firing at 13 m.
        series(LAST_SEEN, "markers", seen + " stale"), series(EXPORTER, "markers", always),
        # the whole exporter page goes at 10 m: no container alert, ever.
        series(LAST_SEEN, "exporter-gone", seen), series(EXPORTER, "exporter-gone", "1x10"),
        # heartbeats to the backend, the exporter restarted at 10 m (counter back to 0), web not back: no alert.
        series(LAST_SEEN, "heartbeats", seen), series(EXPORTER, "heartbeats", always),
        series(SENT, "heartbeats", f"1+1x10 0x{MINUTES - 11}"),
        # web restarted at 10 m with a new id: no alert.
        series(LAST_SEEN, "restarted", seen), series(LAST_SEEN, "restarted", f"_x10 200x{MINUTES - 11}", "bb"),
        series(EXPORTER, "restarted", always),
    ]  # fmt: skip
    expected = {
        14: [alert("markers")],
        19: [alert("markers"), alert("no-markers")],
        MINUTES: [],  # forgotten after 24 h: resolved
    }
    return {
        "rule_files": ["alert-rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": input_series,
                "alert_rule_test": [
                    {"eval_time": f"{minute}m", "alertname": ALERT, "exp_alerts": alerts}
                    for minute, alerts in expected.items()
                ],
            }
        ],
    }


def test_container_down_with_remote_written_series_and_the_default_durations(rendered, tmp_path):
    prom = Prometheus().start()
    try:
        (tmp_path / "alert-rules.yml").write_text(rendered["defaults"])
        (tmp_path / "container-down-test.yml").write_text(yaml.safe_dump(promtool_tests(), sort_keys=False))
        prom.podman("cp", str(tmp_path), f"{prom.name}:/tmp/rule-test")
        tested = prom.podman(
            "exec", "-w", "/tmp/rule-test", prom.name, "promtool", "test", "rules", "container-down-test.yml",
            check=False, timeout=300,
        )  # fmt: skip
        assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr
    finally:
        prom.stop()
