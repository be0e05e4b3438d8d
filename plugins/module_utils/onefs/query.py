# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Building statistics/current request targets batched by URL length. Pure."""

from __future__ import annotations

import re
from urllib.parse import quote

CURRENT_PATH = "/platform/1/statistics/current"
# The OneFS web server rejects URIs beyond about 8 KB; stay clearly below it.
DEFAULT_MAX_URL_LENGTH = 8000
MIN_URL_LENGTH = 256
_INVALID_KEY = re.compile(r"Invalid key:?\s*'([^']+)'")


def key_param(key):
    return "key=" + quote(key, safe="._-")


def fixed_query(devid="all", degraded=True, show_nodes=True):
    parts = ["devid=" + quote(str(devid), safe=",")]
    if degraded:
        parts.append("degraded=true")
    if show_nodes:
        parts.append("show_nodes=true")
    return "&".join(parts)


def plan_batches(keys, max_length=DEFAULT_MAX_URL_LENGTH, devid="all", degraded=True, show_nodes=True):
    """Split keys into request targets none longer than ``max_length`` characters.

    Greedy in the given order: optimal for equal-length parameters and never more than one
    request above the lower bound of :func:`minimum_requests`. Returns ``[(target, keys)]``.
    """
    head = CURRENT_PATH + "?" + fixed_query(devid, degraded, show_nodes)
    budget = max_length - len(head)
    batches = []
    current, params, used = [], [], 0
    for key in keys:
        param = "&" + key_param(key)
        if len(param) > budget:
            raise ValueError(f"statistics key is too long for one request: {key[:80]}")
        if current and used + len(param) > budget:
            batches.append((head + "".join(params), current))
            current, params, used = [], [], 0
        current.append(key)
        params.append(param)
        used += len(param)
    if current:
        batches.append((head + "".join(params), current))
    return batches


def minimum_requests(keys, max_length=DEFAULT_MAX_URL_LENGTH, devid="all", degraded=True, show_nodes=True):
    """Lower bound on requests for these keys: total parameter length over the per-request budget."""
    if not keys:
        return 0
    head = CURRENT_PATH + "?" + fixed_query(devid, degraded, show_nodes)
    budget = max_length - len(head)
    total = sum(len(key_param(k)) + 1 for k in keys)
    return -(-total // budget)


def invalid_keys_from_message(message):
    """Keys named by a 400 AEC_BAD_REQUEST "Invalid key: 'x'" message."""
    return _INVALID_KEY.findall(message or "")
