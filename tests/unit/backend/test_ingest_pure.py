"""Pure parts of ingest: token headers, label sets, host names, body decoding, journal fields."""

from __future__ import annotations

import base64
import gzip

import pytest
import snappy
from fastapi import HTTPException

from ansible_collections.quadstats.stack.services.backend.auth import Principal, token_from_authorization, token_hash
from ansible_collections.quadstats.stack.services.backend.http import (
    clean_json,
    clean_text,
    decode_content,
    snappy_uncompressed_length,
)
from ansible_collections.quadstats.stack.services.backend.ingest import proto
from ansible_collections.quadstats.stack.services.backend.ingest.journal import journal_text, priority_of
from ansible_collections.quadstats.stack.services.backend.ingest.labels import host_of, parse_label_set, strip_port
from ansible_collections.quadstats.stack.services.backend.ingest.loki import priority_from_labels
from ansible_collections.quadstats.stack.services.backend.ingest.remote_write import (
    real_filesystem,
    reduce_write_request,
)


def basic(user_password: bytes) -> str:
    return "Basic " + base64.b64encode(user_password).decode()


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer   abc  ", "abc"),
        (basic(b"web1:tok:en"), "tok:en"),
        (basic(b":tok"), "tok"),
        (basic(b"no-colon"), None),
        ("Basic !!!", None),
        ("Bearer ", None),
        ("Digest x", None),
        ("", None),
        (None, None),
        ("Bearer " + "x" * 600, None),
    ],
)
def test_token_from_authorization(header, token):
    assert token_from_authorization(header) == token


def test_token_hash_and_host_binding():
    assert len(token_hash("t")) == 32
    assert token_hash("t") != token_hash("u")
    assert Principal("web1").may_report_for("web1")
    assert not Principal("web1").may_report_for("web2")
    assert Principal("*").may_report_for("anything")


def test_parse_label_set():
    assert parse_label_set('{job="x", host="web1"}') == {"job": "x", "host": "web1"}
    assert parse_label_set("{}") == {}
    assert parse_label_set(r'{a="q\"uote", b="back\\slash", c="new\nline", d="a,b=c"}') == {
        "a": 'q"uote',
        "b": "back\\slash",
        "c": "new\nline",
        "d": "a,b=c",
    }
    # Loki stream labels are written by Go's strconv.Quote (Prometheus labels.String()): its escapes
    assert parse_label_set(
        r'{a="tab\there", b="cr\r\x00\a\b\f\v", c="\xe2\x82\xac \342\202\254", d="\u00e9\U0001F600"}'
    ) == {
        "a": "tab\there",
        "b": "cr\r\x00\a\b\f\v",
        "c": "\u20ac \u20ac",  # bytes of UTF-8, in hex and in octal
        "d": "\u00e9\U0001f600",
    }
    assert parse_label_set(r'{a="\xff\xfe", b="\q\x4", c="\ud800"}') == {
        "a": "\ufffd\ufffd",  # bytes that are not UTF-8, as strconv.Quote writes them
        "b": "\\q\\x4",  # escapes Go does not know stay as sent
        "c": "\\ud800",
    }
    for bad in ("job=x", '{job="x"', "{job=x}", '{="x"}', '{a="1" b="2"}'):
        with pytest.raises(ValueError, match=r"label set|must look like"):
            parse_label_set(bad)


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("web1:9100", "web1"),
        ("[2001:db8::1]:9100", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("web1", "web1"),
        ("a:b", "a:b"),
    ],
)
def test_strip_port(value, host):
    assert strip_port(value) == host


def test_host_of_prefers_host_labels():
    assert host_of({"instance": "web1:9100"}) == "web1"
    assert host_of({"instance": "web1:9100", "hostname": "real"}) == "real"
    assert host_of({"host": "h", "hostname": "x"}) == "h"
    assert host_of({"job": "x"}) is None


def test_snappy_preamble_and_decoding_limits():
    data = snappy.compress(b"a" * 1000)
    assert snappy_uncompressed_length(data) == 1000
    with pytest.raises(HTTPException) as err:
        snappy_uncompressed_length(b"\xff" * 12)
    assert err.value.status_code == 400
    assert decode_content(data, "snappy", 1000) == b"a" * 1000
    with pytest.raises(HTTPException) as err:
        decode_content(data, "snappy", 999)
    assert err.value.status_code == 413
    zipped = gzip.compress(b"b" * 5000)
    assert decode_content(zipped, "gzip", 5000) == b"b" * 5000
    with pytest.raises(HTTPException) as err:
        decode_content(zipped, "gzip", 4999)
    assert err.value.status_code == 413
    with pytest.raises(HTTPException) as err:
        decode_content(zipped[:-10], "gzip", 10_000)
    assert err.value.status_code == 400
    with pytest.raises(HTTPException) as err:
        decode_content(b"x", "zstd", 10)
    assert err.value.status_code == 415
    assert decode_content(b"plain", None, 1) == b"plain"


def test_clean_text_and_json():
    assert clean_text("a\x00b") == "a\ufffdb"
    assert clean_text("lone \ud800 surrogate") == "lone ? surrogate"
    assert clean_json({"k\x00": ["v\x00", 1, float("nan"), {"n": None}]}) == {
        "k\ufffd": ["v\ufffd", 1, None, {"n": None}]
    }


def test_journal_text_and_priority():
    assert journal_text("x") == "x"
    assert journal_text([104, 105]) == "hi"
    assert journal_text([0xC3, 0x28]) == "\ufffd("
    assert journal_text(["first", "second"]) == "first"
    assert journal_text([]) is None
    assert journal_text(None) is None
    assert journal_text(7) == "7"
    with pytest.raises(ValueError, match=r"0\.\.255"):
        journal_text([256])
    with pytest.raises(ValueError, match="string or a byte array"):
        journal_text({"a": 1})
    assert [priority_of(v) for v in ("3", 5, "9", "x", None, True, -1)] == [3, 5, None, None, None, None, None]
    assert priority_from_labels({"level": "WARN"}) == 4
    assert priority_from_labels({"priority": "2"}) == 2
    assert priority_from_labels({"detected_level": "nonsense"}) is None


def test_real_filesystem():
    assert real_filesystem({"mountpoint": "/", "fstype": "ext4"})
    assert real_filesystem({"mountpoint": "/devices", "fstype": "xfs"})
    assert not real_filesystem({"mountpoint": "/dev/shm", "fstype": "ext4"})
    assert not real_filesystem({"mountpoint": "/dev", "fstype": "ext4"})
    assert not real_filesystem({"mountpoint": "/srv", "fstype": "tmpfs"})
    assert not real_filesystem({"mountpoint": "/var/lib/containers/storage/overlay", "fstype": "xfs"})
    assert not real_filesystem({"fstype": "ext4"})


def test_reduce_write_request_keeps_newest_samples():
    msgs = proto.messages(lenient=False)
    request = msgs["WriteRequest"]()
    samples = (
        ("node_filesystem_avail_bytes", 10.0, 2000),
        ("node_filesystem_avail_bytes", 50.0, 1000),
        ("node_filesystem_size_bytes", 100.0, 1500),
    )
    for name, value, millis in samples:
        ts = request.timeseries.add()
        for k, v in {"__name__": name, "host": "h", "mountpoint": "/", "fstype": "ext4"}.items():
            ts.labels.add(name=k, value=v)
        ts.samples.add(value=value, timestamp=millis)
    parsed = msgs["WriteRequest"]()
    parsed.ParseFromString(request.SerializeToString())
    rows = reduce_write_request(parsed, Principal("*"))
    assert [(r.host, r.name, r.type, r.value, r.reported_at.timestamp()) for r in rows] == [
        ("h", "host", "ping", None, 2.0),
        ("h", "/", "disk", "90.0", 2.0),
    ]


def test_bind_mounts_of_one_filesystem_are_one_disk():
    """nspawn binds /run/host/os-release (a file) and /run/host/incoming from the host's root filesystem: one
    device, one disk row (the shortest mount point); another device and series without a device stay."""
    msgs = proto.messages(lenient=False)
    request = msgs["WriteRequest"]()
    mounts = (
        ("/run/host/os-release", "/dev/vda"), ("/", "/dev/vda"), ("/run/host/incoming", "/dev/vda"),
        ("/srv", "/dev/vdb"), ("/data", None), ("/data2", None),
    )  # fmt: skip
    for mount, device in mounts:
        for name, value in (("node_filesystem_avail_bytes", 25.0), ("node_filesystem_size_bytes", 100.0)):
            ts = request.timeseries.add()
            labels = {"__name__": name, "host": "h", "mountpoint": mount, "fstype": "ext4"}
            labels.update({"device": device} if device else {})
            for k, v in sorted(labels.items()):
                ts.labels.add(name=k, value=v)
            ts.samples.add(value=value, timestamp=1000)
    rows = reduce_write_request(request, Principal("*"))
    assert sorted(r.name for r in rows if r.type == "disk") == ["/", "/data", "/data2", "/srv"]


def test_token_cache_expires_and_is_bounded():
    from ansible_collections.quadstats.stack.services.backend.auth import TokenCache  # noqa: PLC0415

    cache = TokenCache(ttl=30, max_entries=2)
    cache.put(b"a", Principal("web1"), now=100)
    assert cache.get(b"a", now=129.9) == Principal("web1")
    assert cache.get(b"a", now=130) is None
    cache.put(b"a", Principal("web1"), now=0)
    cache.put(b"b", Principal("web2"), now=0)
    cache.put(b"c", Principal("web3"), now=0)  # full: starts over rather than growing
    assert cache.get(b"a", now=1) is None
    assert cache.get(b"c", now=1) == Principal("web3")
