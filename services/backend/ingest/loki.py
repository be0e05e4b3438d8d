# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``POST /loki/api/v1/push``: Loki's push API (JSON, optionally gzip; protobuf + snappy as Alloy sends).

Every entry becomes a journal row (``source='loki'``): host, unit, container and priority come
from the stream labels, and all labels (plus structured metadata and the exact nanosecond time)
are kept in ``fields``. The dedup hash covers labels, time and line, so a retried push is absorbed.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from google.protobuf.message import DecodeError

from ansible_collections.quadstats.stack.services.backend.auth import Principal
from ansible_collections.quadstats.stack.services.backend.http import (
    AUTH_RESPONSES,
    Sender,
    bad_request,
    clean_text,
    decode_content,
    require_host,
    snappy_decode,
)
from ansible_collections.quadstats.stack.services.backend.ingest import proto
from ansible_collections.quadstats.stack.services.backend.ingest.journal import (
    JournalRow,
    store_journal_rows,
    time_from_micros,
)
from ansible_collections.quadstats.stack.services.backend.ingest.labels import host_of, parse_label_set

router = APIRouter(tags=["ingest"])
UNIT_LABELS = ("unit", "systemd_unit", "_systemd_unit", "service_name")
CONTAINER_LABELS = ("container", "container_name")
PRIORITY_LABELS = ("priority", "level", "detected_level", "severity")
LEVELS = {"emerg": 0, "panic": 0, "alert": 1, "crit": 2, "critical": 2, "err": 3, "error": 3, "warning": 4,
          "warn": 4, "notice": 5, "info": 6, "informational": 6, "debug": 7}  # fmt: skip


def _first(labels: dict[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        if labels.get(name):
            return labels[name]
    return None


def priority_from_labels(labels: dict[str, str]) -> int | None:
    value = _first(labels, PRIORITY_LABELS)
    if value is None:
        return None
    value = value.strip().lower()
    if value.isdigit() and int(value) <= 7:
        return int(value)
    return LEVELS.get(value)


def time_from_nanos(nanos: int) -> datetime:
    return time_from_micros(nanos // 1000)


class Stream:
    """What all entries of one stream share, worked out once: cleaned labels, host, unit, JSON texts."""

    __slots__ = ("container", "digest_prefix", "fields_prefix", "host", "labels", "priority", "unit")

    def __init__(self, labels: dict[str, str], *, who: Principal, field: str) -> None:
        self.labels = {clean_text(k): clean_text(v) for k, v in labels.items()}
        self.host = require_host(who, host_of(self.labels), f"{field}: host label")
        self.unit = _first(self.labels, UNIT_LABELS)
        self.container = _first(self.labels, CONTAINER_LABELS)
        self.priority = priority_from_labels(self.labels)
        canonical = json.dumps(self.labels, sort_keys=True, ensure_ascii=False)
        self.digest_prefix = f"{canonical}\n".encode()
        self.fields_prefix = '{"labels": ' + json.dumps(self.labels, ensure_ascii=False) + ', "timestamp_ns": "'

    def row(self, nanos: int, line: str, metadata: dict[str, str], *, field: str | tuple[str, int]) -> JournalRow:
        """One entry's row; ``line`` and ``metadata`` already clean (:func:`clean_text`, or :func:`proto.text`).

        ``field`` names the entry in errors: text, or (``streams[s].entries``, index), formatted only then.
        """
        try:
            when = time_from_nanos(nanos)
        except ValueError:
            name = field if isinstance(field, str) else f"{field[0]}[{field[1]}]"
            raise bad_request(f"{name}: timestamp", "out of range", 422) from None
        digest = hashlib.sha256(self.digest_prefix + f"{nanos}\n{line}".encode()).digest()
        fields = f'{self.fields_prefix}{nanos}"'
        if metadata:
            fields += ', "structured_metadata": ' + json.dumps(metadata, ensure_ascii=False)
        return JournalRow(when, digest, self.host, self.unit, self.container, self.priority, line, "loki", fields + "}")


def rows_from_json(payload: Any, who: Principal, max_items: int) -> list[JournalRow]:
    if not isinstance(payload, dict) or not isinstance(payload.get("streams"), list):
        raise bad_request("streams", 'the body must be {"streams": [...]}', 422)
    rows: list[JournalRow] = []
    for s, stream in enumerate(payload["streams"]):
        where = f"streams[{s}]"
        if not isinstance(stream, dict):
            raise bad_request(where, "must be an object", 422)
        labels = stream.get("stream", {})
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise bad_request(f"{where}.stream", "must map label names to strings", 422)
        values = stream.get("values")
        if not isinstance(values, list):
            raise bad_request(f"{where}.values", "must be a list of [timestamp_ns, line]", 422)
        shared = None
        for v, value in enumerate(values):
            field = f"{where}.values[{v}]"
            if not (isinstance(value, list) and len(value) in (2, 3) and isinstance(value[1], str)):
                raise bad_request(field, 'must be ["<unix ns>", "<line>"] or with a third metadata object', 422)
            try:
                nanos = int(value[0]) if isinstance(value[0], str) else None
            except ValueError:
                nanos = None
            if nanos is None:
                raise bad_request(f"{field}[0]", "must be a string of nanoseconds since the epoch", 422)
            metadata = value[2] if len(value) == 3 else {}
            if not isinstance(metadata, dict) or not all(isinstance(x, str) for x in metadata.values()):
                raise bad_request(f"{field}[2]", "structured metadata must map names to strings", 422)
            if len(rows) >= max_items:
                raise bad_request("streams", f"more than {max_items} entries (ingest.max_batch_items)", 413)
            if shared is None:  # at the first entry: a refused host names it, as for any entry
                shared = Stream(labels, who=who, field=field)
            metadata = {clean_text(k): clean_text(v) for k, v in metadata.items()}
            rows.append(shared.row(nanos, clean_text(value[1]), metadata, field=field))
    return rows


def rows_from_protobuf(data: bytes, who: Principal, max_items: int) -> list[JournalRow]:
    request = proto.messages()["PushRequest"]()
    try:
        request.ParseFromString(data)
    except DecodeError:
        raise bad_request("body", "not a Loki PushRequest (logproto, protobuf)") from None
    rows: list[JournalRow] = []
    for s, stream in enumerate(request.streams):
        where = f"streams[{s}]"
        try:
            labels = parse_label_set(proto.text(stream.labels))
        except ValueError as exc:
            raise bad_request(f"{where}.labels", str(exc), 422) from None
        shared, entries_field = None, f"{where}.entries"
        for e, entry in enumerate(stream.entries):
            if len(rows) >= max_items:
                raise bad_request("streams", f"more than {max_items} entries (ingest.max_batch_items)", 413)
            if shared is None:
                shared = Stream(labels, who=who, field=f"{where}.entries[{e}]")
            nanos = entry.timestamp.seconds * 1_000_000_000 + entry.timestamp.nanos
            metadata = {proto.text(p.name): proto.text(p.value) for p in entry.structuredMetadata}
            rows.append(shared.row(nanos, proto.text(entry.line), metadata, field=(entries_field, e)))
    return rows


PUSH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["streams"],
                    "properties": {
                        "streams": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "stream": {"type": "object", "additionalProperties": {"type": "string"}},
                                    "values": {
                                        "type": "array",
                                        "items": {"type": "array", "minItems": 2, "maxItems": 3},
                                    },
                                },
                            },
                        }
                    },
                }
            },
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.post(
    "/loki/api/v1/push",
    status_code=204,
    response_class=Response,
    summary="Loki push API (JSON, gzip JSON, or snappy protobuf as Grafana Alloy sends)",
    openapi_extra=PUSH_BODY,
    responses=AUTH_RESPONSES,
)
async def push(request: Request, who: Sender) -> Response:
    limits = request.app.state.settings.ingest
    raw = await request.body()
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type == "application/x-protobuf":
        rows = rows_from_protobuf(snappy_decode(raw, limits.max_decompressed_bytes), who, limits.max_batch_items)
    elif content_type in ("application/json", ""):
        data = decode_content(raw, request.headers.get("content-encoding"), limits.max_decompressed_bytes)
        try:
            payload = json.loads(data)
        except (ValueError, RecursionError):
            raise bad_request("body", "not JSON", 400) from None
        rows = rows_from_json(payload, who, limits.max_batch_items)
    else:
        raise bad_request("Content-Type", f"{content_type!r}: send application/json or application/x-protobuf", 415)
    await store_journal_rows(request.app.state.pool, rows, duplicates_expected=False)
    return Response(status_code=204)
