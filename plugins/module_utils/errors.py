# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error taxonomy of every quadstats core: a base exception with a ``kind`` and one dict shape.

Pure module (no I/O, no Ansible import). Each domain derives its base from :class:`QuadstatsError`
and its specific errors from that, setting ``kind`` to one of :data:`KINDS`. Modules fail with
``msg=str(exc)`` and ``error_kind=exc.kind``; lookups raise with ``str(exc)``; exporters count errors
by ``kind``; per-item errors inside results use :func:`error_dict`.
"""

from __future__ import annotations

# The closed set of kinds, shared by every domain; docs/architecture.md explains each.
KIND_INVALID_OPTION = "invalid_option"
KIND_UNREACHABLE = "unreachable"
KIND_TIMEOUT = "timeout"
KIND_TLS = "tls"
KIND_AUTHENTICATION = "authentication"
KIND_PERMISSION = "permission"
KIND_NOT_FOUND = "not_found"
KIND_GONE = "gone"
KIND_UNAVAILABLE = "unavailable"
KIND_API = "api"
KIND_MALFORMED_RESPONSE = "malformed_response"
# Kinds of one value inside a good response (OneFS per-row error codes).
KIND_DEGRADED = "degraded"
KIND_TRANSIENT = "transient"
KIND_PERMANENT = "permanent"
KIND_UNKNOWN = "unknown"

KINDS = frozenset(
    (
        KIND_INVALID_OPTION,
        KIND_UNREACHABLE,
        KIND_TIMEOUT,
        KIND_TLS,
        KIND_AUTHENTICATION,
        KIND_PERMISSION,
        KIND_NOT_FOUND,
        KIND_GONE,
        KIND_UNAVAILABLE,
        KIND_API,
        KIND_MALFORMED_RESPONSE,
        KIND_DEGRADED,
        KIND_TRANSIENT,
        KIND_PERMANENT,
        KIND_UNKNOWN,
    )
)


def error_dict(kind, message, **fields):
    """The one shape of an error inside a result: ``{"kind": ..., "message": ..., **fields}``.

    ``fields`` identify the item (``key``, ``node``, ``container``, ``status``…); ``None`` values
    are left out so every shape stays small and stable.
    """
    out = {"kind": kind, "message": message}
    out.update((name, value) for name, value in fields.items() if value is not None)
    return out


class QuadstatsError(Exception):
    """Base of every error a core raises on purpose; ``str(exc)`` is the actionable message."""

    kind = KIND_UNKNOWN

    def __init__(self, message, status=None, kind=None):
        super().__init__(message)
        self.message = message
        self.status = status
        if kind is not None:
            self.kind = kind

    def to_dict(self, **fields):
        """This error as :func:`error_dict` (``status`` included when the remote end gave one)."""
        return error_dict(self.kind, self.message, status=self.status, **fields)
