# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The normalised OneFS sample model, built from every value shape PAPI returns. Pure.

A sample is a plain dict::

    {"name": "cluster.protostats.nfs",    # the statistics key
     "field": "op_rate",                  # sub-field of a multi-field value, else None
     "labels": {"cluster": "prod", "op_name": "read", "class_name": "read"},
     "value": 12.5, "unit": "none", "timestamp": 1700000000, "degraded": False}

Node-scoped rows carry ``labels["node"]`` (the LNN as a string, never the devid). String
sub-fields (``op_name``, ``class_name``, ``path``, client addresses…) become labels; numeric
sub-fields become samples. ``op_id`` is dropped (it only numbers ``op_name``). Values keep the
JSON number exactly (uint64 counters above 2**63 stay exact Python ints).

Value shapes handled: scalars (int32/int64/uint64/double), protostats lists of per-operation
dicts, ``.total`` lists holding one dict without names, ``node.ifs.cache`` dicts, heat lists of
``{op_rate, path}``, clientstats lists with nested ``op_class_values`` lists and ``user`` dicts,
and disk lists.
"""

from __future__ import annotations

from ansible_collections.quadstats.stack.plugins.module_utils.errors import KIND_DEGRADED
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.errors import classify_row_error, key_error

# Integer sub-fields that identify a thing rather than measure it: labels, not samples.
ID_FIELDS = frozenset(("disk", "bay", "lin", "lnn", "devid", "node", "client_id", "id"))
DROPPED_FIELDS = frozenset(("op_id",))
_NUMBER = (int, float)


def _add_label(labels, name, val, fields):
    cls = type(val)
    if cls is str:
        labels[name] = val
    elif cls is bool:
        fields.append((name, int(val)))
    elif cls is int or cls is float:
        labels[name] = str(val)
    elif cls is dict:
        for sub, sval in val.items():
            if isinstance(sval, (str, int)) and not isinstance(sval, bool):
                labels[name + "_" + sub] = str(sval)


def _split(item, base_labels):
    """Split one dict into (labels, numeric fields, nested lists)."""
    labels = None
    fields = []
    nested = None
    for name, val in item.items():
        cls = type(val)
        if (cls is int or cls is float) and name not in ID_FIELDS:
            if name not in DROPPED_FIELDS:
                fields.append((name, val))
        elif cls is list:
            if nested is None:
                nested = []
            nested.append(val)
        elif val is not None:
            if labels is None:
                labels = dict(base_labels)
            _add_label(labels, name, val, fields)
    return (labels if labels is not None else base_labels), fields, nested


def decode_value(value, base_labels):
    """Decode one PAPI value into ``[(field, labels, number)]``. Pure and shape-driven."""
    cls = type(value)
    if cls is int or cls is float:
        return [(None, base_labels, value)]
    out = []
    if cls is dict:
        _decode_dict(value, base_labels, out)
    elif cls is list:
        for index, item in enumerate(value):
            if isinstance(item, dict):
                _decode_dict(item, base_labels, out)
            elif isinstance(item, _NUMBER) and not isinstance(item, bool):
                labels = dict(base_labels)
                labels["index"] = str(index)
                out.append((None, labels, item))
    elif cls is bool:
        out.append((None, base_labels, int(value)))
    return out


def _decode_dict(item, base_labels, out):
    labels, fields, nested = _split(item, base_labels)
    if len(fields) == 1 and not nested:
        out.append((None, labels, fields[0][1]))
    else:
        for name, val in fields:
            out.append((name, labels, val))
    if nested:
        for lst in nested:
            for sub in lst:
                if isinstance(sub, dict):
                    _decode_dict(sub, labels, out)


def _node_labels(cache, cluster, node, devid, devid_label):
    """The labels dict of one node (shared by its samples, so encoders format it once)."""
    labels = cache.get((node, devid))
    if labels is None:
        labels = cache[(node, devid)] = {"cluster": cluster, "node": str(node)}
        if devid_label:
            labels["devid"] = str(devid)
    return labels


def rows_to_samples(rows, units, cluster, devid_lnn=None, *, include_degraded=True, nodes=None, devid_label=False):
    """Turn ``statistics/current`` rows into (samples, errors).

    ``units``: key → unit (from key metadata). ``cluster``: the cluster label value.
    ``devid_lnn``: devid → LNN, used when a row lacks ``node``. ``nodes``: a set of LNNs to keep
    (None keeps all); cluster-scoped rows (devid 0) are always kept. ``devid_label`` adds the
    ``devid`` label to node-scoped samples, as gostats' Prometheus output has it.
    Errors are :func:`errors.key_error` dicts: degraded rows are kept and flagged when
    ``include_degraded``; every other error row yields no sample.
    """
    samples = []
    errors = []
    devid_lnn = devid_lnn or {}
    append = samples.append
    cluster_labels = {"cluster": cluster}
    node_labels = {}
    for row in rows:
        key = row.get("key")
        devid = row.get("devid") or 0
        node = None
        if devid:
            node = row.get("node")
            if node is None:
                node = devid_lnn.get(devid)
            if nodes is not None and node not in nodes:
                continue
        degraded = False
        code = row.get("error_code")
        if code:
            kind, name, meaning = classify_row_error(code)
            kept = kind == KIND_DEGRADED and include_degraded and row.get("value") is not None
            errors.append(
                key_error(
                    kind,
                    meaning,
                    key,
                    code=code,
                    name=name,
                    devid=devid or None,
                    node=node,
                    error=row.get("error"),
                    kept=kept,
                )
            )
            if not kept:
                continue
            degraded = True
        value = row.get("value")
        if value is None:
            continue
        labels = _node_labels(node_labels, cluster, node, devid, devid_label) if devid else cluster_labels
        unit = units.get(key)
        stamp = row.get("time")
        cls = type(value)
        if cls is int or cls is float:  # the common case, without the generic decoder
            append(
                {
                    "name": key,
                    "field": None,
                    "labels": labels,
                    "value": value,
                    "unit": unit,
                    "timestamp": stamp,
                    "degraded": degraded,
                }
            )
            continue
        for field, lab, val in decode_value(value, labels):
            append(
                {
                    "name": key,
                    "field": field,
                    "labels": lab,
                    "value": val,
                    "unit": unit,
                    "timestamp": stamp,
                    "degraded": degraded,
                }
            )
    return samples, errors


def scalar_view(samples):
    """Per key: cluster scope → value, node scope → {LNN: value}; multi-field keys keep lists.

    Used by the lookup: the first scalar sample per (key, node) wins; keys whose rows decode into
    several samples map to the list of those samples instead.
    """
    grouped = {}
    for s in samples:
        node = s["labels"].get("node")
        grouped.setdefault(s["name"], {}).setdefault(node, []).append(s)
    view = {}
    for key, per_node in grouped.items():
        out = {}
        for node, items in per_node.items():
            if len(items) == 1 and items[0]["field"] is None and len(items[0]["labels"]) <= 2:
                val = items[0]["value"]
            else:
                val = [{"field": i["field"], "labels": i["labels"], "value": i["value"]} for i in items]
            out[node] = val
        if list(out) == [None]:
            view[key] = out[None]
        else:
            view[key] = {int(n): v for n, v in out.items() if n is not None}
    return view
