# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
r"""Label sets as Loki and Prometheus send them: parsing, and which host a series or stream is about.

A Loki stream's label set is the text of Prometheus' ``labels.Labels.String()``: each value written
by Go's ``strconv.Quote``, so beyond the exposition format's ``\\``, ``\"`` and ``\n`` it may hold
``\t``, ``\r``, ``\a``..``\v``, ``\xNN`` (a byte that is not UTF-8), octal ``\NNN``, ``\uNNNN``
and ``\UNNNNNNNN`` (non-printable characters). They are decoded as ``strconv.Unquote`` does.
"""

from __future__ import annotations

import re

HOST_LABELS = ("host", "hostname")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_.]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)', re.DOTALL)
_SIMPLE_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"',
}  # fmt: skip
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|[0-3][0-7]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)", re.DOTALL)


def go_unquote(quoted: str) -> str:
    """The text inside Go double quotes with its escapes decoded (``\\xNN`` and octal are bytes of UTF-8;
    bytes that are not valid UTF-8 become U+FFFD). An escape Go does not know stays as written."""
    if "\\" not in quoted:
        return quoted
    out = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(quoted):
        out += quoted[pos : match.start()].encode("utf-8", "surrogatepass")
        code = match.group(1)
        if code[0] == "x" and len(code) == 3:
            out.append(int(code[1:], 16))
        elif code[0] in "0123" and len(code) == 3:
            out.append(int(code, 8))
        elif code[0] in "uU" and len(code) > 1:
            point = int(code[1:], 16)
            valid = point <= 0x10FFFF and not 0xD800 <= point <= 0xDFFF  # what Go accepts
            out += (chr(point) if valid else match.group(0)).encode("utf-8")
        else:
            out += _SIMPLE_ESCAPES.get(code, match.group(0)).encode("utf-8", "surrogatepass")
        pos = match.end()
    out += quoted[pos:].encode("utf-8", "surrogatepass")
    return out.decode("utf-8", "replace")


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
        labels[match.group(1)] = go_unquote(match.group(2))
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
