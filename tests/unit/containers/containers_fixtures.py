"""Paths and loaders of the container statistics fixtures (see fixtures/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

from ansible_collections.quadstats.stack.plugins.module_utils.containers.engine import Engine
from ansible_collections.quadstats.stack.plugins.module_utils.containers.errors import UnknownContainer

FIXTURES = Path(__file__).parent / "fixtures"
V1 = FIXTURES / "cgroup_v1"
V2 = FIXTURES / "cgroup_v2"
PODMAN = FIXTURES / "api" / "podman-4.3.1"
DOCKER = FIXTURES / "api" / "docker-handwritten"

# The recorded v1 containers: name -> (id, pid).
V1_BUSY = ("8873f39a38c3a8750e85b1e28375a4dd0189b76e3e35243ef6e482b6e3a4bea8", 6882)
V1_MEM = ("a05c190c1f49b131d8976f3ccdc5f60ffc1d615f7dd4502e2c75c376a1f56ec4", 7863)
V1_IO = ("20492d8240b9b65e0f90c8be20177e9532864b9dd410539afeb10a525ef8536a", 7962)
# The hand-written v2 containers.
V2_QUADLET = ("3f1c9a0b2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8", 4242)
V2_ROOTFUL = ("9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d", 5151)


def load_json(path):
    return json.loads(Path(path).read_text())


def load_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def v1_file(controller, ident, name):
    return (V1 / "sys/fs/cgroup" / controller / "libpod_parent" / ("libpod-" + ident) / name).read_text()


class StandInEngine(Engine):
    """Answers like podman 4.3.1 did when the fixtures were recorded (libpod list and stats)."""

    origin = "socket"
    stats_api = "libpod"

    def __init__(self, refs):
        super().__init__("stand-in", "unix:///stand-in.sock", "podman", "4.3.1", "1.41")
        self.refs = refs
        self.stats = {e["ContainerID"]: e for e in load_json(PODMAN / "podman_libpod_stats.json")["Stats"]}
        self.inspected = []

    def list_running(self):
        return [dict(r) for r in self.refs]

    def inspect(self, ident):
        self.inspected.append(ident)
        raise UnknownContainer([ident])

    def libpod_stats(self, ids=None):
        return {i: self.stats[i] for i in ids or self.stats if i in self.stats}
