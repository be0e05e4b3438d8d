"""Import the Grafana Alloy STAND-IN image for a rootless user on a harness target host.

    python tests/harness/alloy_standin --name HOST --user USER [--image localhost/qs-alloy-standin:test]

Prints the image reference; says "already imported" on stderr when nothing had to be done.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if not __package__:  # run as `python tests/harness/alloy_standin ...`: make `harness` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness.alloy_standin import STANDIN_IMAGE, ensure_standin_image
from harness.target_host import TargetHost


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="alloy_standin", description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="target host name")
    parser.add_argument("--user", required=True, help="rootless user on the target (must exist)")
    parser.add_argument("--image", default=STANDIN_IMAGE)
    args = parser.parse_args(argv)
    print(ensure_standin_image(TargetHost(args.name), args.user, args.image))
    return 0


if __name__ == "__main__":
    sys.exit(main())
