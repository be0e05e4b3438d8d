"""Differential test of the collection's output: every recorded cgroup tree read through the sampler
(files opened per read and kept open), then rates and every encoder (Prometheus text, line
protocol, JSON lines, the exporter's whole ``/metrics`` page), compared byte for byte with
``fixtures/golden/collection_output.txt``.

The golden file was written by the code before the parsing was sped up (2026-11-30, commit
5b218e0's parsers and encoders), so a faster parser or encoder that changes one figure, one label or
one byte fails here. Rewrite it only for an intended change of output:
``QS_RECORD_GOLDEN=1 .venv/bin/pytest tests/unit/containers/test_containers_golden_output.py``.
"""

from __future__ import annotations

import json
import os

from containers_fixtures import FIXTURES, V1, V1_BUSY, V1_IO, V1_MEM, V2, V2_QUADLET, V2_ROOTFUL, StandInEngine

from ansible_collections.quadstats.stack.plugins.module_utils.containers import exposition
from ansible_collections.quadstats.stack.plugins.module_utils.containers.cgroups import CgroupReader
from ansible_collections.quadstats.stack.plugins.module_utils.containers.formulas import rates
from ansible_collections.quadstats.stack.plugins.module_utils.containers.sampler import ContainerSampler
from ansible_collections.quadstats.stack.services.container_exporter import prometheus

GOLDEN = FIXTURES / "golden" / "collection_output.txt"
DEBIAN13 = FIXTURES / "cgroup_v2_debian13"
# (tree, [(id, pid, name, engine labels)])
TREES = (
    (V1, [(*V1_BUSY, "busy", {}), (*V1_MEM, "mem", {}),
          (*V1_IO, "io3", {"PODMAN_SYSTEMD_UNIT": "demo.service", "com.docker.compose.project": "demo"})]),
    (V2, [(*V2_QUADLET, "web", {}), (*V2_ROOTFUL, "rootful", {})]),
    (DEBIAN13, [("d168a7c19f5fd5e3becdedc1c836a8a6b768ac1a7fb3c9625c1f377cac8726a7", 419, "qs-busy", {}),
                ("2d815c87de0db974e42379b7d285b3ce0a3db60d022b47c91564b258ae35a070", 452, "qs-idle", {})]),
)  # fmt: skip
TIMESTAMP = 1795430800.125
ELAPSED_NS = 15_000_000_000


def collect(tree, containers, keep_open):
    refs = [
        {"id": i, "name": n, "image": "localhost/qsc-busybox:test", "pid": p, "engine_labels": labels,
         "state": "running", "restart_count": 0, "started_at": 1795430765, "oom_killed": False}
        for i, p, n, labels in containers
    ]  # fmt: skip
    reader = CgroupReader(
        proc_root=str(tree / "proc"),
        fs_root=str(tree),
        mountinfo_text=(tree / "proc" / "mountinfo").read_text(),
        clk_tck=100,
        keep_open=keep_open,
    )
    sampler = ContainerSampler(StandInEngine(refs), reader=reader)
    samples = sampler.collect()
    if keep_open:
        samples = sampler.collect()  # the second read goes through the kept files
    reader.close()
    for sample in samples:
        sample["timestamp"] = TIMESTAMP
        # A previous read with the counters halved, every fifth one larger (a reset: no rate) and the
        # first one missing (no rate either).
        counters = sorted(sample["counters"].items())
        before = {k: v // 2 if n % 5 else v + 1 for n, (k, v) in enumerate(counters) if n and v is not None}
        sample["rates"] = rates(before, sample["counters"], ELAPSED_NS)
        sample["disk"] = {"/data": {"used_bytes": 1024, "limit_bytes": 4096, "free_bytes": 3072, "reserved_bytes": 0}}
    return samples


def render_all():
    parts = []
    for tree, containers in TREES:
        for keep_open in (0, 100):
            samples = collect(tree, containers, keep_open)
            title = f"{tree.name} keep_open={keep_open}"
            stats = {"engine_up": 1, "containers": len(samples), "containers_seen": len(samples), "cgroup_locations": 2,
                     "events": {"start": 2}, "reconnects": 0, "read_errors": {}, "durations": [0.01, 0.02],
                     "duration_sum": 0.03, "cpu_durations": [0.005], "cpu_sum": 0.005, "collections": 2,
                     "sinks": [], "buffered": []}  # fmt: skip
            disk = samples[0]["disk"]["/data"]
            engine_labels = {s["id"]: {"io.quadstats.test": "golden", "a-b": "1"} for s in samples}
            parts += [
                f"### {title}: samples",
                json.dumps(samples, sort_keys=True, indent=1),
                f"### {title}: to_prometheus",
                exposition.to_prometheus(samples),
                f"### {title}: to_prometheus extra labels, timestamps",
                exposition.to_prometheus(samples, extra_labels={"host": "h1"}, timestamps=True),
                f"### {title}: to_influx",
                exposition.to_influx(samples),
                f"### {title}: to_json_lines",
                exposition.to_json_lines(samples),
                f"### {title}: exporter /metrics",
                prometheus.render(samples, {samples[0]["id"]: "healthy"}, {"/": disk}, stats, engine_labels),
            ]
    return "\n".join(parts) + "\n"


def test_collection_output_is_byte_for_byte_what_the_previous_code_gave():
    text = render_all()
    if os.environ.get("QS_RECORD_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    golden = GOLDEN.read_text()
    assert text.count("container_cpu_usage_seconds_total{") > 20  # the trees were read, not skipped
    assert text == golden
