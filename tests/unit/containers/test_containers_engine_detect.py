"""Engine detection order and the errors when nothing answers (no engine needed)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from ansible_collections.quadstats.stack.plugins.module_utils.containers import engine
from ansible_collections.quadstats.stack.plugins.module_utils.containers.errors import (
    EngineUnreachable,
    InvalidOption,
)
from ansible_collections.quadstats.stack.plugins.module_utils.containers.sampler import (
    check_metrics,
    check_sample_seconds,
)

NO_PODMAN = "/nonexistent/podman"


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
        engine.connect(env=env, uid=4321, engine="podman", podman_command=NO_PODMAN)
    text = str(info.value)
    assert info.value.kind == "unreachable"
    assert str(tmp_path / "podman" / "podman.sock") + " (not found)" in text
    assert "/run/podman/podman.sock" in text
    assert "podman command (not installed)" in text
    assert "'socket' option" in text


def test_the_systemd_advice_is_given_only_where_systemd_runs(tmp_path):
    with pytest.raises(EngineUnreachable) as info:
        engine.connect(env={"XDG_RUNTIME_DIR": str(tmp_path)}, uid=4321, podman_command=NO_PODMAN)
    assert ("systemctl --user enable --now podman.socket" in str(info.value)) == Path("/run/systemd/system").is_dir()
    assert "systemctl" not in str(EngineUnreachable([("x", "not found")]))
    advised = EngineUnreachable([], "--user enable --now podman.socket")
    assert "or start the engine's socket ('systemctl --user enable --now podman.socket')" in str(advised)


def test_socket_option_that_is_a_directory_or_a_file_says_so(tmp_path):
    with pytest.raises(InvalidOption, match=r"socket: .* is a directory, not a socket .*podman.sock") as info:
        engine.connect(sock=str(tmp_path))
    assert info.value.kind == "invalid_option"
    regular = tmp_path / "plain.txt"
    regular.write_text("not a socket")
    with pytest.raises(InvalidOption, match=r"plain.txt is a regular file, not a socket"):
        engine.connect(sock=str(regular))
    with pytest.raises(EngineUnreachable, match=r"missing.sock \(not found\)"):
        engine.connect(sock=str(tmp_path / "missing.sock"))


@pytest.mark.parametrize("timeout", [0, -1, 0.0, "soon", None, float("inf"), float("nan")])
def test_timeout_must_be_positive_and_is_named(timeout, tmp_path):
    with pytest.raises(InvalidOption, match=r"^timeout: must be a number of seconds greater than 0") as info:
        engine.connect(sock=str(tmp_path / "x.sock"), timeout=timeout)
    assert info.value.option == "timeout"


def test_refused_socket_is_named(tmp_path):
    path = tmp_path / "dead.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()  # bound, never listening: connection refused
    with pytest.raises(EngineUnreachable, match=r"dead.sock \(connection refused") as info:
        engine.connect(sock=str(path))
    assert "podman command" not in str(info.value)  # an explicit socket is not second-guessed


def test_bad_arguments_are_named():
    with pytest.raises(InvalidOption, match=r"^engine: must be one of"):
        engine.connect(engine="lxc")
    with pytest.raises(InvalidOption, match=r"^metrics: unknown metric group\(s\) gpu"):
        check_metrics(["cpu", "gpu"])
    with pytest.raises(InvalidOption, match=r"^sample_seconds: must be 0 or more \(got -1\)"):
        check_sample_seconds(-1)


def test_event_lines_written_together_are_all_read_before_the_idle_timeout():
    # podman events writes several lines at once; a buffered reader would hide the second from select().
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b'{"Status": "init"}\n{"Status": "start"}\n')
        events = list(engine._json_lines(read_end, timeout=0.2))
    finally:
        os.close(read_end)
        os.close(write_end)
    assert [e["Status"] for e in events] == ["init", "start"]
