# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report: one table of containers and one of OneFS clusters from gathered facts."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

CONTAINER_COLUMNS = (
    ("host", "host"),
    ("container", "container"),
    ("state", "state"),
    ("cpu_percent", "CPU %"),
    ("memory", "memory"),
    ("memory_limit", "limit"),
    ("restarts", "restarts"),
)
CLUSTER_COLUMNS = (
    ("cluster", "cluster"),
    ("health", "health"),
    ("capacity_used", "used %"),
    ("capacity", "used of total"),
    ("nodes_down", "nodes down"),
)
# cluster.health: 0 = Healthy, 1 = Attention, 2 = Down (the key's own metadata).
HEALTH_NAMES = {0: "ok", 1: "attention", 2: "down"}
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(value):
    """``67510272`` -> ``"64.4 MiB"``; ``None`` -> ``None``."""
    if value is None:
        return None
    size = float(value)
    for unit in _UNITS:
        if abs(size) < 1024 or unit == _UNITS[-1]:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return None  # not reached: the last unit returns


def _fact(hostvars, host, name):
    facts = hostvars.get(host) or {}
    value = (facts.get("ansible_facts") or {}).get(name)
    if value is None:
        value = facts.get(name)
    return value


def container_rows(hostvars, hosts):
    """One row per container of every host that has ``quadstats_containers`` facts."""
    rows = []
    for host in hosts:
        fact = _fact(hostvars, host, "quadstats_containers")
        if not isinstance(fact, Mapping):
            continue
        for item in fact.get("containers") or []:
            gauges = item.get("gauges") or {}
            rates = item.get("rates") or {}
            memory = gauges.get("memory_working_set_bytes", gauges.get("memory_usage_bytes"))
            limit = gauges.get("memory_limit_bytes")
            cpu = rates.get("cpu_percent")
            rows.append(
                {
                    "host": host,
                    "container": item.get("name") or item.get("id"),
                    "state": item.get("state"),
                    "cpu_percent": None if cpu is None else f"{cpu:.1f}",
                    "memory": human_bytes(memory),
                    "memory_limit": "unlimited"
                    if limit is None and "memory_limit_bytes" in gauges
                    else human_bytes(limit),
                    "restarts": gauges.get("restart_count"),
                    "raw": {"memory_bytes": memory, "memory_limit_bytes": limit, "cpu_percent": cpu},
                }
            )
    return rows


def _stat(stats, name):
    for sample in stats or []:
        if sample.get("name") == name and sample.get("field") is None and "node" not in (sample.get("labels") or {}):
            return sample.get("value")
    return None


def cluster_rows(hostvars, hosts):
    """One row per OneFS cluster found in the ``quadstats_onefs`` facts of ``hosts``."""
    rows = {}
    for host in hosts:
        fact = _fact(hostvars, host, "quadstats_onefs")
        if not isinstance(fact, Mapping):
            continue
        for name, reading in fact.items():
            stats = reading.get("stats")
            cluster = reading.get("cluster") or {}
            used, total = _stat(stats, "ifs.bytes.used"), _stat(stats, "ifs.bytes.total")
            health = _stat(stats, "cluster.health")
            down = list(cluster.get("nodes_down") or [])
            percent = 100.0 * used / total if used is not None and total else None
            rows[name] = {
                "cluster": name,
                "health": HEALTH_NAMES.get(health, None if health is None else f"code {health}"),
                "capacity_used": None if percent is None else f"{percent:.1f}",
                "capacity": None if used is None or total is None else f"{human_bytes(used)} of {human_bytes(total)}",
                "nodes_down": ", ".join(str(lnn) for lnn in down) if down else "none",
                "raw": {"used_bytes": used, "total_bytes": total, "health": health, "nodes_down": down},
            }
    return [rows[name] for name in sorted(rows)]


def _cell(value):
    return "-" if value is None else str(value)


def text_table(rows, columns):
    """Aligned plain text, a header line and a rule; ``(none)`` when there are no rows."""
    if not rows:
        return "(none)"
    head = [title for _key, title in columns]
    body = [[_cell(row.get(key)) for key, _title in columns] for row in rows]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]

    def fmt(cells):
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths))

    lines = [fmt(head), "  ".join("-" * w for w in widths)]
    lines.extend(fmt(line) for line in body)
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(rows, columns):
    if not rows:
        return "(none)"
    lines = ["| " + " | ".join(title for _key, title in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [_cell(row.get(key)).replace("|", "\\|") for key, _title in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def csv_table(rows, columns):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([key for key, _title in columns])
    for row in rows:
        writer.writerow(["" if row.get(key) is None else row.get(key) for key, _title in columns])
    return out.getvalue()


def fleet_report(hostvars, container_hosts=(), cluster_hosts=()):
    """Rows and their renderings (text, Markdown, CSV) for the given hosts' gathered facts."""
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError("fleet_report expects hostvars (a mapping of host name to variables) as its input")
    containers = container_rows(hostvars, list(container_hosts or ()))
    clusters = cluster_rows(hostvars, list(cluster_hosts or ()))
    sections = (("Containers", containers, CONTAINER_COLUMNS), ("OneFS clusters", clusters, CLUSTER_COLUMNS))
    return {
        "containers": containers,
        "clusters": clusters,
        "text": "\n\n".join(f"{title}\n{text_table(rows, cols)}" for title, rows, cols in sections),
        "markdown": "\n\n".join(f"## {title}\n\n{markdown_table(rows, cols)}" for title, rows, cols in sections) + "\n",
        "csv_containers": csv_table(containers, CONTAINER_COLUMNS),
        "csv_clusters": csv_table(clusters, CLUSTER_COLUMNS),
    }


class FilterModule:
    def filters(self):
        return {"fleet_report": fleet_report}
