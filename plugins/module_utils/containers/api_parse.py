# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure parsers of Docker Engine / Podman API payloads into the normalised model.

Container reference (``ref``): {"id", "name", "image", "pid" (None if unknown), "pod", "pod_id",
"state", "engine_labels" (the container's own labels)}.
"""

from __future__ import annotations

COMPOSE_LABELS = ("com.docker.compose.project", "io.podman.compose.project")
QUADLET_LABEL = "PODMAN_SYSTEMD_UNIT"


def engine_from_version(version):
    """Engine kind and version from ``GET /version`` (the Docker-compatible endpoint both serve)."""
    components = version.get("Components") or []
    kind = "docker"
    engine_version = version.get("Version")
    for comp in components:
        name = (comp.get("Name") or "").lower()
        if name.startswith("podman"):
            kind = "podman"
            engine_version = comp.get("Version") or engine_version
            break
    return {
        "kind": kind,
        "version": engine_version,
        "api_version": version.get("ApiVersion"),
        "os": version.get("Os"),
        "kernel": version.get("KernelVersion"),
    }


def rootless_from_info(kind, info):
    """Whether the engine runs rootless: libpod ``/info`` host.security.rootless, Docker ``/info``
    SecurityOptions containing ``name=rootless``."""
    if kind == "podman":
        return bool(((info.get("host") or {}).get("security") or {}).get("rootless"))
    return any("name=rootless" in str(opt) for opt in info.get("SecurityOptions") or ())


def _strip_slash(name):
    return name[1:] if name.startswith("/") else name


def ref_from_compat_list(item):
    """One entry of Docker-compatible ``GET /containers/json``."""
    names = item.get("Names") or []
    return {
        "id": item.get("Id"),
        "name": _strip_slash(names[0]) if names else None,
        "image": item.get("Image"),
        "pid": None,
        "pod": None,
        "pod_id": None,
        "state": item.get("State"),
        "engine_labels": item.get("Labels") or {},
    }


def ref_from_libpod_list(item):
    """One entry of libpod ``GET /libpod/containers/json`` (carries the PID and the pod)."""
    names = item.get("Names") or []
    return {
        "id": item.get("Id"),
        "name": names[0] if names else None,
        "image": item.get("Image"),
        "pid": item.get("Pid") or None,
        "pod": item.get("PodName") or None,
        "pod_id": item.get("Pod") or None,
        "state": item.get("State"),
        "engine_labels": item.get("Labels") or {},
    }


def ref_from_inspect(item):
    """Docker-compatible ``GET /containers/{id}/json``."""
    state = item.get("State") or {}
    config = item.get("Config") or {}
    pid = state.get("Pid") or None
    return {
        "id": item.get("Id"),
        "name": _strip_slash(item.get("Name") or ""),
        "image": config.get("Image") or item.get("Image"),
        "pid": pid if state.get("Running") else None,
        "pod": None,
        "pod_id": item.get("Pod") or None,
        "state": state.get("Status"),
        "engine_labels": config.get("Labels") or {},
        "restart_count": item.get("RestartCount"),
        "oom_killed": state.get("OOMKilled"),
        "started_at": state.get("StartedAt"),
    }


def series_labels(ref, unit=None):
    """The labels every series of a container carries: id, name, image; pod, unit (quadlet/systemd)
    and compose_project where present."""
    labels = {"id": ref.get("id") or "", "name": ref.get("name") or "", "image": ref.get("image") or ""}
    if ref.get("pod"):
        labels["pod"] = ref["pod"]
    engine_labels = ref.get("engine_labels") or {}
    unit = engine_labels.get(QUADLET_LABEL) or unit
    if unit:
        labels["unit"] = unit
    for key in COMPOSE_LABELS:
        if engine_labels.get(key):
            labels["compose_project"] = engine_labels[key]
            break
    return labels


def matches_labels(ref, wanted):
    """True when the container's engine labels contain every ``key: value`` of ``wanted``
    (a value of None or "" only requires the key)."""
    have = ref.get("engine_labels") or {}
    for key, value in (wanted or {}).items():
        if key not in have:
            return False
        if value not in (None, "") and str(have[key]) != str(value):
            return False
    return True


def _blkio_sum(rows):
    if rows is None:
        return None, None
    read = write = 0
    for row in rows:
        op = str(row.get("op", "")).lower()
        if op == "read":
            read += int(row.get("value") or 0)
        elif op == "write":
            write += int(row.get("value") or 0)
    return read, write


def values_from_compat_stats(stats):  # noqa: PLR0912 # a flat field mapping
    """Counters and gauges from one Docker-compatible stats payload (``stream=false``).

    Block IO sums only rows whose op is exactly ``read``/``write`` (case-insensitive): podman mixes
    other rows into ``io_service_bytes_recursive``. The memory working set is usage - inactive_file
    (cgroup v2) or - total_inactive_file (v1) when the engine sends ``memory_stats.stats``.
    """
    counters = {}
    gauges = {}
    cpu = stats.get("cpu_stats") or {}
    usage = cpu.get("cpu_usage") or {}
    if usage.get("total_usage") is not None:
        counters["cpu_usage_ns"] = int(usage["total_usage"])
    if usage.get("usage_in_usermode") is not None:
        counters["cpu_user_ns"] = int(usage["usage_in_usermode"])
    if usage.get("usage_in_kernelmode") is not None:
        counters["cpu_system_ns"] = int(usage["usage_in_kernelmode"])
    throttling = cpu.get("throttling_data") or {}
    if "throttled_periods" in throttling:
        counters["cpu_throttled_periods"] = int(throttling["throttled_periods"])
        counters["cpu_throttled_ns"] = int(throttling.get("throttled_time") or 0)
    mem = stats.get("memory_stats") or {}
    if mem.get("usage") is not None:
        mstat = mem.get("stats") or {}
        inactive = mstat.get("inactive_file", mstat.get("total_inactive_file"))
        gauges["memory_usage_bytes"] = int(mem["usage"])
        if inactive is not None:
            gauges["memory_inactive_file_bytes"] = int(inactive)
            gauges["memory_working_set_bytes"] = max(0, int(mem["usage"]) - int(inactive))
        gauges["memory_limit_bytes"] = int(mem["limit"]) if mem.get("limit") else None
        if "anon" in mstat or "total_rss" in mstat:
            gauges["memory_rss_bytes"] = int(mstat.get("anon", mstat.get("total_rss")))
        if "oom_kill" in mstat:
            counters["memory_oom_kills"] = int(mstat["oom_kill"])
    networks = stats.get("networks")
    if networks is not None:
        for key in ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "rx_errors", "tx_errors"):
            counters["net_" + key] = sum(int(n.get(key) or 0) for n in networks.values())
        counters["net_rx_dropped"] = sum(int(n.get("rx_dropped") or 0) for n in networks.values())
        counters["net_tx_dropped"] = sum(int(n.get("tx_dropped") or 0) for n in networks.values())
    blkio = stats.get("blkio_stats") or {}
    rbytes, wbytes = _blkio_sum(blkio.get("io_service_bytes_recursive"))
    if rbytes is not None:
        counters["blkio_read_bytes"] = rbytes
        counters["blkio_write_bytes"] = wbytes
    rops, wops = _blkio_sum(blkio.get("io_serviced_recursive"))
    if rops is not None:
        counters["blkio_read_ops"] = rops
        counters["blkio_write_ops"] = wops
    pids = stats.get("pids_stats") or {}
    if pids.get("current") is not None:
        gauges["pids_current"] = int(pids["current"])
        limit = pids.get("limit")
        gauges["pids_max"] = int(limit) if limit and int(limit) < (1 << 62) else None
    return counters, gauges


def values_from_libpod_stats(entry):
    """Counters and gauges from one entry of libpod ``GET /libpod/containers/stats`` ``Stats[]``.

    libpod reports no inactive_file, so no working set; ``MemUsage`` is the engine's own figure.
    """
    counters = {
        "cpu_usage_ns": int(entry.get("CPUNano") or 0),
        "net_rx_bytes": int(entry.get("NetInput") or 0),
        "net_tx_bytes": int(entry.get("NetOutput") or 0),
        "blkio_read_bytes": int(entry.get("BlockInput") or 0),
        "blkio_write_bytes": int(entry.get("BlockOutput") or 0),
    }
    if entry.get("CPUSystemNano") is not None:
        counters["cpu_system_ns"] = int(entry["CPUSystemNano"])
    gauges = {
        "memory_usage_bytes": int(entry.get("MemUsage") or 0),
        "memory_limit_bytes": int(entry["MemLimit"]) if entry.get("MemLimit") else None,
        "pids_current": int(entry.get("PIDs") or 0),
    }
    return counters, gauges


def normalise_event(event):
    """One engine event -> {"action", "id", "name", "old_name", "time_ns", "attributes"} or None.

    ``died`` (older podman) becomes ``die``; ``remove`` (podman) and ``destroy`` (Docker) both become
    ``destroy``; a rename carries the new name and, when the engine sends it, ``oldName``.
    """
    etype = event.get("Type") or event.get("type")
    if etype and etype != "container":
        return None
    action = event.get("Action") or event.get("status") or event.get("Status") or ""
    # Docker appends details to some actions ("exec_start: sh"); keep the verb.
    action = action.split(":", 1)[0].strip()
    action = {"died": "die", "remove": "destroy"}.get(action, action)
    actor = event.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    ident = actor.get("ID") or event.get("id") or event.get("ID")
    time_ns = event.get("timeNano")
    if time_ns is None and event.get("time") is not None:
        time_ns = int(event["time"]) * 1000000000
    return {
        "action": action,
        "id": ident,
        "name": attrs.get("name") or event.get("Name"),
        "old_name": attrs.get("oldName"),
        "image": attrs.get("image") or event.get("from"),
        "time_ns": time_ns,
        "attributes": attrs,
    }
