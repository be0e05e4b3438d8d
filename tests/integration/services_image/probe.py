"""Run INSIDE the services image (``python3 -`` on stdin): import every module of the collection tree
and report, as JSON on stdout, what failed and where every loaded module came from.

Standard library only (the image's Python, no test dependencies).
"""

import importlib
import importlib.util
import json
import os
import sys
import traceback

ROOT = "/opt/quadstats"
TREES = ("ansible_collections/quadstats/stack/plugins/module_utils", "ansible_collections/quadstats/stack/services")


def module_names():
    for tree in TREES:
        for folder, dirs, files in os.walk(os.path.join(ROOT, tree)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if not name.endswith(".py"):
                    continue
                rel = os.path.relpath(os.path.join(folder, name), ROOT)[: -len(".py")]
                parts = rel.split(os.sep)
                if parts[-1] == "__init__":
                    parts.pop()
                if parts[-1] != "__main__":  # running it is what --help does; importing it would run main()
                    yield ".".join(parts)


def dpkg_owned():
    """Every path some installed Debian package ships (from dpkg's file lists)."""
    owned = set()
    info = "/var/lib/dpkg/info"
    for name in os.listdir(info):
        if name.endswith(".list"):
            with open(os.path.join(info, name), encoding="utf-8", errors="replace") as fh:
                owned.update(line.rstrip("\n") for line in fh)
    return owned


def main():
    imported, failed = [], {}
    for name in module_names():
        try:
            importlib.import_module(name)
            imported.append(name)
        except Exception:  # every failure is reported, not only the first
            failed[name] = traceback.format_exc(limit=3)
    owned = dpkg_owned()
    origins = {"ours": 0, "debian": 0, "builtin": 0}
    unowned = []
    for name, module in sorted(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if name == "__main__":  # this script, read from stdin
            continue
        if not path:
            origins["builtin"] += 1
            continue
        path = os.path.realpath(path)
        if path.startswith(ROOT + "/"):
            origins["ours"] += 1
        elif path in owned or path.replace("/usr/lib/", "/lib/", 1) in owned:
            origins["debian"] += 1
        else:
            unowned.append(f"{name}: {path}")
    print(
        json.dumps(
            {
                "imported": imported,
                "failed": failed,
                "origins": origins,
                "unowned": unowned,
                "ansible_found": importlib.util.find_spec("ansible") is not None,
                "pip_found": importlib.util.find_spec("pip") is not None,
                "sys_path": sys.path,
                "python": list(sys.version_info[:3]),
            }
        )
    )


main()
