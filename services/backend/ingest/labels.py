# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Label sets as Loki and Prometheus send them: parsing, and which host a series or stream is about."""

from __future__ import annotations

import re

HOST_LABELS = ("host", "hostname")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_.]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)', re.DOTALL)
_UNESCAPE = {"\\": "\\", '"': '"', "n": "\n"}


def parse_label_set(text: str) -> dict[str, str]:
    """``{a="1", b="x\\"y"}`` (a Prometheus label set, as Loki's protobuf streams carry) to a dict."""
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise ValueError('must look like {name="value", ...}')
    body = body[1:-1].strip()
    labels: dict[str, str] = {}
    pos = 0
    while pos < len(body):
        match = _LABEL.match(body, pos)
        if not match:
            raise ValueError(f"cannot parse the label set near {body[pos : pos + 30]!r}")
        labels[match.group(1)] = re.sub(
            r"\\(.)", lambda m: _UNESCAPE.get(m.group(1), "\\" + m.group(1)), match.group(2)
        )
        pos = match.end()
    return labels


def strip_port(instance: str) -> str:
    """``name:9100`` -> ``name``; ``[2001:db8::1]:9100`` -> ``2001:db8::1``; anything else unchanged."""
    if instance.startswith("[") and "]" in instance:
        return instance[1 : instance.index("]")]
    name, sep, port = instance.rpartition(":")
    return name if sep and port.isdigit() and ":" not in name else instance


def host_of(labels: dict[str, str]) -> str | None:
    """The host a label set is about: ``host``, ``hostname``, else ``instance`` without its port."""
    for name in HOST_LABELS:
        if labels.get(name):
            return labels[name]
    instance = labels.get("instance")
    return strip_port(instance) if instance else None
