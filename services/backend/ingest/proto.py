# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Protobuf messages of Prometheus remote write and Loki push, built from their published definitions.

No generated code and no download: the tables below transcribe the messages this backend reads
from ``prompb/types.proto`` + ``prompb/remote.proto`` (prometheus/prometheus, package
``prometheus``) and ``pkg/push/push.proto`` (grafana/loki, package ``logproto``), field names and
numbers unchanged, and :func:`messages` turns them into message classes at run time.

``lenient=True`` (what the service parses with) reads every ``string`` field as ``bytes``: the same
wire format, but a sender's invalid UTF-8 (journald lines can hold any bytes; Go never checks)
does not fail the whole request; the service decodes with replacement. ``lenient=False`` is the
published schema exactly; tests build their fixtures with it.
"""

from __future__ import annotations

import functools

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2

FDP = descriptor_pb2.FieldDescriptorProto
OPTIONAL, REPEATED = FDP.LABEL_OPTIONAL, FDP.LABEL_REPEATED
T = {
    "string": FDP.TYPE_STRING,
    "double": FDP.TYPE_DOUBLE,
    "int64": FDP.TYPE_INT64,
    "uint64": FDP.TYPE_UINT64,
    "int32": FDP.TYPE_INT32,
    "message": FDP.TYPE_MESSAGE,
}

# (file name, package, {message: [(field, number, label, type, message type name or "")]})
PROMPB = (
    "prompb/remote.proto",
    "prometheus",
    {
        "WriteRequest": [("timeseries", 1, REPEATED, "message", ".prometheus.TimeSeries"),
                         ("metadata", 3, REPEATED, "message", ".prometheus.MetricMetadata")],
        # types.proto: the enum MetricType is read as its wire form (a varint).
        "MetricMetadata": [("type", 1, OPTIONAL, "int32", ""), ("metric_family_name", 2, OPTIONAL, "string", ""),
                           ("help", 4, OPTIONAL, "string", ""), ("unit", 5, OPTIONAL, "string", "")],
        "Sample": [("value", 1, OPTIONAL, "double", ""), ("timestamp", 2, OPTIONAL, "int64", "")],
        "TimeSeries": [("labels", 1, REPEATED, "message", ".prometheus.Label"),
                       ("samples", 2, REPEATED, "message", ".prometheus.Sample")],
        "Label": [("name", 1, OPTIONAL, "string", ""), ("value", 2, OPTIONAL, "string", "")],
    },
)  # fmt: skip
LOKI_PUSH = (
    "pkg/push/push.proto",
    "logproto",
    {
        "PushRequest": [("streams", 1, REPEATED, "message", ".logproto.StreamAdapter")],
        "StreamAdapter": [("labels", 1, OPTIONAL, "string", ""),
                          ("entries", 2, REPEATED, "message", ".logproto.EntryAdapter"),
                          ("hash", 3, OPTIONAL, "uint64", "")],
        "EntryAdapter": [("timestamp", 1, OPTIONAL, "message", ".google.protobuf.Timestamp"),
                         ("line", 2, OPTIONAL, "string", ""),
                         ("structuredMetadata", 3, REPEATED, "message", ".logproto.LabelPairAdapter")],
        "LabelPairAdapter": [("name", 1, OPTIONAL, "string", ""), ("value", 2, OPTIONAL, "string", "")],
    },
)  # fmt: skip


def _file(spec, lenient: bool) -> descriptor_pb2.FileDescriptorProto:
    name, package, messages_ = spec
    fdp = descriptor_pb2.FileDescriptorProto(name=name, package=package, syntax="proto3")
    fdp.dependency.append("google/protobuf/timestamp.proto")
    for message, fields in messages_.items():
        msg = fdp.message_type.add(name=message)
        for field, number, label, type_, type_name in fields:
            ftype = FDP.TYPE_BYTES if lenient and type_ == "string" else T[type_]
            fd = msg.field.add(name=field, number=number, label=label, type=ftype, json_name=field)
            if type_name:
                fd.type_name = type_name
            if label == REPEATED and type_ in ("double", "int64", "uint64", "int32"):
                fd.options.packed = True
    return fdp


def _message_class(pool, full_name: str):
    desc = pool.FindMessageTypeByName(full_name)
    get = getattr(message_factory, "GetMessageClass", None)  # protobuf >= 4.22
    if get is not None:
        return get(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


@functools.lru_cache(maxsize=2)
def messages(lenient: bool = True) -> dict[str, type]:
    """``{"WriteRequest": cls, "PushRequest": cls, ...}`` (one private descriptor pool per variant)."""
    pool = descriptor_pool.DescriptorPool()
    ts = descriptor_pb2.FileDescriptorProto()
    timestamp_pb2.DESCRIPTOR.CopyToProto(ts)
    pool.AddSerializedFile(ts.SerializeToString())
    out = {}
    for spec in (PROMPB, LOKI_PUSH):
        pool.AddSerializedFile(_file(spec, lenient).SerializeToString())
        for message in spec[2]:
            out[message] = _message_class(pool, f"{spec[1]}.{message}")
    return out


def text(value: bytes | str) -> str:
    """A lenient ``bytes`` field as text (invalid UTF-8 replaced, NUL replaced)."""
    if isinstance(value, bytes):
        # Decoding with replacement leaves no lone surrogates: only NUL is left for clean_text to fix.
        value = value.decode("utf-8", errors="replace")
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    from ansible_collections.quadstats.stack.services.backend.http import clean_text  # noqa: PLC0415

    return clean_text(value)
