"""Health check status from the engines' list and inspect answers; labels of podman command events."""

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


def test_podman_command_events_carry_their_labels():
    # A line of ``podman events --format json`` (podman 4.3.1 here): attributes on top, not in Actor.
    raw = {
        "ID": "7ffb41db2918f7d0e516884bd1c5abaa925c1aa6029d24cea7d7aba9129f9a85",
        "Image": "localhost/qs-busybox:stats",
        "Name": "qs-cx-probe",
        "Status": "start",
        "Time": "2026-11-30T11:02:04.904508843Z",
        "Type": "container",
        "Attributes": {"io.quadstats.test": "8ea658f1", "quadstats.content-hash": "59db516dedb2b065"},
    }
    event = api_parse.normalise_event(raw)
    assert event["action"] == "start"
    assert event["name"] == "qs-cx-probe"
    assert event["attributes"]["io.quadstats.test"] == "8ea658f1"
