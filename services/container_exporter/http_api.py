# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The exporter's HTTP pages on the shared listener (``services/common/httpd``): ``/metrics`` for
Prometheus, the REST API ``/containers`` and ``/containers/<name or id>`` (statspout's REST
repository) and ``/healthz``."""

from __future__ import annotations

import json
from urllib.parse import unquote

from ansible_collections.quadstats.stack.plugins.module_utils.containers.exposition import PROMETHEUS_CONTENT_TYPE
from ansible_collections.quadstats.stack.plugins.module_utils.errors import KIND_NOT_FOUND, error_dict
from ansible_collections.quadstats.stack.services.common.httpd import Listener

JSON_TYPE = "application/json"


def find_container(views, key):
    """The view whose name or id is ``key`` (an id prefix of 4+ characters when unique), or None."""
    for view in views:
        if key in (view.get("name"), view["id"]):
            return view
    matches = [v for v in views if len(key) >= 4 and v["id"].startswith(key)]
    return matches[0] if len(matches) == 1 else None


def _json(status, value):
    return status, JSON_TYPE, (json.dumps(value, sort_keys=True) + "\n").encode("utf-8")


def listen(daemon, host, port):
    """Start the listener for ``daemon``; ``close()`` it to stop."""

    def metrics():
        return 200, PROMETHEUS_CONTENT_TYPE, daemon.metrics_text().encode("utf-8")

    def containers():
        return _json(200, daemon.container_views())

    def one_container(rest):
        key = unquote(rest.rstrip("/"))
        found = find_container(daemon.container_views(), key)
        if found is None:
            return _json(404, {"error": error_dict(KIND_NOT_FOUND, f"no running container named {key}")})
        return _json(200, found)

    def healthz():
        up = daemon.engine_up
        return _json(200 if up else 503, {"status": "ok" if up else "engine unreachable", "engine_up": up})

    routes = {"/metrics": metrics, "/containers": containers, "/containers/": containers, "/healthz": healthz}
    return Listener(host, port, routes, name="container-exporter", prefix_routes={"/containers/": one_container})
