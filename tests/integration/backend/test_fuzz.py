"""Property-based fuzzing of every endpoint on the real database: bad input never yields a 5xx.

Requests mix valid and hostile parts: tokens (valid, wrong host, any-host, missing, garbage),
content types and encodings, bodies shaped like each endpoint's schema with hostile values,
arbitrary JSON, raw bytes, gzip and snappy of all of these, and protobuf messages with random
fields. The endpoints fuzzed are checked against the app's OpenAPI paths, so a new endpoint
cannot be left out. ``QS_FUZZ_EXAMPLES`` sets the number of requests (default 10000).
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from urllib.parse import urlencode

import pytest
import snappy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from ansible_collections.quadstats.stack.services.backend.ingest import proto

# Hypothesis caches constants in ./.hypothesis; keep the working tree clean.
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "qs-backend-hypothesis"))
EXAMPLES = int(os.environ.get("QS_FUZZ_EXAMPLES", "10000"))
JSON_PATHS = ("/metric", "/journal", "/api/v2/alerts", "/loki/api/v1/push")
RAW_PATHS = ("/loki/api/v1/push", "/api/v1/write")
GET_PATHS = ("/healthz", "/metrics", "/api/v1/journal")
ADMIN_ROUTES = (
    ("get", "/api/v1/silences"),
    ("post", "/api/v1/silences"),
    ("post", "/api/v1/silences/{silence_id}/expire"),
    ("get", "/api/v1/maintenance-windows"),
    ("post", "/api/v1/maintenance-windows"),
    ("delete", "/api/v1/maintenance-windows/{window_id}"),
)
FUZZED = {("post", p) for p in (*JSON_PATHS, *RAW_PATHS)} | {("get", p) for p in GET_PATHS} | set(ADMIN_ROUTES)
ADMIN_TOKEN = "fuzz-admin-token-0123456789abcdef"  # noqa: S105 - a test token

hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "\x00", "\ud800", "web1", "*", "0001-01-01T00:00:00Z", "9" * 40, "-1", "NaN", "{", "\\"]),
)
numbers = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True, allow_infinity=True))
scalars = st.one_of(st.none(), st.booleans(), numbers, hostile_text)
any_json = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4), max_leaves=12
)


def maybe(strategy):
    """``strategy`` or any JSON value instead."""
    return st.one_of(strategy, any_json)


timestamps = st.one_of(st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()), hostile_text, numbers)

metric = st.fixed_dictionaries(
    {
        "host": maybe(st.sampled_from(["web1", "web2"])),
        "name": maybe(hostile_text),
        "type": maybe(st.sampled_from(["disk", "ping"])),
    },
    optional={"timestamp": maybe(timestamps), "value": maybe(scalars), "state": any_json},
)
journal_entry = st.fixed_dictionaries(
    {},
    optional={
        "__REALTIME_TIMESTAMP": st.one_of(
            st.integers(min_value=-(2**64), max_value=2**64).map(str), hostile_text, numbers
        ),
        "MESSAGE": st.one_of(hostile_text, st.lists(st.integers(min_value=-5, max_value=300), max_size=8), any_json),
        "_HOSTNAME": maybe(st.sampled_from(["web1", "web2"])),
        "PRIORITY": maybe(st.sampled_from(["0", "7", "8", "x"])),
        "CONTAINER_NAME": maybe(hostile_text),
    },
)
journal = st.fixed_dictionaries(
    {
        "logs": st.one_of(
            st.lists(st.one_of(journal_entry.map(json.dumps), hostile_text), max_size=5).map("\n".join), any_json
        )
    }
)
alert = st.fixed_dictionaries(
    {"labels": maybe(st.dictionaries(hostile_text, maybe(hostile_text), max_size=3))},
    optional={
        "annotations": any_json,
        "startsAt": maybe(timestamps),
        "endsAt": maybe(timestamps),
        "generatorURL": maybe(hostile_text),
    },
)
loki_value = st.lists(
    st.one_of(st.integers(min_value=-(2**70), max_value=2**70).map(str), hostile_text, any_json), min_size=0, max_size=4
)
loki_json = st.fixed_dictionaries(
    {
        "streams": maybe(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "stream": maybe(st.dictionaries(hostile_text, hostile_text, max_size=3)),
                        "values": maybe(st.lists(loki_value, max_size=3)),
                    }
                ),
                max_size=3,
            )
        )
    }
)
silence = st.fixed_dictionaries(
    {"created_by": maybe(hostile_text), "reason": maybe(hostile_text)},
    optional={
        "host_pattern": maybe(hostile_text),
        "name_pattern": maybe(hostile_text),
        "starts_at": maybe(timestamps),
        "ends_at": maybe(timestamps),
        "duration_minutes": maybe(st.integers(min_value=-5, max_value=10**7)),
    },
)
window = st.fixed_dictionaries(
    {"created_by": maybe(hostile_text), "reason": maybe(hostile_text)},
    optional={
        "host_pattern": maybe(hostile_text),
        "starts_at": maybe(timestamps),
        "ends_at": maybe(timestamps),
        "weekdays": maybe(
            st.lists(st.sampled_from(["mon", "sun", "xyz", 1, 7, 0, 8, True]) | hostile_text, max_size=8)
        ),
        "start_time": maybe(st.sampled_from(["02:00", "23:59", "24:00", "2:00", "02:00:30"]) | hostile_text),
        "duration_minutes": maybe(st.integers(min_value=-5, max_value=20000)),
        "time_zone": maybe(st.sampled_from(["UTC", "Europe/Berlin", "../etc/passwd", "/etc/localtime", ""])),
    },
)
good_text = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FFF), min_size=1, max_size=20)
valid_silence = st.fixed_dictionaries(
    {"created_by": good_text, "reason": good_text, "duration_minutes": st.integers(1, 10**5)},
    optional={"host_pattern": good_text, "name_pattern": good_text, "starts_at": timestamps},
)
valid_window = st.fixed_dictionaries(
    {
        "created_by": good_text,
        "reason": good_text,
        "weekdays": st.lists(st.sampled_from(["mon", "tue", "sun", 3, 6]), min_size=1, max_size=3),
        "start_time": st.sampled_from(["00:00", "02:30", "23:59"]),
        "duration_minutes": st.integers(1, 7 * 24 * 60),
        "time_zone": st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kathmandu"]),
    },
    optional={"host_pattern": good_text},
)
ADMIN_BODIES = {
    "/api/v1/silences": st.one_of(valid_silence, silence),
    "/api/v1/silences/{silence_id}/expire": st.fixed_dictionaries({"expired_by": maybe(hostile_text)}),
    "/api/v1/maintenance-windows": st.one_of(valid_window, window),
}
JSON_BODIES = {
    "/metric": st.one_of(metric, st.lists(metric, max_size=4)),
    "/journal": journal,
    "/api/v2/alerts": st.one_of(st.lists(alert, max_size=3), alert),
    "/loki/api/v1/push": loki_json,
}


@st.composite
def protobuf(draw, path):
    msgs = proto.messages(lenient=True)
    raw_text = st.binary(max_size=30) | st.sampled_from(
        [b'{host="web1"}', b'{host="web2", a="b"}', b"{}", b'{host="web1", x="\\"']
    )
    if path == "/api/v1/write":
        request = msgs["WriteRequest"]()
        for _series in range(draw(st.integers(0, 3))):
            ts = request.timeseries.add()
            for _label in range(draw(st.integers(0, 4))):
                name = draw(
                    st.sampled_from([b"__name__", b"instance", b"host", b"mountpoint", b"fstype"])
                    | st.binary(max_size=8)
                )
                value = draw(
                    st.sampled_from([b"node_filesystem_avail_bytes", b"node_filesystem_size_bytes", b"web1:9100", b"/"])
                    | st.binary(max_size=8)
                )
                ts.labels.add(name=name, value=value)
            for _sample in range(draw(st.integers(0, 3))):
                ts.samples.add(value=draw(st.floats()), timestamp=draw(st.integers(-(2**63), 2**63 - 1)))
    else:
        request = msgs["PushRequest"]()
        for _stream in range(draw(st.integers(0, 3))):
            stream = request.streams.add(labels=draw(raw_text))
            for _entry in range(draw(st.integers(0, 3))):
                entry = stream.entries.add(line=draw(st.binary(max_size=20)))
                entry.timestamp.seconds = draw(st.integers(-(2**63), 2**63 - 1))
                entry.timestamp.nanos = draw(st.integers(-(2**31), 2**31 - 1))
    return request.SerializeToString()


@st.composite
def admin_request(draw, tokens):
    method, template = draw(st.sampled_from(ADMIN_ROUTES))
    number = st.one_of(st.integers(min_value=-3, max_value=30), st.integers(min_value=2**62, max_value=2**80))
    path = template.format(
        silence_id=draw(number.map(str) | hostile_text.filter(lambda t: t.isalnum())),
        window_id=draw(number.map(str)),
    )
    auth = draw(st.sampled_from(["admin", "admin", "admin", "web1", "any", "none", "garbage"]))
    headers = {} if auth == "none" else {"Authorization": f"Bearer {tokens.get(auth, 'x' * 30)}"}
    query = {}
    if method == "get":
        query = draw(st.dictionaries(st.sampled_from(["include_expired", "x"]), hostile_text, max_size=2))
    elif method == "delete":
        query = draw(st.dictionaries(st.sampled_from(["deleted_by", "x"]), hostile_text, max_size=2))
    if query:
        path += "?" + urlencode(query, errors="surrogatepass")
    body = b""
    if method == "post":
        body = json.dumps(draw(st.one_of(ADMIN_BODIES[template], any_json))).encode()
        headers["Content-Type"] = "application/json"
    return method, path, headers, body


@st.composite
def requests(draw, tokens):
    if draw(st.integers(0, 3)) == 0:
        return draw(admin_request(tokens))
    path = draw(
        st.sampled_from(sorted({p for _m, p in FUZZED if not p.startswith(("/api/v1/silences", "/api/v1/main"))}))
    )
    if path in GET_PATHS:
        keys = st.sampled_from(
            ["start", "end", "host", "unit", "container", "priority", "message", "order", "limit", "cursor", "x"]
        )
        query = draw(st.dictionaries(keys, hostile_text | numbers.map(str), max_size=4))
        auth = {"Authorization": f"Bearer {tokens[draw(st.sampled_from(['any', 'web1']))]}"}
        return "get", path + "?" + urlencode(query, errors="surrogatepass"), auth, b""
    auth = draw(st.sampled_from(["web1", "any", "web1", "any", "none", "garbage", "basic"]))
    headers = {}
    if auth in ("web1", "any"):
        headers["Authorization"] = f"Bearer {tokens[auth]}"
    elif auth == "garbage":
        headers["Authorization"] = draw(
            st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
        )
    elif auth == "basic":
        headers["Authorization"] = "Basic " + draw(st.sampled_from(["", "!!", "d2ViMTp4", "Og=="]))
    kind = draw(st.sampled_from(["schema", "json", "bytes", "protobuf"]))
    if kind == "schema" and path in JSON_BODIES:
        body = json.dumps(draw(JSON_BODIES[path])).encode()
    elif kind in {"json", "schema"}:
        body = json.dumps(draw(any_json)).encode()
    elif kind == "protobuf" and path in RAW_PATHS:
        body = draw(protobuf(path))
    else:
        body = draw(st.binary(max_size=200))
    encoding = draw(st.sampled_from([None, "snappy", "gzip", "identity", "br"]))
    if encoding == "snappy" or (kind == "protobuf" and draw(st.booleans())):
        body = snappy.compress(body)
    elif encoding == "gzip" and draw(st.booleans()):
        body = gzip.compress(body)
    if encoding:
        headers["Content-Encoding"] = encoding
    content_type = draw(st.sampled_from(["application/json", "application/x-protobuf", "text/plain", None]))
    if content_type:
        headers["Content-Type"] = content_type
    return "post", path, headers, body


@pytest.mark.slow
def test_no_request_yields_a_5xx(app_factory, make_token, tmp_path):
    admin_file = tmp_path / "admin-token"
    admin_file.write_text(ADMIN_TOKEN)
    admin_file.chmod(0o600)
    client = app_factory(api={"admin_token_file": str(admin_file)})
    spec_paths = {(method, path) for path, ops in client.get("/openapi.json").json()["paths"].items() for method in ops}
    assert spec_paths == FUZZED, "fuzz every endpoint the OpenAPI spec publishes"
    tokens = {"web1": make_token("web1"), "any": make_token("*"), "admin": ADMIN_TOKEN}
    statuses: dict[int, int] = {}

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(requests(tokens))
    def check(request):
        method, path, headers, body = request
        answer = client.request(method, path, headers=headers, content=body)
        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
        assert answer.status_code < 500, (method, path, headers, body[:200], answer.text[:300])

    check()
    print(f"fuzz: {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}")
    assert sum(statuses.values()) >= EXAMPLES
    assert statuses.keys() & {200, 204}, "some requests must also succeed"
