"""Records fixtures/decoder_golden.json.gz: statistics/current rows with what the core's decoder made
of them when recorded, for test_onefs_decoder_golden.py to hold every later decoder to.

Rows: the OneFS simulator's model (tests/harness/onefs_simulator, called in-process, no HTTP) for
every key of its key dump at a fixed time, on 3 and 8 nodes, clean and with faults (row error
codes, a node down, odd values), plus fixtures/current_shapes.json. Expected: samples, errors,
node answers and the cluster-degraded flag of ``RowDecoder.decode`` + ``frames_to_samples``.

Run from the repository root (re-record only when a change of output is intended):
    PYTHONPATH=.venv:tests .venv/bin/python tests/unit/onefs/record_decoder_golden.py
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from ansible_collections.quadstats.stack.plugins.module_utils.onefs.samples import RowDecoder, frames_to_samples
from harness.onefs_simulator import OneFSSimulator

HERE = Path(__file__).parent / "fixtures"
GOLDEN = HERE / "decoder_golden.json.gz"
START = 1_796_056_577
ODD = {
    ("cluster.protostats.nfs", 0): [
        {"class_name": "read", "op_name": "read", "op_id": 0, "op_count": None, "op_rate": 1.5}
    ],
    ("node.disk.busy.all", 2): [{"disk": 1, "value": True}, {"disk": "2", "value": 3}],
    ("node.ifs.heat.lock", 1): [{"op_rate": 1.0, "path": "/ifs/a"}, 7, "x", None, {"op_rate": 2, "path": "/ifs/b"}],
    ("cluster.cpu.idle.avg", 0): True,
}


def simulated_rows(nodes, faults):
    sim = OneFSSimulator(seed=7, nodes=nodes, start_time=START).start()  # stop() needs it serving
    try:
        keys = sorted(sim.model.metadata)
        if faults:
            sim.faults.row_errors.update(
                {("cluster.cpu.user.avg", None): 3, ("node.load.1min", 2): 4, ("node.open.files", None): 9}
            )
            sim.faults.value_overrides.update(ODD)
            sim.set_node_up(nodes, False)
        units = {k: m.get("units") for k, m in sim.model.metadata.items()}
        devid_lnn = {n.devid: n.lnn for n in sim.model.nodes}
        return keys, sim.current_rows(keys, START), units, devid_lnn
    finally:
        sim.stop()


def cases():
    out = []
    for nodes, faults in ((3, False), (3, True), (8, True)):
        _keys, rows, units, devid_lnn = simulated_rows(nodes, faults)
        name = f"simulator {nodes} nodes" + (" with faults" if faults else "")
        out.append({"name": name, "rows": rows, "units": units, "devid_lnn": devid_lnn})
    shapes = json.loads((HERE / "current_shapes.json").read_text())["stats"]
    units = {"cluster.cpu.user.avg": "permil", "node.load.1min": "cents", "node.memory.free": "bytes"}
    out.append({"name": "current_shapes.json", "rows": shapes, "units": units, "devid_lnn": {4: 3, 5: 4}})
    return out


OPTIONS = (
    {"include_degraded": True, "nodes": None, "devid_label": True},
    {"include_degraded": False, "nodes": None, "devid_label": False},
    {"include_degraded": True, "nodes": [1, 3], "devid_label": False},
)


def decode_case(case, options, decoder=None, *, defer=False):
    """What the decoder makes of one case: (samples, errors, node answers, cluster degraded).
    ``defer``: as the exporter reads, list values deferred and decoded by another decoder."""
    decoder = decoder or RowDecoder()
    nodes = set(options["nodes"]) if options["nodes"] is not None else None
    frames, errors = decoder.decode(
        case["rows"],
        case["units"],
        "simcluster",
        {int(k): v for k, v in case["devid_lnn"].items()},
        include_degraded=options["include_degraded"],
        nodes=nodes,
        devid_label=options["devid_label"],
        defer=defer,
    )
    if defer:
        frames = RowDecoder().expand(frames)
    return frames_to_samples(frames), errors, [list(a) for a in decoder.node_answers], decoder.cluster_degraded


def main():
    recorded = []
    for case in cases():
        for options in OPTIONS:
            samples, errors, answers, degraded = decode_case(case, options)
            recorded.append(
                {
                    "case": case["name"],
                    "options": options,
                    "samples": samples,
                    "errors": errors,
                    "node_answers": answers,
                    "cluster_degraded": degraded,
                }
            )
    document = {"_about": __doc__.split("\n\n", maxsplit=1)[0], "cases": cases(), "expected": recorded}
    # No sort_keys: the order of a value's members orders its samples.
    GOLDEN.write_bytes(gzip.compress(json.dumps(document).encode(), mtime=0))


if __name__ == "__main__":
    main()
