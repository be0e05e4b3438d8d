"""Engine detection order and the errors when nothing answers (no engine needed)."""

from __future__ import annotations

import socket

import pytest

from ansible_collections.quadstats.stack.plugins.module_utils.containers import engine
from ansible_collections.quadstats.stack.plugins.module_utils.containers.collector import check_metrics
from ansible_collections.quadstats.stack.plugins.module_utils.containers.errors import (
    ContainerStatsError,
    EngineUnreachable,
)


def test_documented_order():
    env = {"DOCKER_HOST": "unix:///srv/d.sock", "XDG_RUNTIME_DIR": "/run/user/1000"}
    assert engine.candidate_sockets(env=env, uid=1000) == [
        ("DOCKER_HOST", "unix:///srv/d.sock"),
        ("user podman socket", "unix:///run/user/1000/podman/podman.sock"),
        ("system podman socket", "unix:///run/podman/podman.sock"),
        ("docker socket", "unix:///var/run/docker.sock"),
    ]


def test_explicit_socket_wins_and_engine_narrows_the_list():
    assert engine.candidate_sockets("/x.sock", env={}, uid=0) == [("socket option", "unix:///x.sock")]
    only_podman = engine.candidate_sockets(env={}, uid=1001, engine="podman")
    assert [url for _origin, url in only_podman] == [
        "unix:///run/user/1001/podman/podman.sock",
        "unix:///run/podman/podman.sock",
    ]
    assert [url for _origin, url in engine.candidate_sockets(env={}, uid=0, engine="docker")] == [
        "unix:///var/run/docker.sock"
    ]


def test_nothing_reachable_lists_every_socket_tried(tmp_path):
    env = {"XDG_RUNTIME_DIR": str(tmp_path)}
    with pytest.raises(EngineUnreachable) as info:
        engine.connect(env=env, uid=4321, engine="podman")
    text = str(info.value)
    assert str(tmp_path / "podman" / "podman.sock") + " (not found)" in text
    assert "/run/podman/podman.sock" in text


def test_refused_socket_is_named(tmp_path):
    path = tmp_path / "dead.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()  # bound, never listening: connection refused
    with pytest.raises(EngineUnreachable, match=r"dead.sock \(connection refused"):
        engine.connect(sock=str(path))


def test_bad_arguments_are_named():
    with pytest.raises(ContainerStatsError, match="engine must be one of"):
        engine.connect(engine="lxc")
    with pytest.raises(ContainerStatsError, match=r"unknown metric group\(s\) gpu"):
        check_metrics(["cpu", "gpu"])
