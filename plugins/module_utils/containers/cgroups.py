# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cgroup-direct reader (I/O): locate a container's cgroup from /proc/<pid>/cgroup and read it.

Works on cgroup v1, v2 and hybrid hosts (v1 controllers plus an empty unified mount), including
rootless podman under quadlets with ``--cgroups=split`` (``.../user@<uid>.service/app.slice/
<unit>.service/libpod-payload-<id>``): the path always comes from the container's PID, never from a
guess. Parsing and formulas live in :mod:`cgroup_parse`; this module only opens files.
"""

from __future__ import annotations

import errno
import os

from ansible_collections.quadstats.stack.plugins.module_utils.containers import cgroup_parse
from ansible_collections.quadstats.stack.plugins.module_utils.containers.errors import ContainerGone
from ansible_collections.quadstats.stack.plugins.module_utils.containers.formulas import statvfs_usage

METRIC_GROUPS = ("cpu", "memory", "network", "blkio", "pids")

# Files per metric group: (controller or "unified", file name). The first file of a group is its
# primary file: when it is missing and its directory is gone, the container is gone.
V1_FILES = {
    "cpu": (("cpuacct", "cpuacct.usage"), ("cpuacct", "cpuacct.stat"), ("cpu", "cpu.stat")),
    "memory": (
        ("memory", "memory.usage_in_bytes"),
        ("memory", "memory.stat"),
        ("memory", "memory.limit_in_bytes"),
        ("memory", "memory.oom_control"),
    ),
    "blkio": (
        ("blkio", "blkio.throttle.io_service_bytes_recursive"),
        ("blkio", "blkio.throttle.io_serviced_recursive"),
    ),
    "pids": (("pids", "pids.current"), ("pids", "pids.max")),
}
V2_FILES = {
    "cpu": ("cpu.stat",),
    "memory": ("memory.current", "memory.stat", "memory.max", "memory.events"),
    "blkio": ("io.stat",),
    "pids": ("pids.current", "pids.max"),
}


_READ_SIZE = 65536


def read_text(path):
    """Whole small file as text, or None when it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENODEV, errno.ESRCH):
            return None
        raise
    try:
        # cgroupfs and procfs files are small: one read returns all of a file shorter than the
        # buffer, so only a full buffer needs another read.
        data = os.read(fd, _READ_SIZE)
        if len(data) == _READ_SIZE:
            chunks = [data]
            while True:
                chunk = os.read(fd, _READ_SIZE)
                if not chunk:
                    break
                chunks.append(chunk)
            data = b"".join(chunks)
    except OSError as exc:
        # A cgroup being removed answers ENODEV; a vanished process ESRCH.
        if exc.errno in (errno.ENODEV, errno.ESRCH, errno.ENOENT):
            return None
        raise
    finally:
        os.close(fd)
    return data.decode("utf-8", "replace")


def _pread_all(fd):
    """The whole file behind an open ``fd``, read again from its start (cgroupfs and procfs seq files
    produce fresh contents at every read from offset 0)."""
    data = os.pread(fd, _READ_SIZE, 0)
    if len(data) == _READ_SIZE:
        chunks = [data]
        while True:
            chunk = os.pread(fd, _READ_SIZE, _READ_SIZE * len(chunks))
            if not chunk:
                break
            chunks.append(chunk)
        data = b"".join(chunks)
    return data


class CgroupReader:
    """Reads container statistics straight from cgroupfs and /proc.

    ``proc_root`` and ``fs_root`` let tests point the reader at a recorded tree; ``fs_root`` is
    prefixed to the cgroup mount points found in ``<proc_root>/self/mountinfo``.

    ``keep_open``: how many files a long-running reader keeps open between reads (0: open, read and
    close each file every time, as a one-shot module does). An open file is read again from offset
    0, which saves the open and close (most of a cgroup v1 read); a file whose cgroup or process
    went away (ENODEV, ESRCH, an empty read) is closed and opened afresh once, so a container
    restarted under the same cgroup path is followed. :meth:`release` closes a container's files.
    """

    def __init__(self, proc_root="/proc", fs_root="", mountinfo_text=None, clk_tck=None, keep_open=0):
        self.proc_root = proc_root.rstrip("/")
        self.fs_root = fs_root.rstrip("/")
        if mountinfo_text is None:
            mountinfo_text = read_text(self.proc_root + "/self/mountinfo") or ""
        self.mounts = cgroup_parse.parse_mountinfo(mountinfo_text)
        self.clk_tck = clk_tck or os.sysconf("SC_CLK_TCK")
        self.keep_open = keep_open
        self._fds = {}  # path -> open fd

    def open_files(self):
        return len(self._fds)

    def _read_file(self, path, owner):
        """:func:`read_text` through the open-file cache; ``owner`` (a list) collects the paths kept open."""
        fd = self._fds.get(path)
        if fd is not None:
            try:
                data = _pread_all(fd)
            except OSError:
                data = b""
            if data:
                return data.decode("utf-8", "replace")
            # Gone or replaced (a cgroup removed and made again): drop the fd, open the path afresh.
            del self._fds[path]
            os.close(fd)
        if len(self._fds) >= self.keep_open:
            return read_text(path)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENODEV, errno.ESRCH):
                return None
            raise
        try:
            data = _pread_all(fd)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.ENODEV, errno.ESRCH, errno.ENOENT):
                return None
            raise
        self._fds[path] = fd
        owner.append(path)
        return data.decode("utf-8", "replace")

    def release(self, location):
        """Close the files kept open for a container (its ``location`` from :meth:`locate`)."""
        for path in location.pop("open", ()):
            fd = self._fds.pop(path, None)
            if fd is not None:
                os.close(fd)

    def close(self):
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def available(self):
        """Whether this host exposes any cgroup mount at all."""
        return bool(self.mounts["v1"] or self.mounts["v2"])

    def locate(self, pid):
        """The container's cgroup directories from its PID.

        Returns {"version": 1, "dirs": {controller: dir}, "path": cgroup path} or
        {"version": 2, "dirs": {"unified": dir}, "path": cgroup path}. Raises ContainerGone when the
        PID no longer exists.
        """
        text = read_text(f"{self.proc_root}/{pid}/cgroup")
        if text is None:
            raise ContainerGone(f"pid {pid}", f"process {pid} no longer exists")
        parsed = cgroup_parse.parse_proc_cgroup(text)
        dirs = {}
        for controller in cgroup_parse.V1_CONTROLLERS:
            if controller in parsed["v1"] and controller in self.mounts["v1"]:
                dirs[controller] = self.fs_root + cgroup_parse.join_cgroup(
                    self.mounts["v1"][controller], parsed["v1"][controller]
                )
        if dirs:
            path = parsed["v1"].get("memory") or parsed["v1"].get("cpuacct") or next(iter(parsed["v1"].values()))
            return {"version": 1, "dirs": dirs, "path": path}
        if parsed["v2"] is not None and self.mounts["v2"] is not None:
            unified = self.fs_root + cgroup_parse.join_cgroup(self.mounts["v2"], parsed["v2"])
            return {"version": 2, "dirs": {"unified": unified}, "path": parsed["v2"]}
        raise ContainerGone(f"pid {pid}", f"no readable cgroup for process {pid}")

    def _plan(self, location, metrics):
        """``(file name, path)`` of every file to read and ``(file name, directory)`` of each group's
        primary file; kept in ``location`` (it does not change while the container runs)."""
        key = ("plan", tuple(metrics))
        plan = location.get(key)
        if plan is not None:
            return plan
        paths = []
        primaries = []
        if location["version"] == 1:
            for group in metrics:
                for index, (controller, name) in enumerate(V1_FILES.get(group, ())):
                    directory = location["dirs"].get(controller)
                    if directory is None:
                        continue
                    paths.append((name, directory + "/" + name))
                    if index == 0:
                        primaries.append((name, directory))
        else:
            directory = location["dirs"]["unified"]
            for group in metrics:
                for index, name in enumerate(V2_FILES.get(group, ())):
                    paths.append((name, directory + "/" + name))
                    if index == 0:
                        primaries.append((name, directory))
        plan = location[key] = (tuple(paths), tuple(primaries))
        return plan

    def _read_all(self, location, named_paths):
        """``{name: text or None}`` of ``(name, path)`` pairs; open files read again in place."""
        files = {}
        if not self.keep_open:
            for name, path in named_paths:
                files[name] = read_text(path)
            return files
        fds = self._fds
        owner = location.setdefault("open", [])
        for name, path in named_paths:
            fd = fds.get(path)
            if fd is not None:  # the common case, inline: one pread
                try:
                    data = os.pread(fd, _READ_SIZE, 0)
                except OSError:
                    data = b""
                if data and len(data) < _READ_SIZE:
                    files[name] = data.decode("utf-8", "replace")
                    continue
            files[name] = self._read_file(path, owner)
        return files

    def _files(self, location, metrics):
        paths, primaries = self._plan(location, metrics)
        files = self._read_all(location, paths)
        for name, directory in primaries:
            if files.get(name) is None and not os.path.isdir(directory):
                raise ContainerGone(directory, f"cgroup {directory} was removed")
        return files

    def read(self, pid, metrics=METRIC_GROUPS, location=None):
        """Counters and gauges of the container whose init process is ``pid``.

        Returns (counters, gauges, location). Raises ContainerGone when the process or its cgroup
        disappeared.
        """
        if location is None:
            location = self.locate(pid)
        files = self._files(location, metrics)
        if location["version"] == 1:
            counters, gauges = cgroup_parse.v1_values(files, self.clk_tck)
        else:
            counters, gauges = cgroup_parse.v2_values(files)
        if "network" in metrics:
            text = self._read_all(location, (("net/dev", f"{self.proc_root}/{pid}/net/dev"),))["net/dev"]
            if text is None:
                raise ContainerGone(f"pid {pid}", f"process {pid} no longer exists")
            counters.update(cgroup_parse.parse_net_dev(text))
        return counters, gauges, location

    def disk_usage(self, pid, mounts):
        """statvfs of paths as the container sees them (through /proc/<pid>/root).

        Returns {path: {used_bytes, limit_bytes, free_bytes, reserved_bytes}} or {path: {"error": ...}}.
        """
        out = {}
        for mount in mounts or ():
            target = self.proc_root + "/" + str(pid) + "/root/" + mount.lstrip("/")
            try:
                st = os.statvfs(target)
            except OSError as exc:
                out[mount] = {"error": f"{mount}: {exc.strerror or exc}"}
                continue
            out[mount] = statvfs_usage(st.f_blocks, st.f_bavail, st.f_bfree, st.f_frsize)
        return out
