"""Build the services image from this checkout's services/Containerfile and load it for a rootless user.

    python load_image.py --name HOST --user USER --image REF

Uses tests/harness/services_image.py (the real ``podman build``, a debootstrapped trixie base, no registry);
both steps are skipped when the image with the same content is already there. Prints the reference.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))

from harness.services_image import build_services_image, load_into_target
from harness.target_host import TargetHost


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="target host name")
    parser.add_argument("--user", required=True, help="rootless user on the target (must exist)")
    parser.add_argument("--image", required=True)
    args = parser.parse_args(argv)
    print(load_into_target(TargetHost(args.name), args.user, build_services_image(args.image)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
