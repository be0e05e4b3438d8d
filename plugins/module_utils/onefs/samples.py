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

from itertools import chain, compress, filterfalse, repeat
from operator import is_, itemgetter

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
    out = []
    for labels, fields, values in RowDecoder().value_frames(value, base_labels):
        out.extend((field, labels, number) for field, number in zip(fields, values))
    return out


def _decode_dict(item, base_labels, out):
    """The generic decoder of one dict: appends ``(labels, fields, values)`` to ``out``."""
    labels, fields, nested = _split(item, base_labels)
    if len(fields) == 1 and not nested:
        out.append((labels, (None,), (fields[0][1],)))
    elif fields:
        out.append((labels, tuple(f[0] for f in fields), tuple(f[1] for f in fields)))
    if nested:
        for lst in nested:
            for sub in lst:
                if isinstance(sub, dict):
                    _decode_dict(sub, labels, out)


# Member types the shape plan decodes; anything else (bool, …) takes the generic _decode_dict.
_PLANNED = frozenset((int, float, str, type(None), dict, list))
_NO_PLAN = object()


def _one_or_more(names):
    """A getter returning the tuple of ``names``' values (itemgetter returns a bare value for one name)."""
    if len(names) == 1:
        (name,) = names
        return lambda item: (item[name],)
    return itemgetter(*names)


def _column_getter(names):
    """``items`` → the list of each item's ``names``' values as tuples, with C-level maps only."""
    getter = itemgetter(*names)
    if len(names) == 1:
        return lambda items: list(zip(map(getter, items)))
    return lambda items: list(map(getter, items))


def _dict_label_items(val):
    """The sub-labels a dict member adds, as :func:`_add_label` picks them: ``((sub, text), …)``."""
    return tuple(
        (sub, str(sval)) for sub, sval in val.items() if isinstance(sval, (str, int)) and not isinstance(sval, bool)
    )


def _shape_plan(names, types):
    """How dicts with these member names and types decode, as :func:`_split` decides: (label names,
    label getter, dict-label names, fields, value getter, nested list names); None when such a dict
    yields nothing, ``_NO_PLAN`` for shapes only the generic decoder handles."""
    if not _PLANNED.issuperset(types):
        return _NO_PLAN
    labels = []
    dict_labels = []
    fields = []
    lists = []
    for name, cls in zip(names, types):
        if cls is str or ((cls is int or cls is float) and name in ID_FIELDS):
            labels.append(name)
        elif cls is int or cls is float:
            if name not in DROPPED_FIELDS:
                fields.append(name)
        elif cls is dict:
            dict_labels.append(name)
        elif cls is list:
            lists.append(name)
    if not fields and not lists:
        return None
    label_names = tuple(labels)
    return (
        label_names,
        _one_or_more(label_names) if label_names else None,
        tuple(dict_labels),
        (None,) if len(fields) == 1 and not lists else tuple(fields),
        _one_or_more(fields) if fields else None,
        tuple(lists),
        _column_check(names, types, label_names, dict_labels or lists or not fields),
    )


_NUMBERS = frozenset((int, float))
_STRINGS = frozenset((str,))
_ID_LABEL_TYPES = frozenset((str, int, float))


def _column_check(names, types, label_names, unsuitable):
    """What a whole list of dicts of this shape must pass to be decoded as columns: (label types
    allowed, getter of the dropped members or None); None when such lists take the per-dict path
    (nested members, members that are null, label columns of both kinds)."""
    if unsuitable or type(None) in types:
        return None
    id_labels = [name for name in label_names if name in ID_FIELDS]
    if id_labels and len(id_labels) != len(label_names):
        return None
    dropped = tuple(name for name in names if name in DROPPED_FIELDS)
    fields = [n for n, cls in zip(names, types) if cls in _NUMBERS and n not in ID_FIELDS and n not in DROPPED_FIELDS]
    return (
        _ID_LABEL_TYPES if id_labels else _STRINGS,
        _column_getter(dropped) if dropped else None,
        _column_getter(label_names) if label_names else None,
        _column_getter(fields),
    )


def _row_error(errors, row, code, *, key, devid, node, value, include_degraded):
    """Record the error of a row; whether its value is still kept (degraded, and wanted)."""
    kind, name, meaning = classify_row_error(code)
    kept = kind == KIND_DEGRADED and include_degraded and value is not None
    errors.append(
        key_error(
            kind, meaning, key, code=code, name=name, devid=devid or None, node=node, error=row.get("error"), kept=kept
        )
    )
    return kept


_FIELDS = itemgetter(2)  # a frame's fields: None when deferred
# A row value's type -> its frame's fields: a single number, or deferred (None) for a list or dict.
_FIELDS_OF_TYPE = {int: (None,), float: (None,), list: None, dict: None}
_ROW_NAMES = ("key", "devid", "value", "time", "error_code")
_COLUMNS = tuple(map(itemgetter, _ROW_NAMES[:4]))
_CODE_OF = itemgetter("error_code")
_ROW_MEMBERS = itemgetter(*_ROW_NAMES)


def _has_empty(values):
    """Whether numbers, lists and dicts include an empty list or dict (the falsy values, a few, looked at twice)."""
    falsy = list(filterfalse(None, values))
    return [] in falsy or {} in falsy


class RowDecoder:
    """Decodes ``statistics/current`` rows into frames, remembering between calls how each dict shape
    decodes and the label dicts already built (so a long-running reader re-normalises nothing).

    A frame is ``(key, labels, fields, values, unit, timestamp, degraded)``: the values of one decoded
    item, ``fields`` and ``values`` tuples of equal length, a field None for a single value. Label
    dicts are shared between frames and calls: treat them as read-only. Keep one per cluster.
    A *deferred* frame (``decode(..., defer=True)``) has ``fields`` None: rows are checked (errors, node
    map, value types) but decoded only when :meth:`expand` is called, by any decoder (what it decodes
    does not depend on its caches). Rows without any fault (every poll of a healthy cluster) stay one
    *block* frame ``(None, labels per devid, None, (distinct keys, columns), units, None, False)``, the
    columns being the rows' keys, devids, values and times (the rows themselves are not kept):
    no tuple per row until something reads the values. Otherwise a row with a list or dict value is one
    deferred frame whose ``values`` is the 1-tuple of that raw value.
    Type checks are exact (``type(x) is dict``): json.loads makes no subclasses, and bool must not
    pass as a number.
    """

    MAX_ENTRIES = 4096

    def __init__(self):
        self.node_answers = []  # (devid, LNN) pairs the last decoded rows answered with, first seen first
        self.cluster_degraded = False  # the last decoded rows had a degraded cluster value
        self._plans = {}  # (member names, member types) -> shape plan
        self._labels = {}  # label cache key -> labels dict (kept alive, so ids stay unique)
        self._last_nodes = None  # (devids, node members, label arguments, (labels per devid, answers)) of _clean_rows
        self._last_keys = ([], {})  # (keys column, its distinct keys) of the last rows _clean_rows passed

    def _trim(self):
        if len(self._labels) > self.MAX_ENTRIES or len(self._plans) > self.MAX_ENTRIES:
            self._labels.clear()
            self._plans.clear()
            self._last_nodes = None

    def node_labels(self, cluster, node, devid, devid_label):
        ident = ("node", cluster, node, devid, devid_label)
        labels = self._labels.get(ident)
        if labels is None:
            labels = self._labels[ident] = {"cluster": cluster, "node": str(node)}
            if devid_label:
                labels["devid"] = str(devid)
        return labels

    def cluster_labels(self, cluster):
        ident = ("cluster", cluster)
        labels = self._labels.get(ident)
        if labels is None:
            labels = self._labels[ident] = {"cluster": cluster}
        return labels

    def value_frames(self, value, base_labels):
        """``[(labels, fields, values)]`` of one PAPI value (every shape; see the module docstring)."""
        cls = type(value)
        if cls is int or cls is float:
            return [(base_labels, (None,), (value,))]
        out = []
        if cls is dict:
            self._dict_frames(value, base_labels, out)
        elif cls is list:
            for index, item in enumerate(value):
                if type(item) is dict:  # pylint: disable=unidiomatic-typecheck
                    self._dict_frames(item, base_labels, out)
                elif isinstance(item, _NUMBER) and not isinstance(item, bool):
                    labels = dict(base_labels)
                    labels["index"] = str(index)
                    out.append((labels, (None,), (item,)))
        elif cls is bool:
            out.append((base_labels, (None,), (int(value),)))
        return out

    def _plan(self, shape):
        plan = self._plans.get(shape)
        if plan is None and shape not in self._plans:
            plan = self._plans[shape] = _shape_plan(*shape)
        return plan

    def uniform_list(self, items, base_labels):  # noqa: PLR0911 - every check is a way to the per-dict path
        """Columns ``(labels per item, fields, values per item)`` of a list of dicts that all have the
        first one's member names, numbers where it has numbers and labels where it has labels,
        decoded with C-level maps; None when the list is not like that (the per-dict path decodes it)."""
        first = items[0]
        if type(first) is not dict:  # pylint: disable=unidiomatic-typecheck
            return None
        plan = self._plan((tuple(first), tuple(map(type, first.values()))))
        if plan is None:
            return ((), (), ())
        if plan is _NO_PLAN or plan[6] is None:
            return None
        label_names, _label_getter, _dicts, fields, _value_getter, _lists, columns = plan
        label_types, dropped, label_columns, value_columns = columns
        names = tuple(first)
        try:
            if not all(map(names.__eq__, map(tuple, items))):
                return None
            values = value_columns(items)
            if not _NUMBERS.issuperset(map(type, chain.from_iterable(values))):
                return None
            if dropped is not None and not _NUMBERS.issuperset(map(type, chain.from_iterable(dropped(items)))):
                return None
            if label_columns is None:
                return repeat(base_labels), fields, values
            label_values = tuple(label_columns(items))
        except (TypeError, KeyError):  # an item that is not a dict
            return None
        if not label_types.issuperset(map(type, chain.from_iterable(label_values))):
            return None
        ident = (id(base_labels), label_names, label_values)
        cached = self._labels.get(ident)
        if cached is None or cached[0] is not base_labels:  # the base kept with them: its id stays its own
            labels = tuple(self._item_labels(base_labels, label_names, v) for v in label_values)
            cached = self._labels[ident] = (base_labels, labels)
        return cached[1], fields, values

    def _item_labels(self, base_labels, label_names, label_values, dict_items=()):
        ident = (id(base_labels), label_names, label_values, dict_items)
        cached = self._labels.get(ident)
        if cached is None or cached[0] is not base_labels:  # base labels from another decoder may die
            labels = dict(base_labels)
            for name, val in zip(label_names, label_values):
                labels[name] = val if type(val) is str else str(val)  # pylint: disable=unidiomatic-typecheck
            for name, subs in dict_items:
                for sub, text in subs:
                    labels[name + "_" + sub] = text
            cached = self._labels[ident] = (base_labels, labels)
        return cached[1]

    def _dict_frames(self, item, base_labels, out):
        plan = self._plan((tuple(item), tuple(map(type, item.values()))))
        if plan is None:  # no numeric member: nothing to sample
            return
        if plan is _NO_PLAN:
            _decode_dict(item, base_labels, out)
            return
        label_names, label_getter, dict_names, fields, value_getter, list_names, _columns = plan
        labels = base_labels
        if label_getter is not None or dict_names:
            dict_items = tuple((name, _dict_label_items(item[name])) for name in dict_names)
            label_values = label_getter(item) if label_getter is not None else ()
            labels = self._item_labels(base_labels, label_names, label_values, dict_items)
        if value_getter is not None:
            out.append((labels, fields, value_getter(item)))
        for name in list_names:
            sub_items = item[name]
            columns = self.uniform_list(sub_items, labels) if sub_items else None
            if columns is not None:
                out.extend(zip(*columns[:1], repeat(columns[1]), columns[2]))
                continue
            for sub in sub_items:
                if isinstance(sub, dict):
                    self._dict_frames(sub, labels, out)

    def decode(
        self, rows, units, cluster, devid_lnn=None, *, include_degraded=True, nodes=None, devid_label=False, defer=False
    ):
        """Rows → (frames, errors); the arguments are those of :func:`rows_to_samples`. ``defer``: rows
        with a non-empty list or dict value become one deferred frame each (see the class docstring)."""
        self._trim()
        devid_lnn = devid_lnn or {}
        self.node_answers = []
        self.cluster_degraded = False
        frames = None
        if nodes is None:
            checked = self._clean_rows(rows, cluster, devid_lnn, devid_label)
            if checked is not None:
                keys, columns, labels_of = checked
                frames = [(None, labels_of, None, (keys, columns), units, None, False)]
                if not defer:
                    return self.expand(frames), []
        if frames is None:
            frames, errors = self._rows(
                rows, units, cluster, devid_lnn, include_degraded=include_degraded, nodes=nodes, devid_label=devid_label
            )
        else:
            errors = []
        return (frames if defer else self.expand(frames)), errors

    def _clean_rows(self, rows, cluster, devid_lnn, devid_label):
        """Checks rows for the block frame (see the class docstring): without any error code, null, bool,
        string or empty value and with one LNN per devid (every poll of a healthy cluster), at C level.
        Returns (their distinct keys, their columns, labels per devid) and sets :attr:`node_answers`;
        None when the rows are not all like that (:meth:`_rows` decodes them)."""
        try:
            if any(map(_CODE_OF, rows)):
                return None
            keys, devids, values, stamps = [list(map(getter, rows)) for getter in _COLUMNS]
            nodes = list(map(dict.get, rows, repeat("node")))
        except (KeyError, TypeError):  # a row without a member, or not a dict
            return None
        if not _FIELDS_OF_TYPE.keys() >= set(map(type, values)) or _has_empty(values):
            return None  # a null, bool or string value, or an empty one
        if keys == self._last_keys[0]:  # the same keys as the last rows: their distinct keys, the earlier strings
            keys, distinct = self._last_keys
        else:
            distinct = dict.fromkeys(keys)
            self._last_keys = (keys, distinct)
        columns = (keys, devids, values, stamps)
        last = self._last_nodes
        if last is not None and last[0] == devids and last[1] == nodes and last[2] == (cluster, devid_lnn, devid_label):
            labels_of, answers = last[3]  # the same nodes answered as in the last rows: the same labels
        else:
            try:
                node_of = dict(zip(devids, nodes))  # devid -> node member, first seen first
            except TypeError:  # a devid that is not a number
                return None
            if list(map(node_of.__getitem__, devids)) != nodes:  # a devid with two node members
                return None
            cluster_labels = self.cluster_labels(cluster)
            labels_of = {}  # devid -> labels
            answers = []
            for devid, node in node_of.items():
                if not devid:
                    labels_of[devid] = cluster_labels
                    continue
                lnn = node if node is not None else devid_lnn.get(devid)
                answers.append((devid, lnn))
                labels_of[devid] = self.node_labels(cluster, lnn, devid, devid_label)
            self._last_nodes = (devids, nodes, (cluster, dict(devid_lnn), devid_label), (labels_of, answers))
        self.node_answers = list(answers)
        return distinct, columns, labels_of

    @staticmethod
    def _block_frames(block):
        """The frames of a block frame's rows (list and dict values still deferred), at C level."""
        _none, labels_of, _fields, (_held, (keys, devids, values, stamps)), units, _stamp, _degraded = block
        fields = map(_FIELDS_OF_TYPE.__getitem__, map(type, values))
        labels = map(labels_of.__getitem__, devids)
        return zip(keys, labels, fields, zip(values), map(units.get, keys), stamps, repeat(False))

    def _rows(  # noqa: PLR0912 - one flat loop over every row
        self, rows, units, cluster, devid_lnn, *, include_degraded, nodes, devid_label
    ):
        """Frames (list and dict values deferred) and errors of any rows, row by row."""
        frames = []
        errors = []
        append = frames.append
        cluster_labels = self.cluster_labels(cluster)
        per_devid = {}  # devid -> (LNN, labels) in this call
        self.node_answers = answers = []
        last_key = unit = None
        for row in rows:
            try:  # every member a row has, in one C-level call
                key, devid, value, stamp, code = _ROW_MEMBERS(row)
            except KeyError:
                key, devid, value, stamp, code = map(row.get, _ROW_NAMES)
            node = None
            if devid:
                node = row.get("node")
                if node is None:
                    node = devid_lnn.get(devid)
                entry = per_devid.get(devid)
                if entry is None or entry[0] != node:
                    answers.append((devid, node))
                    entry = per_devid[devid] = (node, self.node_labels(cluster, node, devid, devid_label))
                if nodes is not None and node not in nodes:
                    continue
                labels = entry[1]
            else:
                labels = cluster_labels
            degraded = False
            if code:
                if code == 3 and not devid:
                    self.cluster_degraded = True
                if not _row_error(
                    errors, row, code, key=key, devid=devid, node=node, value=value, include_degraded=include_degraded
                ):
                    continue
                degraded = True
            if value is None:
                continue
            if key != last_key:  # rows come key by key
                last_key = key
                unit = units.get(key)
            cls = type(value)
            if cls is int or cls is float:  # the common case, without the generic decoder
                append((key, labels, (None,), (value,), unit, stamp, degraded))
            elif (cls is list or cls is dict) and value:
                append((key, labels, None, (value,), unit, stamp, degraded))
            else:
                self._value_into(frames, key, labels, value, unit, stamp, degraded)
        return frames, errors

    def _value_into(self, out, key, labels, value, unit, stamp, degraded):  # noqa: PLR0917 - a frame's parts, in order
        """Append the frames of one row's value to ``out``."""
        if type(value) is list and value:  # pylint: disable=unidiomatic-typecheck
            columns = self.uniform_list(value, labels)
            if columns is not None:  # one frame per item, built at C level
                labs, fields, values = columns
                out.extend(
                    zip(repeat(key), labs, repeat(fields), values, repeat(unit), repeat(stamp), repeat(degraded))
                )
                return
        for lab, fields, values in self.value_frames(value, labels):
            out.append((key, lab, fields, values, unit, stamp, degraded))

    def expand(self, frames):
        """``frames`` with every deferred frame replaced by the frames of its items (the same list when
        none is deferred)."""
        if not any(map(is_, map(_FIELDS, frames), repeat(None))):
            return frames
        self._trim()
        out = []
        for frame in frames:
            if frame[2] is not None:
                out.append(frame)
            elif frame[0] is None:  # a block: its rows' frames, list and dict values decoded
                for row_frame in self._block_frames(frame):
                    if row_frame[2] is None:
                        key, labels, _fields, (value,), unit, stamp, degraded = row_frame
                        self._value_into(out, key, labels, value, unit, stamp, degraded)
                    else:
                        out.append(row_frame)
            else:
                key, labels, _fields, (value,), unit, stamp, degraded = frame
                self._value_into(out, key, labels, value, unit, stamp, degraded)
        return out


def frames_of_keys(frames, keys):
    """``frames`` restricted to the statistics keys in ``keys`` (block frames cut to those rows)."""
    out = []
    for frame in frames:
        if frame[0] is None and frame[2] is None:
            _none, labels_of, _fields, (held, columns), units, _stamp, _degraded = frame
            rows = list(map(keys.__contains__, columns[0]))
            cut = tuple(list(compress(column, rows)) for column in columns)
            kept = {key: None for key in held if key in keys}
            out.append((None, labels_of, None, (kept, cut), units, None, False))
        elif frame[0] in keys:
            out.append(frame)
    return out


def frame_keys(frames):
    """The distinct statistics keys of ``frames`` (a dict, in order: do not change it), block frames
    included."""
    if len(frames) == 1 and frames[0][0] is None and frames[0][2] is None:
        return frames[0][3][0]  # one block: its own keys
    keys = {}
    for frame in frames:
        if frame[0] is None and frame[2] is None:
            keys.update(frame[3][0])
        else:
            keys[frame[0]] = None
    return keys


def frames_to_samples(frames):
    """Frames → the public sample dicts (one per value)."""
    samples = []
    append = samples.append
    for key, labels, fields, values, unit, stamp, degraded in frames:
        for field, value in zip(fields, values):
            append(
                {
                    "name": key,
                    "field": field,
                    "labels": labels,
                    "value": value,
                    "unit": unit,
                    "timestamp": stamp,
                    "degraded": degraded,
                }
            )
    return samples


def samples_to_frames(samples):
    """Sample dicts (summary, quota or module samples) → frames: consecutive samples of one key,
    labels dict, unit, timestamp and degraded flag (what one decoded item gave) share a frame."""
    frames = []
    ident = fields = values = None
    for s in samples:
        head = (s["name"], s["labels"], s.get("unit"), s.get("timestamp"), s.get("degraded", False))
        if ident is None or head[1] is not ident[1] or head != ident:
            if ident is not None:
                frames.append((ident[0], ident[1], tuple(fields), tuple(values), ident[2], ident[3], ident[4]))
            ident, fields, values = head, [], []
        fields.append(s["field"])
        values.append(s["value"])
    if ident is not None:
        frames.append((ident[0], ident[1], tuple(fields), tuple(values), ident[2], ident[3], ident[4]))
    return frames


def rows_to_samples(
    rows, units, cluster, devid_lnn=None, *, include_degraded=True, nodes=None, devid_label=False, decoder=None
):
    """Turn ``statistics/current`` rows into (samples, errors).

    ``units``: key → unit (from key metadata). ``cluster``: the cluster label value.
    ``devid_lnn``: devid → LNN, used when a row lacks ``node``. ``nodes``: a set of LNNs to keep
    (None keeps all); cluster-scoped rows (devid 0) are always kept. ``devid_label`` adds the
    ``devid`` label to node-scoped samples, as gostats' Prometheus output has it.
    Errors are :func:`errors.key_error` dicts: degraded rows are kept and flagged when
    ``include_degraded``; every other error row yields no sample. ``decoder``: a :class:`RowDecoder`
    to reuse (a fresh one otherwise).
    """
    frames, errors = (decoder or RowDecoder()).decode(
        rows, units, cluster, devid_lnn, include_degraded=include_degraded, nodes=nodes, devid_label=devid_label
    )
    return frames_to_samples(frames), errors


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
