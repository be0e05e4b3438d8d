"""Fast checks of the harness's pure parts (no host is booted)."""

from __future__ import annotations

import re
import socket
import ssl
import threading
from pathlib import Path

import pytest
import yaml

from harness import host_state
from harness.certs import make_test_ca, server_names
from harness.debian_images import normalize_ref
from harness.images import content_hash, json_instruction
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


def test_content_hash_keeps_part_boundaries() -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", content_hash("a", b"b"))
    assert content_hash("ab", "c") != content_hash("a", "bc")
    assert content_hash("a", "b") == content_hash(b"a", b"b")


def test_json_instruction_has_no_spaces_to_split_at() -> None:
    assert json_instruction("CMD", ["/usr/bin/python3", "-c", "x"]) == 'CMD=["/usr/bin/python3","-c","x"]'


@pytest.mark.parametrize(("address", "server_hostname"), [("127.0.0.1", "127.0.0.1"), ("localhost", "localhost")])
def test_test_ca_signs_a_certificate_clients_verify(tmp_path: Path, address: str, server_hostname: str) -> None:
    tls = make_test_ca(tmp_path, **server_names(address))
    assert (Path(tls["key"]).stat().st_mode & 0o777) == 0o600
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tls["cert"], tls["key"])
    client_ctx = ssl.create_default_context(cafile=tls["ca"])
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def accept() -> None:
            conn = listener.accept()[0]
            with server_ctx.wrap_socket(conn, server_side=True) as tls_conn:
                tls_conn.sendall(b"ok")

        server = threading.Thread(target=accept)
        server.start()
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            client_ctx.wrap_socket(raw, server_hostname=server_hostname) as tls_conn,
        ):
            assert tls_conn.recv(2) == b"ok"
        server.join(timeout=10)


def test_test_ca_refuses_a_certificate_without_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="hostname or IP"):
        make_test_ca(tmp_path, hostnames=(), ips=())
