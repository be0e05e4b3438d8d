"""Make the backend scenario's three images exist in a rootless user's storage on a harness target.

    python load_images.py --name HOST --user USER --services REF --timescaledb REF --prometheus REF

- services: built from this checkout's services/Containerfile (tests/harness/services_image.py) and loaded;
- timescaledb: Debian trixie's postgresql-17 + postgresql-17-timescaledb (the packages tests/harness/timescaledb.py
  uses), imported from the cached debootstrap tar (tests/harness/debian_images.py). It stands in for the upstream
  timescale/timescaledb image: the role runs its own start script in either, so the image's entrypoint is unused;
- prometheus: Debian trixie's prometheus package (tests/harness/prometheus.py's packages) with /usr/bin/prometheus as
  entrypoint, like the upstream prom/prometheus image.

Each step is skipped when the user's image carries the same content hash ("already" on stderr). Prints a JSON line
with the references and the uid/gid of the postgres and prometheus users inside the two Debian images.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))

from harness import prometheus, timescaledb
from harness.debian_images import ensure_image, image_tarball
from harness.services_image import build_services_image, load_into_target
from harness.target_host import TargetHost


def passwd_ids(packages: tuple[str, ...], user: str) -> dict[str, int]:
    """uid and gid of ``user`` in the cached image tar of ``packages`` (as the image's /etc/passwd says)."""
    tar_path, _content = image_tarball(packages)
    with tarfile.open(tar_path) as archive:
        member = archive.extractfile("./etc/passwd")
        lines = member.read().decode().splitlines() if member else []
    for line in lines:
        fields = line.split(":")
        if fields[0] == user:
            return {"uid": int(fields[2]), "gid": int(fields[3])}
    raise LookupError(f"no user {user} in the image of {packages}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="target host name")
    parser.add_argument("--user", required=True, help="rootless user on the target (must exist)")
    parser.add_argument("--services", required=True)
    parser.add_argument("--timescaledb", required=True)
    parser.add_argument("--prometheus", required=True)
    args = parser.parse_args(argv)
    host = TargetHost(args.name)
    load_into_target(host, args.user, build_services_image(args.services))
    ensure_image(host, args.user, args.timescaledb, timescaledb.PACKAGES, cmd=("/bin/sh",))
    ensure_image(host, args.user, args.prometheus, prometheus.PACKAGES, cmd=(), entrypoint=("/usr/bin/prometheus",))
    print(
        json.dumps(
            {
                "postgres": passwd_ids(timescaledb.PACKAGES, "postgres"),
                "prometheus": passwd_ids(prometheus.PACKAGES, "prometheus"),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
