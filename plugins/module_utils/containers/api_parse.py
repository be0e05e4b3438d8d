# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure parsers of Docker Engine / Podman API payloads into the normalised model.

Container reference (``ref``): {"id", "name", "image", "pid" (None if unknown), "pod", "pod_id",
"state", "engine_labels" (the container's own labels)}.
"""

from __future__ import annotations

import calendar
import re

from ansible_collections.quadstats.stack.plugins.module_utils.containers.cgroup_parse import working_set

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


def engine_from_ping(headers):
    """Engine kind and version from the headers of ``GET /_ping`` (answered at once, unlike ``/version``,
    which podman builds by asking conmon and the OCI runtime for their versions).

    Podman sends ``Libpod-Api-Version`` (its own version); Docker sends ``Server: Docker/<version> (...)``.
    Header names are matched case-insensitively. The version is None when the engine does not say.
    """
    lowered = {str(k).lower(): v for k, v in dict(headers).items()}
    api_version = lowered.get("api-version")
    if lowered.get("libpod-api-version"):
        return {"kind": "podman", "version": lowered["libpod-api-version"], "api_version": api_version}
    match = re.match(r"Docker/([^ ]+)", lowered.get("server") or "")
    return {"kind": "docker", "version": match.group(1) if match else None, "api_version": api_version}


def version_tuple(version):
    """``"4.3.1"`` -> (4, 3, 1); leading digits of each part only; () when unknown."""
    out = []
    for part in str(version or "").split("."):
        match = re.match(r"\d+", part)
        if not match:
            break
        out.append(int(match.group(0)))
    return tuple(out)


def podman_swaps_network(kind, version):
    """Whether the engine's stats report the container's network rx/tx swapped.

    Podman before 4.4 filled ``NetInput`` from the interface's transmit counter and ``NetOutput``
    from its receive counter (podman PR 16628, first released in 4.4.0), and its compat ``networks``
    map was built from those two fields. Recorded here: podman 4.3.1's libpod and compat stats equal
    the container's ``/proc/<pid>/net/dev`` with rx and tx exchanged; podman 5.4.2's per-interface
    figures equal it as they are (tests/unit/containers/fixtures). Docker counts from inside the
    container.
    """
    return kind == "podman" and (0,) < version_tuple(version) < (4, 4)


def epoch_seconds(text):
    """RFC 3339 time as engines write it (``2026-11-23T10:46:05.123456789Z``, ``...+01:00``) -> float
    seconds since the epoch; None for empty, zero (``0001-01-01...``) or unparsable values."""
    match = re.match(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(\.\d+)?\s*(Z|[+-]\d\d:?\d\d)?", str(text or ""))
    if not match or match.group(1) == "0001":
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    value = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) + float(match.group(7) or 0)
    zone = match.group(8)
    if zone and zone != "Z":
        sign = -1 if zone[0] == "+" else 1
        digits = zone[1:].replace(":", "")
        value += sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return value


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


HEALTH_STATES = ("healthy", "unhealthy", "starting")


def health_from_status(status):
    """Health check status from a list's ``Status`` (libpod API: ``healthy``; ``podman ps``:
    ``Up 2 minutes (healthy)``) or inspect's ``Health.Status``; None without a health check."""
    if not isinstance(status, str):
        return None
    text = status.strip().lower()
    if text.endswith(")") and "(" in text:
        text = text[text.rindex("(") + 1 : -1]
    return text if text in HEALTH_STATES else None


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
        # podman 5 lists carry restart counts; 4.3 does not (None: unknown, never a guess).
        "restart_count": item.get("Restarts"),
        "started_at": item.get("StartedAt") if (item.get("StartedAt") or 0) > 0 else None,
        "oom_killed": None,
        "health": health_from_status(item.get("Status")),
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
        "started_at": epoch_seconds(state.get("StartedAt")),
        # Docker and podman >= 4 say Health, podman 3 said Healthcheck.
        "health": health_from_status((state.get("Health") or state.get("Healthcheck") or {}).get("Status")),
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


def values_from_compat_stats(stats, swapped_network=False):
    """Counters and gauges from one Docker-compatible stats payload (``stream=false``).

    ``swapped_network``: the engine reports rx/tx exchanged (see :func:`podman_swaps_network`); the
    result always says what the container received (rx) and sent (tx).

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
            gauges["memory_working_set_bytes"] = working_set(int(mem["usage"]), int(inactive))
        gauges["memory_limit_bytes"] = int(mem["limit"]) if mem.get("limit") else None
        if "anon" in mstat or "total_rss" in mstat:
            gauges["memory_rss_bytes"] = int(mstat.get("anon", mstat.get("total_rss")))
        if "oom_kill" in mstat:
            counters["memory_oom_kills"] = int(mstat["oom_kill"])
    networks = stats.get("networks")
    if networks is not None:
        counters.update(_network_counters(networks.values(), _compat_name, swapped_network))
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


_NET_FIELDS = ("bytes", "packets", "errors", "dropped")


def _compat_name(direction, field):
    return f"{direction}_{field}"


def _libpod_name(direction, field):
    return direction.capitalize() + field.capitalize()


def _network_counters(interfaces, engine_name, swapped):
    """``net_{rx,tx}_{bytes,packets,errors,dropped}`` summed over the engine's interfaces;
    ``engine_name(direction, field)`` spells a counter as the engine does."""
    interfaces = list(interfaces)
    out = {}
    for direction, engine_direction in (("rx", "tx" if swapped else "rx"), ("tx", "rx" if swapped else "tx")):
        for field in _NET_FIELDS:
            name = engine_name(engine_direction, field)
            out[f"net_{direction}_{field}"] = sum(int(n.get(name) or 0) for n in interfaces)
    return out


def values_from_libpod_stats(entry, swapped_network=False):
    """Counters and gauges from one entry of libpod ``GET /libpod/containers/stats`` ``Stats[]``.

    libpod reports no inactive_file, so no working set; ``MemUsage`` is the engine's own figure.
    Network: podman 5 sends a per-interface ``Network`` map (all rx/tx counters), podman 4 only the
    ``NetInput``/``NetOutput`` byte totals; ``swapped_network`` as in :func:`values_from_compat_stats`.
    """
    counters = {
        "cpu_usage_ns": int(entry.get("CPUNano") or 0),
        "blkio_read_bytes": int(entry.get("BlockInput") or 0),
        "blkio_write_bytes": int(entry.get("BlockOutput") or 0),
    }
    if entry.get("Network"):
        counters.update(_network_counters(entry["Network"].values(), _libpod_name, swapped_network))
    else:
        received, sent = entry.get("NetInput"), entry.get("NetOutput")
        if swapped_network:
            received, sent = sent, received
        counters["net_rx_bytes"] = int(received or 0)
        counters["net_tx_bytes"] = int(sent or 0)
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
    # The API nests attributes (labels included) in Actor; ``podman events --format json`` has them on top.
    attrs = actor.get("Attributes") or event.get("Attributes") or {}
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
