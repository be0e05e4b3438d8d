"""Fast checks of the harness's pure parts (no host is booted)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness import host_state
from harness.debian_images import normalize_ref
from harness.rootfs import cache_key
from harness.target_host import TargetHost, remove_from_inventory, write_inventory


def test_cache_key_follows_the_package_list_not_its_order() -> None:
    assert cache_key(["a", "b"], "1") == cache_key(["b", "a", "a"], "1")
    assert cache_key(["a", "b"], "1") != cache_key(["a", "b", "c"], "1")
    assert cache_key(["a"], "1") != cache_key(["a"], "2")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("qs-python", "localhost/qs-python:latest"),
        ("qs-python:trixie", "localhost/qs-python:trixie"),
        ("localhost/pg:17", "localhost/pg:17"),
    ],
)
def test_normalize_ref(given: str, expected: str) -> None:
    assert normalize_ref(given) == expected


def test_normalize_ref_refuses_registry_images() -> None:
    with pytest.raises(ValueError, match="localhost"):
        normalize_ref("docker.io/library/python:3")


@pytest.mark.parametrize("name", ["", "Upper", "1abc", "a_b", "x" * 32])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="host name"):
        TargetHost(name)


def test_inventory_merges_hosts_and_removes_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_state, "STATE_ROOT", tmp_path / "hosts")  # hosts and the lock live there
    inv = tmp_path / "inv.yml"
    a, b = TargetHost("qs-pure-a", index=201), TargetHost("qs-pure-b", index=202)
    write_inventory(inv, [a])
    write_inventory(inv, [b])
    hosts = yaml.safe_load(inv.read_text())["all"]["children"]["quadstats_targets"]["hosts"]
    assert hosts["qs-pure-a"]["ansible_host"] == "10.213.201.2"
    assert hosts["qs-pure-b"]["ansible_host"] == "10.213.202.2"
    assert hosts["qs-pure-b"]["ansible_user"] == "root"
    assert "StrictHostKeyChecking=no" in hosts["qs-pure-b"]["ansible_ssh_common_args"]
    assert "UserKnownHostsFile=/dev/null" in hosts["qs-pure-b"]["ansible_ssh_common_args"]
    assert hosts["qs-pure-b"]["ansible_ssh_private_key_file"].endswith("/qs-pure-b/ssh/id_ed25519")
    remove_from_inventory(inv, "qs-pure-a")
    hosts = yaml.safe_load(inv.read_text())["all"]["children"]["quadstats_targets"]["hosts"]
    assert list(hosts) == ["qs-pure-b"]
