"""Health check status from the engines' list and inspect answers (what the exporter reports)."""

from __future__ import annotations

from containers_fixtures import PODMAN, load_json

from ansible_collections.quadstats.stack.plugins.module_utils.containers import api_parse


def test_health_from_list_status_and_inspect():
    assert api_parse.health_from_status("healthy") == "healthy"  # libpod API list
    assert api_parse.health_from_status("Up 2 seconds ago (unhealthy)") == "unhealthy"  # podman ps
    assert api_parse.health_from_status("Up 5 minutes ago") is None
    assert api_parse.health_from_status("") is None
    assert api_parse.health_from_status(None) is None
    inspected = {"Id": "x", "State": {"Running": True, "Pid": 4, "Health": {"Status": "starting"}}}
    assert api_parse.ref_from_inspect(inspected)["health"] == "starting"
    assert api_parse.ref_from_inspect(load_json(PODMAN / "podman_compat_inspect_io.json"))["health"] is None
    refs = [api_parse.ref_from_libpod_list(i) for i in load_json(PODMAN / "podman_libpod_containers.json")]
    assert all(r["health"] is None for r in refs)  # recorded containers have no health check
