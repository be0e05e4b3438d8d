"""The collection's Grafana dashboards, checked the honest way without Grafana: every panel's PromQL
evaluated against a real Prometheus.

Grafana cannot run here. What Grafana would do with a dashboard is, per panel target, substitute
the template variables and ``$__rate_interval`` and send the query to Prometheus; this module does
the same: query variables (``label_values(metric, label)``) are resolved through Prometheus's label
API (each must offer at least one value, or the dashboard's drop-down is empty), "All" becomes the
variable's ``allValue`` regex, and each target is sent as Grafana sends it — instant targets to
``/api/v1/query``, range targets to ``/api/v1/query_range`` over the last ``window`` seconds.
A query "returns data" when Prometheus answers ``success`` with at least one series.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "dashboards" / "grafana"
SCHEMA = REPO / "tests" / "fixtures" / "grafana" / "dashboard-schema-42.json"
LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)\)$")
# Grafana's built-in interval variables, as Grafana would fill them for a short panel range.
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m"}


@dataclass(frozen=True)
class Target:
    dashboard: str
    panel: str
    ref: str
    expr: str
    instant: bool

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref}"


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def targets(dashboard: dict) -> list[Target]:
    """Every PromQL target of every panel (rows' nested panels included)."""
    out = []
    stack = list(dashboard.get("panels", []))
    while stack:
        item = stack.pop(0)
        stack.extend(item.get("panels", []))
        for target in item.get("targets", []):
            if "expr" in target:
                out.append(
                    Target(
                        dashboard["title"],
                        item.get("title", ""),
                        target["refId"],
                        target["expr"],
                        bool(target.get("instant")),
                    )
                )
    return out


def substitute(text: str, values: dict[str, str]) -> str:
    """``$name``, ``${name}`` and ``[[name]]`` replaced as Grafana does; unknown names are left as they are."""

    def one(match: re.Match) -> str:
        name = match.group("braced") or match.group("plain") or match.group("old")
        return values.get(name, match.group(0))

    return re.sub(r"\$\{(?P<braced>\w+)\}|\$(?P<plain>\w+)|\[\[(?P<old>\w+)\]\]", one, text)


class PrometheusAPI:
    def __init__(self, base_url: str, timeout: float = 20) -> None:
        self.base = base_url.rstrip("/")
        self.timeout = timeout

    def get(self, path: str, params: list[tuple[str, str]]) -> dict:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=self.timeout) as answer:  # noqa: S310 # the test's own Prometheus
            body = json.load(answer)
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus answered {body} to {url}")
        return body["data"]

    def label_values(self, label: str, selector: str | None) -> list[str]:
        params = [("match[]", selector)] if selector else []
        return self.get(f"/api/v1/label/{label}/values", params)

    def series_count(self, expr: str, instant: bool, window: float) -> int:
        now = time.time()
        if instant:
            data = self.get("/api/v1/query", [("query", expr), ("time", f"{now:.3f}")])
        else:
            params = [("query", expr), ("start", f"{now - window:.3f}"), ("end", f"{now:.3f}"), ("step", "15")]
            data = self.get("/api/v1/query_range", params)
        return len(data["result"])


def variable_values(dashboard: dict, api: PrometheusAPI) -> tuple[dict[str, str], list[str]]:
    """Values for the dashboard's variables in order (later ones may use earlier ones) and problems found."""
    values = dict(BUILTINS)
    problems = []
    for var in dashboard.get("templating", {}).get("list", []):
        name = var["name"]
        if var["type"] == "datasource":
            values[name] = "prometheus"
            continue
        query = var.get("query")
        query = query.get("query", "") if isinstance(query, dict) else str(query or "")
        match = LABEL_VALUES.match(substitute(query, values).strip())
        if var["type"] != "query" or not match:
            problems.append(
                f"{dashboard['title']}: variable {name}: only label_values(...) query variables can be checked,"
                f" got {query!r}"
            )
            continue
        found = api.label_values(match.group("label"), match.group("selector"))
        if not found:
            problems.append(f"{dashboard['title']}: variable {name} ({query}) offers no value")
        values[name] = (var.get("allValue") or ".*") if var.get("includeAll") else (found[0] if found else "")
    return values, problems


def evaluate(api: PrometheusAPI, window: float = 300, titles: set[str] | None = None) -> tuple[list[str], list[str]]:
    """(problems, checked) over the shipped dashboards (those named in ``titles``, or all): each
    problem names the dashboard, panel and query."""
    problems, checked = [], []
    for path in dashboard_files():
        dashboard = load(path)
        if titles is not None and dashboard["title"] not in titles:
            continue
        values, var_problems = variable_values(dashboard, api)
        problems.extend(var_problems)
        for target in targets(dashboard):
            expr = substitute(target.expr, values)
            try:
                count = api.series_count(expr, target.instant, window)
            except Exception as exc:  # a bad query is a finding, reported with the others
                problems.append(f"{target}: {expr!r} failed: {exc}")
                continue
            checked.append(f"{target}: {count} series")
            if count == 0:
                problems.append(f"{target}: {expr!r} returned no data")
    return problems, checked
