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
