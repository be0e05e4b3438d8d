"""The exporter keeps list values undecoded until something reads them (deferred frames): what it
renders and sends must equal what eagerly decoded frames give, on the recorded decoder cases
(tests/unit/onefs/fixtures/decoder_golden.json.gz: simulator rows with faults, current_shapes.json)."""

import gzip
import json
from pathlib import Path

import pytest

from ansible_collections.quadstats.stack.plugins.module_utils.onefs.exposition import (
    frames_to_influx,
    frames_to_prometheus,
)
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.samples import RowDecoder
from ansible_collections.quadstats.stack.services.onefs_exporter.state import ClusterState

GOLDEN = json.loads(
    gzip.decompress((Path(__file__).parents[1] / "onefs" / "fixtures" / "decoder_golden.json.gz").read_bytes())
)


def decode(case, *, defer):
    frames, _errors = RowDecoder().decode(
        case["rows"],
        case["units"],
        "simcluster",
        {int(k): v for k, v in case["devid_lnn"].items()},
        include_degraded=True,
        devid_label=True,
        defer=defer,
    )
    return frames


def by_key(frames):
    out = {}
    for frame in frames:
        out.setdefault(frame[0], []).append(frame)
    return out


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=[c["name"] for c in GOLDEN["cases"]])
def test_deferred_frames_render_and_send_as_decoded_frames(case):
    eager = decode(case, defer=False)
    deferred = decode(case, defer=True)
    assert any(frame[2] is None for frame in deferred)  # the case has list values to defer
    assert RowDecoder().expand(deferred) == eager
    state = ClusterState("c", clock=lambda: 0.0)
    state.put(by_key(deferred), lambda _source: 60.0)
    want = frames_to_prometheus([f for frames in by_key(eager).values() for f in frames], None, True)
    assert state.render(True) == want
    assert state.series_count() == sum(len(frame[3]) for frame in eager)
    assert frames_to_influx(RowDecoder().expand(deferred)) == frames_to_influx(eager)


def test_a_deferred_frame_left_undecoded_fails_loudly():
    (case,) = [c for c in GOLDEN["cases"] if c["name"] == "current_shapes.json"]
    with pytest.raises(TypeError):
        frames_to_prometheus(decode(case, defer=True))
