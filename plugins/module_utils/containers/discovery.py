# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The set of running containers, kept exact by engine events (pure state machine, no I/O).

Seed it with the running list (``GET /containers/json``), then feed every event from the events
stream to :meth:`RunningSet.apply`. ``start`` adds, ``die`` removes (a container that exits by
itself sends only ``die``, never ``stop``), ``destroy`` removes, ``rename`` renames.
"""

from __future__ import annotations


class RunningSet:
    """Running containers by id, updated by normalised events (see api_parse.normalise_event)."""

    def __init__(self, refs=()):
        self.by_id = {}
        for ref in refs:
            self.by_id[ref["id"]] = dict(ref)

    def names(self):
        return sorted(ref.get("name") or ref["id"] for ref in self.by_id.values())

    def refs(self):
        return [self.by_id[key] for key in sorted(self.by_id)]

    def apply(self, event):  # noqa: PLR0911 # one return per event kind
        """Apply one normalised event. Returns the change as (kind, ref) — kind is ``added``,
        ``removed`` or ``renamed`` — or None when the set is unchanged. ``added`` refs lack the PID;
        the caller fills it from inspect when it needs it."""
        if not event or not event.get("id"):
            return None
        action = event["action"]
        ident = event["id"]
        if action == "start":
            ref = self.by_id.get(ident) or {
                "id": ident,
                "name": event.get("name"),
                "image": event.get("image"),
                "pid": None,
                "pod": None,
                "pod_id": None,
                "engine_labels": {},
            }
            ref["state"] = "running"
            ref["pid"] = None
            if event.get("name"):
                ref["name"] = event["name"]
            labels = {
                k: v
                for k, v in (event.get("attributes") or {}).items()
                if k not in ("name", "image", "containerExitCode", "exitCode", "podId")
            }
            if labels and not ref.get("engine_labels"):
                ref["engine_labels"] = labels
            self.by_id[ident] = ref
            return ("added", ref)
        if action in ("die", "stop", "destroy"):
            ref = self.by_id.pop(ident, None)
            if ref is None:
                return None
            ref["state"] = "exited" if action != "destroy" else "removed"
            return ("removed", ref)
        if action == "rename":
            ref = self.by_id.get(ident)
            if ref is None or not event.get("name"):
                return None
            ref["name"] = event["name"].lstrip("/")
            return ("renamed", ref)
        return None
