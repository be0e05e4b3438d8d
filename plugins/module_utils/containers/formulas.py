# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure formulas: CPU percent, rates between two samples, statvfs disk usage.

Raw counters are always kept; everything derived is computed here from two samples.
"""

from __future__ import annotations

# CPU-time counters reported as a percent (100 = one core), and under which name.
_PERCENT_NAMES = {
    "cpu_usage_ns": "cpu_percent",
    "cpu_user_ns": "cpu_user_percent",
    "cpu_system_ns": "cpu_system_percent",
}


def cpu_percent(cpu_ns_before, cpu_ns_after, wall_ns_before, wall_ns_after):
    """delta (container CPU ns) / delta (wall ns) x 100; 100 means one full core. None if not computable."""
    if None in (cpu_ns_before, cpu_ns_after, wall_ns_before, wall_ns_after):
        return None
    d_wall = wall_ns_after - wall_ns_before
    d_cpu = cpu_ns_after - cpu_ns_before
    if d_wall <= 0 or d_cpu < 0:
        return None
    return d_cpu * 100.0 / d_wall


def docker_cpu_percent(stats):
    """Docker's own CPU % from one stats payload that has both ``cpu_stats`` and ``precpu_stats``.

    delta total_usage / delta system_cpu_usage x online_cpus x 100. The CPU count comes from ``online_cpus``,
    falling back to ``len(percpu_usage)`` only when that list is non-empty (it is empty on cgroup v2;
    using its length there yields 0 %). Returns None when ``precpu_stats`` is empty (one-shot answers).
    """
    cpu = stats.get("cpu_stats") or {}
    pre = stats.get("precpu_stats") or {}
    total = (cpu.get("cpu_usage") or {}).get("total_usage")
    pre_total = (pre.get("cpu_usage") or {}).get("total_usage")
    system = cpu.get("system_cpu_usage")
    pre_system = pre.get("system_cpu_usage")
    if not pre_total or not pre_system or total is None or system is None:
        return None
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or ())
    if not online:
        return None
    d_system = system - pre_system
    d_total = total - pre_total
    if d_system <= 0 or d_total < 0:
        return None
    return d_total * online * 100.0 / d_system


def counter_rate(before, after, seconds):
    """Per-second rate of a monotonic counter; None on a reset (after < before) or no time elapsed."""
    if before is None or after is None or seconds <= 0 or after < before:
        return None
    return (after - before) / seconds


def rates(before, after, elapsed_ns):
    """Rates between two reads of one container's counters, ``elapsed_ns`` apart (monotonic clock).

    Returns a dict: ``cpu_percent`` (100 = one core), ``cpu_user_percent``/``cpu_system_percent``
    when known, ``cpu_throttled_seconds_per_second``, ``<counter>_per_second`` for every other counter
    present in both reads, and ``interval_seconds``; empty when no time elapsed.
    """
    out = {}
    if not elapsed_ns or elapsed_ns <= 0:
        return out
    seconds = elapsed_ns / 1e9
    before = before or {}
    after = after or {}
    for key in sorted(after):  # the keys of both reads, in order (one collection's hot loop)
        if key not in before:
            continue
        percent_name = _PERCENT_NAMES.get(key)
        if percent_name is not None:
            value = cpu_percent(before[key], after[key], 0, elapsed_ns)
            name = percent_name
        elif key == "cpu_throttled_ns":
            value = counter_rate(before[key], after[key], seconds)
            if value is not None:
                out["cpu_throttled_seconds_per_second"] = value / 1e9
            continue
        else:
            value = counter_rate(before[key], after[key], seconds)
            name = key + "_per_second"
        if value is not None:
            out[name] = value
    out["interval_seconds"] = seconds
    return out


def memory_percent(usage, limit):
    """Usage as a percent of the limit; None when unlimited or unknown."""
    if usage is None or not limit:
        return None
    return usage * 100.0 / limit


def statvfs_usage(blocks, bavail, bfree, frsize):
    """Disk usage of a mount from statvfs fields: used = (blocks - bavail) x frsize (as mini-collector),
    limit = blocks x frsize; ``free_bytes`` is what an unprivileged writer may still use."""
    return {
        "used_bytes": (blocks - bavail) * frsize,
        "limit_bytes": blocks * frsize,
        "free_bytes": bavail * frsize,
        "reserved_bytes": (bfree - bavail) * frsize,
    }
