# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OneFS PAPI errors: exceptions with actionable messages and per-row error classification.

Pure module (no I/O). Every exception derives from :class:`errors.QuadstatsError` through
:class:`OneFSError` and carries one of the shared kinds. Messages never contain credentials:
callers pass host, port and user name only.
"""

from __future__ import annotations

import difflib

from ansible_collections.quadstats.stack.plugins.module_utils.errors import (
    KIND_DEGRADED,
    KIND_NOT_FOUND,
    KIND_PERMANENT,
    KIND_TRANSIENT,
    KIND_UNKNOWN,
    QuadstatsError,
    error_dict,
)

# Per-row ``error_code`` values of /platform/1/statistics/current.
ROW_ERRORS = {
    1: ("not_present", "statistic not present on this node or cluster"),
    2: ("not_implemented", "statistic not implemented on this OneFS release"),
    3: ("degraded", "degraded result, some node input missing (value still present)"),
    4: ("stale", "stale value"),
    5: ("connection_timeout", "connection timeout between nodes while gathering the value"),
    6: ("timeout", "timeout while gathering the value"),
    7: ("no_history", "no history yet for this statistic"),
    8: ("system", "system error while gathering the value"),
    9: ("not_configured", "statistic not configured on this cluster"),
    10: ("no_data", "no data for this statistic"),
}
DEGRADED = 3
TRANSIENT_CODES = frozenset((4, 5, 6, 7, 8))
PERMANENT_CODES = frozenset((1, 2, 9, 10))
# The ``code`` and ``name`` of a key the cluster does not know (no row error code exists for it).
UNKNOWN_KEY_CODE = "unknown_key"


def classify_row_error(code):
    """Return ``(kind, name, meaning)`` for a row ``error_code``; ``None`` when the row is fine."""
    if code is None or code == 0:
        return None
    try:
        code = int(code)
    except (TypeError, ValueError):
        return (KIND_UNKNOWN, "unknown", f"unrecognised error code {code!r}")
    name, meaning = ROW_ERRORS.get(code, ("unknown", f"unrecognised error code {code}"))
    if code == DEGRADED:
        kind = KIND_DEGRADED
    elif code in TRANSIENT_CODES:
        kind = KIND_TRANSIENT
    elif code in PERMANENT_CODES:
        kind = KIND_PERMANENT
    else:
        kind = KIND_UNKNOWN
    return (kind, name, meaning)


def key_error(kind, meaning, key, *, code, name, devid=None, node=None, error=None, kept=False):
    """The one shape of a per-key error in a OneFS result (:func:`errors.error_dict` plus OneFS fields).

    ``message`` is what the code means (for unknown keys: the bad key and close matches);
    ``error`` is the cluster's own text, when it sent one; ``devid``/``node`` are left out for
    cluster-scoped keys.
    """
    return error_dict(kind, meaning, key=key, devid=devid, node=node, code=code, name=name, error=error, kept=kept)


def close_matches(bad_key, known_keys, limit=3):
    """Known key names close to ``bad_key`` (for 'did you mean' hints)."""
    return difflib.get_close_matches(bad_key, list(known_keys), n=limit, cutoff=0.6)


class OneFSError(QuadstatsError):
    """Every error of the OneFS core: ``kind`` says which (``OneFSError(message, status, kind=...)``),
    ``str(exc)`` is the actionable message."""


class OneFSUnknownKeyError(OneFSError):
    kind = KIND_NOT_FOUND

    def __init__(self, bad_keys, suggestions=None):
        self.bad_keys = list(bad_keys)
        self.suggestions = dict(suggestions or {})
        super().__init__(unknown_keys_message(self.bad_keys, self.suggestions))


def unknown_keys_message(bad_keys, suggestions):
    parts = []
    for key in bad_keys:
        hint = suggestions.get(key) or []
        if hint:
            parts.append("{} (did you mean: {}?)".format(key, ", ".join(hint)))
        else:
            parts.append(key)
    return (
        "unknown OneFS statistics key(s): {}. List valid keys with the quadstats.stack.onefs_info "
        "module or 'isi statistics list keys' on the cluster.".format("; ".join(parts))
    )


def auth_failed_message(username, host, port):
    return (
        f"authentication to OneFS PAPI at {host}:{port} failed for user '{username}': check username and password, "
        "and that the user's role grants ISI_PRIV_LOGIN_PAPI (read-only is enough)."
    )


def forbidden_message(username, host, port, target):
    """HTTP 403 message; ``target`` is shown without its query (a statistics URL holds thousands of keys)."""
    path = target.split("?", 1)[0]
    return (
        f"OneFS PAPI at {host}:{port} refused {path} for user '{username}' (HTTP 403): the user's role needs the "
        "ISI_PRIV_STATISTICS privilege (read-only) and ISI_PRIV_LOGIN_PAPI."
    )


def tls_failed_message(host, port, reason):
    return (
        f"TLS verification of OneFS PAPI at {host}:{port} failed ({reason}): pass the cluster's CA bundle with "
        "ca_path, or set validate_certs: false to skip verification (not recommended)."
    )


def unreachable_message(host, port, reason):
    return (
        f"cannot reach OneFS PAPI at {host}:{port} ({reason}): check host, port (PAPI listens on 8080) and firewalls."
    )


def timeout_message(host, port, seconds):
    return (
        f"OneFS PAPI at {host}:{port} did not answer within {seconds:g} s (timeout): raise the timeout option, "
        "or check the cluster's load and the network."
    )
