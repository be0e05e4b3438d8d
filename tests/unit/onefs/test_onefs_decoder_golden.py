"""Differential test of the core's row decoder: every sample (name, field, labels, value, unit,
timestamp, degraded flag), every per-key error, the node answers and the cluster-degraded flag must
equal what the decoder gave when fixtures/decoder_golden.json.gz was recorded (commit 5b218e0, before
the deferred list decoding; recorder: record_decoder_golden.py). The rows are the OneFS simulator's
(3 and 8 nodes, clean and with row errors, a node down and odd values) and current_shapes.json."""

import gzip
import json
from pathlib import Path

import pytest
from record_decoder_golden import decode_case

from ansible_collections.quadstats.stack.plugins.module_utils.onefs.samples import RowDecoder

GOLDEN = json.loads(gzip.decompress((Path(__file__).parent / "fixtures" / "decoder_golden.json.gz").read_bytes()))
CASES = {case["name"]: case for case in GOLDEN["cases"]}
IDS = [f"{e['case']} {e['options']}" for e in GOLDEN["expected"]]


def as_json(value):
    """As recorded: through JSON (tuples become lists, int keys strings)."""
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("defer", [False, True], ids=["eager (modules)", "deferred (exporter)"])
@pytest.mark.parametrize("expected", GOLDEN["expected"], ids=IDS)
def test_decoder_output_equals_the_recorded_output(expected, defer):
    case = CASES[expected["case"]]
    samples, errors, answers, degraded = decode_case(case, expected["options"], defer=defer)
    assert len(samples) == len(expected["samples"])
    for got, want in zip(as_json(samples), expected["samples"], strict=True):
        assert got == want
    # JSON keeps int and float apart (1 vs 1.0): compare the types of the values too.
    assert [type(s["value"]).__name__ for s in samples] == [type(s["value"]).__name__ for s in expected["samples"]]
    assert as_json(errors) == expected["errors"]
    assert answers == expected["node_answers"]
    assert degraded == expected["cluster_degraded"]


def every_lnn(rows, devid_lnn):
    return {row["node"] for row in rows if row.get("node") is not None} | set(devid_lnn.values())


MIXED = [  # devid 2 answers with and without its node member: the row loop decodes these
    {"key": "node.load.1min", "devid": 2, "node": 1, "time": 5, "value": 3, "error": None, "error_code": None},
    {"key": "node.load.5min", "devid": 2, "time": 5, "value": 4, "error": None, "error_code": None},
    {"key": "cluster.cpu.idle.avg", "devid": 0, "time": 5, "value": 1.5, "error": None, "error_code": None},
]


@pytest.mark.parametrize(
    "case",
    [*GOLDEN["cases"], {"name": "mixed node members", "rows": MIXED, "units": {}, "devid_lnn": {2: 1}}],
    ids=lambda case: case["name"],
)
def test_column_path_equals_row_loop(case):
    """Healthy rows take the column-wise path; a ``nodes`` filter that keeps every node forces the
    row loop on the same rows: both must give the same frames, errors and node answers."""
    devid_lnn = {int(k): v for k, v in case["devid_lnn"].items()}
    results = []
    for nodes in (None, every_lnn(case["rows"], devid_lnn)):
        decoder = RowDecoder()
        frames, errors = decoder.decode(case["rows"], case["units"], "c", devid_lnn, nodes=nodes, devid_label=True)
        results.append((frames, errors, decoder.node_answers, decoder.cluster_degraded))
    assert results[0] == results[1]
    if case["name"] == "simulator 3 nodes":  # a healthy cluster's answer does take the column path
        assert RowDecoder()._clean_rows(case["rows"], "c", devid_lnn, True) is not None
    if case["name"] == "mixed node members":
        assert RowDecoder()._clean_rows(case["rows"], "c", devid_lnn, True) is None
