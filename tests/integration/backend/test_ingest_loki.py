"""POST /loki/api/v1/push: JSON, gzip JSON and snappy protobuf (fixtures from the published push.proto)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import snappy

from ansible_collections.quadstats.stack.services.backend.ingest import proto
from harness.backend_testing import bearer

NS = 1_764_500_000_123_456_789


def protobuf_push(streams):
    """A snappy PushRequest built with the published schema (strings are strings)."""
    msgs = proto.messages(lenient=False)
    request = msgs["PushRequest"]()
    for labels, entries in streams:
        stream = request.streams.add(labels=labels)
        for nanos, line, metadata in entries:
            entry = stream.entries.add(line=line)
            entry.timestamp.seconds, entry.timestamp.nanos = divmod(nanos, 1_000_000_000)
            for name, value in metadata.items():
                entry.structuredMetadata.add(name=name, value=value)
    return snappy.compress(request.SerializeToString())


PROTO = {"Content-Type": "application/x-protobuf"}


def test_protobuf_push_as_alloy_sends_it(client, make_token, query):
    token = make_token("web1")
    body = protobuf_push(
        [
            (
                '{host="web1", unit="app.service", level="warning", job="loki.source.journal"}',
                [(NS, "hello", {"trace_id": "abc"})],
            ),
            ('{host="web1", container="db", msg="say \\"hi\\""}', [(NS + 1000, "line two", {})]),
        ]
    )
    answer = client.post("/loki/api/v1/push", content=body, headers={**bearer(token), **PROTO})
    assert answer.status_code == 204, answer.text
    got = query("SELECT time, host, unit, container, priority, message, source, fields FROM journal ORDER BY time")
    assert got[0][:7] == (
        datetime.fromtimestamp(1_764_500_000.123456, UTC),
        "web1",
        "app.service",
        None,
        4,
        "hello",
        "loki",
    )
    assert got[0][7] == {
        "labels": {"host": "web1", "unit": "app.service", "level": "warning", "job": "loki.source.journal"},
        "timestamp_ns": str(NS),
        "structured_metadata": {"trace_id": "abc"},
    }
    assert got[1][3] == "db"
    assert got[1][7]["labels"]["msg"] == 'say "hi"'


def test_retried_push_is_absorbed(client, make_token, query):
    token = make_token("web1")
    body = protobuf_push([('{host="web1"}', [(NS + i, f"l{i}", {}) for i in range(10)])])
    for _attempt in range(3):
        assert client.post("/loki/api/v1/push", content=body, headers={**bearer(token), **PROTO}).status_code == 204
    assert query("SELECT count(*) FROM journal") == [(10,)]


def test_json_and_gzip_json(client, make_token, query):
    token = make_token("web1")
    payload = {
        "streams": [
            {
                "stream": {"hostname": "web1", "unit": "a"},
                "values": [[str(NS), "one"], [str(NS + 5), "two", {"k": "v"}]],
            }
        ]
    }
    assert client.post("/loki/api/v1/push", json=payload, headers=bearer(token)).status_code == 204
    payload["streams"][0]["values"] = [[str(NS + 9), "three"]]
    zipped = gzip.compress(json.dumps(payload).encode())
    headers = {**bearer(token), "Content-Type": "application/json", "Content-Encoding": "gzip"}
    assert client.post("/loki/api/v1/push", content=zipped, headers=headers).status_code == 204
    assert [r[0] for r in query("SELECT message FROM journal ORDER BY time")] == ["one", "two", "three"]


def test_invalid_utf8_lines_are_kept_with_replacement(client, make_token, query):
    token = make_token("web1")
    msgs = proto.messages(lenient=True)  # the published schema cannot even build such a message in Python
    request = msgs["PushRequest"]()
    stream = request.streams.add(labels=b'{host="web1"}')
    entry = stream.entries.add(line=b"bad \xff byte")
    entry.timestamp.seconds = 1_764_500_000
    body = snappy.compress(request.SerializeToString())
    assert client.post("/loki/api/v1/push", content=body, headers={**bearer(token), **PROTO}).status_code == 204
    assert query("SELECT message FROM journal") == [("bad \ufffd byte",)]


def test_bad_pushes_are_4xx_naming_the_field(client, make_token, query):
    token = make_token("web1")
    h = bearer(token)
    cases = [
        (dict(json={"streams": "x"}), 422, "streams"),
        (dict(json={"streams": [{"stream": {"a": 1}, "values": []}]}), 422, "streams[0].stream"),
        (dict(json={"streams": [{"stream": {}, "values": [["x", "l"]]}]}), 422, "streams[0].values[0][0]"),
        (dict(json={"streams": [{"stream": {}, "values": [[str(NS)]]}]}), 422, "streams[0].values[0]"),
        (dict(content=b"\x00\x01garbage", headers={**h, **PROTO}), 400, "body"),
        (dict(content=snappy.compress(b"\xff\xff\xff"), headers={**h, **PROTO}), 400, "body"),
        (
            dict(content=protobuf_push([("host=web1", [(NS, "x", {})])]), headers={**h, **PROTO}),
            422,
            "streams[0].labels",
        ),
        (dict(content=b"{}", headers={**h, "Content-Type": "text/plain"}), 415, "Content-Type"),
        (
            dict(content=b"{}", headers={**h, "Content-Type": "application/json", "Content-Encoding": "br"}),
            415,
            "Content-Encoding",
        ),
        (
            dict(content=b"not gzip", headers={**h, "Content-Type": "application/json", "Content-Encoding": "gzip"}),
            400,
            "body",
        ),
        (
            dict(json={"streams": [{"stream": {"host": "web2"}, "values": [[str(NS), "x"]]}]}),
            403,
            "streams[0].values[0]: host",
        ),
        (
            dict(json={"streams": [{"stream": {}, "values": [[str(NS), "x"], ["9" * 30, "y"]]}]}),
            422,
            "streams[0].values[1]: timestamp",
        ),
        (
            dict(
                content=protobuf_push([('{host="web1"}', [(NS, "ok", {}), (-5_000_000_000, "x", {})])]),
                headers={**h, **PROTO},
            ),
            422,
            "streams[0].entries[1]: timestamp",
        ),
    ]
    for kwargs, status, field in cases:
        kwargs.setdefault("headers", h)
        answer = client.post("/loki/api/v1/push", **kwargs)
        assert answer.status_code == status, (kwargs, answer.text)
        assert answer.json()["detail"].startswith(field), (kwargs, answer.json())
    assert query("SELECT count(*) FROM journal") == [(0,)]


def test_decompression_bombs_are_refused_before_inflating(app_factory, make_token):
    api = app_factory(ingest={"max_decompressed_bytes": 4096})
    token = make_token("web1")
    bomb = snappy.compress(b"\x00" * 100_000)
    answer = api.post("/loki/api/v1/push", content=bomb, headers={**bearer(token), **PROTO})
    assert answer.status_code == 413
    assert "ingest.max_decompressed_bytes" in answer.json()["detail"]
    gz = gzip.compress(b" " * 100_000)
    headers = {**bearer(token), "Content-Type": "application/json", "Content-Encoding": "gzip"}
    assert api.post("/loki/api/v1/push", content=gz, headers=headers).status_code == 413


def test_copy_escapes_survive_both_store_paths(client, make_token, query):
    """Tabs, newlines, CR and backslashes in lines, labels and metadata arrive intact (COPY text format),
    through the direct COPY and, for a batch holding an already stored entry, the staging merge."""
    token = make_token("web1")
    awkward = "a\tb\nc\rd\\e \\N \\x00 é\u2028"
    labels = '{host="web1", unit="x\\\\ty.service", note="tab\there"}'  # a real tab in a label
    first = protobuf_push([(labels, [(NS, awkward, {"k\tey": "v\\al\nue"})])])
    answer = client.post("/loki/api/v1/push", content=first, headers={**bearer(token), **PROTO})
    assert answer.status_code == 204, answer.text
    both = protobuf_push([(labels, [(NS, awkward, {"k\tey": "v\\al\nue"}), (NS + 1, awkward + "2", {})])])
    answer = client.post("/loki/api/v1/push", content=both, headers={**bearer(token), **PROTO})
    assert answer.status_code == 204, answer.text
    got = query("SELECT unit, message, fields FROM journal ORDER BY time")
    assert [(u, m) for u, m, _f in got] == [("x\\ty.service", awkward), ("x\\ty.service", awkward + "2")]
    assert got[0][2]["labels"]["note"] == "tab\there"
    assert got[0][2]["structured_metadata"] == {"k\tey": "v\\al\nue"}
