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
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.samples import (
    RowDecoder,
    frame_keys,
    frames_of_keys,
)
from ansible_collections.quadstats.stack.services.onefs_exporter.state import ClusterState

GOLDEN = json.loads(
    gzip.decompress((Path(__file__).parents[1] / "onefs" / "fixtures" / "decoder_golden.json.gz").read_bytes())
)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


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


def test_a_healthy_reading_is_one_block_frame_until_read():
    """Rows without faults stay one block frame (their columns, no tuple per row) until expanded."""
    (case,) = [c for c in GOLDEN["cases"] if c["name"] == "simulator 3 nodes"]
    deferred = decode(case, defer=True)
    assert len(deferred) == 1 and deferred[0][0] is None and deferred[0][2] is None
    assert list(frame_keys(deferred)) == list(dict.fromkeys(row["key"] for row in case["rows"]))
    assert RowDecoder().expand(deferred) == decode(case, defer=False)


def frame(key, value):
    return (key, {"cluster": "c"}, (None,), (value,), None, 1700000000, False)


def test_readings_are_stored_whole_and_each_key_served_from_its_latest_reading():
    clock = Clock()
    state = ClusterState("c", clock=clock)
    first = [frame("k.a", 1), frame("k.b", 2)]
    state.put_reading(first, frame_keys(first), 10.0)
    clock.now = 5.0
    # A later reading of k.a only (another group, or keys of another interval): k.b stays from the first.
    second = [frame("k.a", 3)]
    state.put_reading(second, frame_keys(second), 30.0)
    assert [(f[0], f[3]) for f in state.frames()] == [("k.b", (2,)), ("k.a", (3,))]
    clock.now = 10.5  # the first reading expired: k.b with it; k.a lives as long as the second reading
    assert [(f[0], f[3]) for f in state.frames()] == [("k.a", (3,))]
    text = state.render(False)
    assert 'isilon_stat_k_a{cluster="c"} 3\n' in text and "isilon_stat_k_b" not in text
    # A reading of every key drops the earlier readings it replaces whole.
    third = [frame("k.a", 4), frame("k.b", 5)]
    state.put_reading(third, frame_keys(third), 10.0)
    assert len(state._sources) == 1
    assert state.series_count() == 2


def test_a_key_without_values_in_a_reading_keeps_its_last_values_until_they_expire():
    clock = Clock()
    state = ClusterState("c", clock=clock)
    state.put_reading([frame("k.a", 1), frame("k.b", 2)], {"k.a": None, "k.b": None}, 10.0)
    clock.now = 5.0
    state.put_reading([frame("k.a", 3)], {"k.a": None}, 10.0)  # k.b's rows were errors this time
    assert sorted((f[0], f[3]) for f in state.frames()) == [("k.a", (3,)), ("k.b", (2,))]
    clock.now = 11.0
    assert [(f[0], f[3]) for f in state.frames()] == [("k.a", (3,))]


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=[c["name"] for c in GOLDEN["cases"]])
def test_frames_of_some_keys_are_those_keys_frames(case):
    """What a reading of keys of several intervals stores per interval: the frames of those keys only."""
    deferred = decode(case, defer=True)
    keys = list(frame_keys(deferred))
    some = set(keys[::3])
    cut = frames_of_keys(deferred, some)
    assert list(frame_keys(cut)) == [key for key in keys if key in some]
    assert RowDecoder().expand(cut) == [f for f in decode(case, defer=False) if f[0] in some]


def test_the_same_keys_dict_again_after_another_reading_took_some_of_its_keys():
    """The decoder hands out one keys dict while the rows have the same keys; the store replaces that
    reading in place, but not once a later reading took some of its keys."""
    (case,) = [c for c in GOLDEN["cases"] if c["name"] == "simulator 3 nodes"]
    decoder = RowDecoder()
    devid_lnn = {int(k): v for k, v in case["devid_lnn"].items()}
    first = decoder.decode(json.loads(json.dumps(case["rows"])), case["units"], "c", devid_lnn, defer=True)[0]
    again = decoder.decode(json.loads(json.dumps(case["rows"])), case["units"], "c", devid_lnn, defer=True)[0]
    keys = frame_keys(first)
    assert frame_keys(again) is keys  # fresh rows with the same keys: the same dict
    clock = Clock()
    state = ClusterState("c", clock=clock)
    held = {"k.a": None, "k.b": None}
    state.put_reading([frame("k.a", 1), frame("k.b", 2)], held, 10.0)
    state.put_reading([frame("k.b", 3)], {"k.b": None}, 10.0)  # another group's reading of k.b
    state.put_reading([frame("k.a", 4), frame("k.b", 5)], held, 10.0)  # the first group's keys dict again
    assert sorted((f[0], f[3]) for f in state.frames()) == [("k.a", (4,)), ("k.b", (5,))]
    state.put_reading([frame("k.b", 6)], {"k.b": None}, 10.0)
    state.put_reading([frame("k.a", 7), frame("k.b", 8)], held, 10.0)
    clock.now = 5.0
    state.put_reading([frame("k.a", 9), frame("k.b", 10)], held, 10.0)  # in place: nothing else holds them
    assert sorted((f[0], f[3]) for f in state.frames()) == [("k.a", (9,)), ("k.b", (10,))]
    assert len(state._sources) == 1
