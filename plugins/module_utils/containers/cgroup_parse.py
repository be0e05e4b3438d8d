# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure parsers of cgroup v1/v2 and /proc files into the normalised sample fields.

Nothing here touches the filesystem: callers pass file contents (str) or None for a missing file.
"""

from __future__ import annotations

# A v1 memory limit at or above this is the kernel's "unlimited" (PAGE_COUNTER_MAX * page size).
V1_UNLIMITED_THRESHOLD = 1 << 62

# The cgroup v1 controllers whose files the collector reads.
V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "blkio", "pids")


def parse_proc_cgroup(text):
    """Parse /proc/<pid>/cgroup into {"v2": path-or-None, "v1": {controller: path}}.

    Lines are ``hierarchy-ID:controller-list:path``; the v2 line has an empty controller list and
    ID 0. Named hierarchies (``name=systemd``) are kept under their full name.
    """
    v1 = {}
    v2 = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hid, controllers, path = parts
        if hid == "0" and controllers == "":
            v2 = path
            continue
        for controller in controllers.split(","):
            if controller:
                v1[controller] = path
    return {"v1": v1, "v2": v2}


def _unescape_mount(path):
    # mountinfo escapes space, tab, newline and backslash as octal.
    return path.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def parse_mountinfo(text):
    """Find cgroup mounts in /proc/<pid>/mountinfo.

    Returns {"v1": {controller: (mount_point, root)}, "v2": (mount_point, root) or None}. ``root`` is
    the cgroup path mounted at the mount point (``/`` on a host; the container's own path inside a
    container without a cgroup namespace).
    """
    v1 = {}
    v2 = None
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = left.split()
        rfields = right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        fstype = rfields[0]
        root = _unescape_mount(fields[3])
        mount_point = _unescape_mount(fields[4])
        if fstype == "cgroup2":
            if v2 is None:
                v2 = (mount_point, root)
        elif fstype == "cgroup":
            for opt in rfields[2].split(","):
                if (opt in V1_CONTROLLERS and opt not in v1) or (opt.startswith("name=") and opt not in v1):
                    v1[opt] = (mount_point, root)
    return {"v1": v1, "v2": v2}


def join_cgroup(mount, cgroup_path):
    """Join a mount (mount_point, root) and a cgroup path from /proc/<pid>/cgroup."""
    mount_point, root = mount
    path = cgroup_path
    if root not in ("", "/") and (path == root or path.startswith(root.rstrip("/") + "/")):
        path = path[len(root.rstrip("/")) :]
    return mount_point.rstrip("/") + "/" + path.lstrip("/")


def parse_int(text):
    """An integer file such as cpuacct.usage; None when missing or empty."""
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    return int(text)


def parse_max(text):
    """A v2 limit file ("max" means unlimited -> None), e.g. memory.max, pids.max."""
    if text is None:
        return None
    text = text.strip()
    if not text or text == "max":
        return None
    return int(text)


def parse_v1_memory_limit(text):
    """memory.limit_in_bytes: None when unlimited (the kernel's huge page-counter maximum)."""
    value = parse_int(text)
    if value is None or value >= V1_UNLIMITED_THRESHOLD:
        return None
    return value


def parse_flat_keyed(text):
    """``key value`` lines (memory.stat, cpu.stat, memory.events, memory.oom_control) -> dict of ints."""
    out = {}
    if text is None:
        return out
    tokens = text.split()
    # As the kernel writes them: one "key value" pair per line; anything else takes the line loop.
    if len(tokens) == 2 * (text.count("\n") + (not text.endswith("\n"))):
        try:
            return dict(zip(tokens[0::2], map(int, tokens[1::2])))
        except ValueError:
            pass
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def parse_v1_blkio(text):
    """blkio.throttle.io_service_bytes(_recursive) or io_serviced: sum ``Read``/``Write`` rows.

    Rows are ``MAJ:MIN Op value`` plus a final ``Total value``. Only the ops ``Read`` and ``Write``
    are counted (matched case-insensitively and exactly); Sync/Async/Discard/Total overlap them.
    Returns (read, write) or (None, None) for a missing file.
    """
    if text is None:
        return None, None
    read = write = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        op = parts[1].lower()
        if op == "read":
            read += int(parts[2])
        elif op == "write":
            write += int(parts[2])
    return read, write


def parse_v2_io_stat(text):
    """io.stat: ``MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.. dbytes=.. dios=..`` summed over devices."""
    totals = {"rbytes": 0, "wbytes": 0, "rios": 0, "wios": 0}
    if text is None:
        return None
    for line in text.splitlines():
        for item in line.split()[1:]:
            key, sep, value = item.partition("=")
            if sep and key in totals:
                totals[key] += int(value)
    return totals


def parse_net_dev(text, exclude=("lo",)):
    """/proc/<pid>/net/dev summed over the interfaces (loopback excluded).

    Returns a dict of rx/tx bytes, packets, errors and drops (64-bit counters).
    """
    keys = ("net_rx_bytes", "net_rx_packets", "net_rx_errors", "net_rx_dropped")
    tkeys = ("net_tx_bytes", "net_tx_packets", "net_tx_errors", "net_tx_dropped")
    out = dict.fromkeys(keys + tkeys, 0)
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        name = name.strip()
        if name in exclude or "|" in rest:
            continue
        cols = rest.split()
        if len(cols) < 16:
            continue
        for i, key in enumerate(keys):
            out[key] += int(cols[i])
        for i, key in enumerate(tkeys):
            out[key] += int(cols[8 + i])
    return out


def working_set(usage, inactive_file):
    """Memory working set (cAdvisor's container_memory_working_set_bytes): usage - inactive_file, >= 0."""
    if usage is None:
        return None
    if inactive_file is None:
        return usage
    return max(0, usage - inactive_file)


def _memory_gauges(usage, inactive_file, rss, cache, limit):  # the five memory figures
    """The memory gauges from one cgroup version's figures (None where the kernel gives none)."""
    gauges = {
        "memory_usage_bytes": usage,
        "memory_working_set_bytes": working_set(usage, inactive_file),
        "memory_limit_bytes": limit,
    }
    optional = {"memory_inactive_file_bytes": inactive_file, "memory_rss_bytes": rss, "memory_cache_bytes": cache}
    for name, value in optional.items():
        if value is not None:
            gauges[name] = value
    return gauges


def v1_values(files, clk_tck=100):  # noqa: PLR0912 # a flat field mapping
    """Normalised counters and gauges from cgroup v1 file contents.

    ``files`` maps a file name (``cpuacct.usage``, ``memory.stat``, ...) to its text or None.
    Returns (counters, gauges) dicts; fields whose files are missing are left out.
    """
    counters = {}
    gauges = {}
    usage = parse_int(files.get("cpuacct.usage"))
    if usage is not None:
        counters["cpu_usage_ns"] = usage
    if files.get("cpuacct.stat") is not None:
        stat = parse_flat_keyed(files["cpuacct.stat"])
        tick_ns = 1000000000 // clk_tck
        if "user" in stat:
            counters["cpu_user_ns"] = stat["user"] * tick_ns
        if "system" in stat:
            counters["cpu_system_ns"] = stat["system"] * tick_ns
    if files.get("cpu.stat") is not None:
        stat = parse_flat_keyed(files["cpu.stat"])
        if "nr_throttled" in stat:
            counters["cpu_throttled_periods"] = stat["nr_throttled"]
        if "throttled_time" in stat:
            counters["cpu_throttled_ns"] = stat["throttled_time"]
    mem_usage = parse_int(files.get("memory.usage_in_bytes"))
    if mem_usage is not None:
        stat = parse_flat_keyed(files.get("memory.stat"))
        inactive = stat.get("total_inactive_file", stat.get("inactive_file"))
        limit = parse_v1_memory_limit(files.get("memory.limit_in_bytes"))
        gauges.update(_memory_gauges(mem_usage, inactive, stat.get("total_rss"), stat.get("total_cache"), limit))
    if files.get("memory.oom_control") is not None:
        oom = parse_flat_keyed(files["memory.oom_control"])
        if "oom_kill" in oom:
            counters["memory_oom_kills"] = oom["oom_kill"]
    rbytes, wbytes = parse_v1_blkio(files.get("blkio.throttle.io_service_bytes_recursive"))
    if rbytes is None:
        rbytes, wbytes = parse_v1_blkio(files.get("blkio.throttle.io_service_bytes"))
    rops, wops = parse_v1_blkio(files.get("blkio.throttle.io_serviced_recursive"))
    if rops is None:
        rops, wops = parse_v1_blkio(files.get("blkio.throttle.io_serviced"))
    if rbytes is not None:
        counters["blkio_read_bytes"] = rbytes
        counters["blkio_write_bytes"] = wbytes
    if rops is not None:
        counters["blkio_read_ops"] = rops
        counters["blkio_write_ops"] = wops
    pids = parse_int(files.get("pids.current"))
    if pids is not None:
        gauges["pids_current"] = pids
        gauges["pids_max"] = parse_max(files.get("pids.max"))
    return counters, gauges


def v2_values(files):  # a flat field mapping
    """Normalised counters and gauges from cgroup v2 file contents (same shape as :func:`v1_values`)."""
    counters = {}
    gauges = {}
    if files.get("cpu.stat") is not None:
        stat = parse_flat_keyed(files["cpu.stat"])
        if "usage_usec" in stat:
            counters["cpu_usage_ns"] = stat["usage_usec"] * 1000
        if "user_usec" in stat:
            counters["cpu_user_ns"] = stat["user_usec"] * 1000
        if "system_usec" in stat:
            counters["cpu_system_ns"] = stat["system_usec"] * 1000
        if "nr_throttled" in stat:
            counters["cpu_throttled_periods"] = stat["nr_throttled"]
        if "throttled_usec" in stat:
            counters["cpu_throttled_ns"] = stat["throttled_usec"] * 1000
    mem_usage = parse_int(files.get("memory.current"))
    if mem_usage is not None:
        stat = parse_flat_keyed(files.get("memory.stat"))
        limit = parse_max(files.get("memory.max"))
        gauges.update(_memory_gauges(mem_usage, stat.get("inactive_file"), stat.get("anon"), stat.get("file"), limit))
    if files.get("memory.events") is not None:
        events = parse_flat_keyed(files["memory.events"])
        if "oom_kill" in events:
            counters["memory_oom_kills"] = events["oom_kill"]
    io = parse_v2_io_stat(files.get("io.stat"))
    if io is not None:
        counters["blkio_read_bytes"] = io["rbytes"]
        counters["blkio_write_bytes"] = io["wbytes"]
        counters["blkio_read_ops"] = io["rios"]
        counters["blkio_write_ops"] = io["wios"]
    pids = parse_int(files.get("pids.current"))
    if pids is not None:
        gauges["pids_current"] = pids
        gauges["pids_max"] = parse_max(files.get("pids.max"))
    return counters, gauges


def unit_from_cgroup_path(path):
    """The systemd unit a container runs under, from its cgroup path, or None.

    Quadlet containers run as ``.../app.slice/<name>.service/libpod-payload-<id>`` (``--cgroups=split``)
    or ``.../<name>.service`` scopes; podman's own ``libpod-<id>.scope`` is not a user-facing unit.
    """
    if not path:
        return None
    for part in reversed(path.split("/")):
        if part.endswith(".service") and not part.startswith("user@"):
            return part
    return None
