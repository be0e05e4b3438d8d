"""The Grafana Alloy STAND-IN image for tests (``localhost/qs-alloy-standin:test``); see ``standin.py``.

``ensure_standin_image(host, user)`` imports a Debian trixie image (``harness.debian_images``: python3 and the
Debian packages the stand-in speaks the wire formats with) with ``standin.py`` as ``/usr/bin/alloy`` (run by
python3), the backend's protobuf definitions (``services/backend/ingest/proto.py``, unchanged) as
``quadstats_backend_proto`` and Alloy's default command, so the role's quadlet runs it exactly as it would
run ``docker.io/grafana/alloy``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.debian_images import ensure_image

if TYPE_CHECKING:
    from harness.target_host import TargetHost

STANDIN_IMAGE = "localhost/qs-alloy-standin:test"
PROGRAM = Path(__file__).resolve().parent / "standin.py"
WIRE_PROTO = Path(__file__).resolve().parents[3] / "services" / "backend" / "ingest" / "proto.py"
# Debian trixie packages only: protobuf + snappy bodies, the journal reader, the text-format parser, and the system
# CAs a destination without tls_config.ca_file is verified against (as in Alloy's image).
PACKAGES = (
    "python3",
    "python3-protobuf",
    "python3-snappy",
    "python3-systemd",
    "python3-prometheus-client",
    "ca-certificates",
)
# Alloy's image runs /bin/alloy; the stand-in is a Python file (no shebang), so python3 runs it.
ENTRYPOINT = ("/usr/bin/python3", "/usr/bin/alloy")
CMD = ("run", "/etc/alloy/config.alloy", "--storage.path=/var/lib/alloy/data")


def ensure_standin_image(host: TargetHost, user: str, image: str = STANDIN_IMAGE) -> str:
    """Import the stand-in image for ``user`` on ``host`` (skipped when the same content is there)."""
    return ensure_image(
        host,
        user,
        image,
        PACKAGES,
        CMD,
        files={
            "usr/bin/alloy": PROGRAM.read_bytes(),
            "usr/lib/python3/dist-packages/quadstats_backend_proto.py": WIRE_PROTO.read_bytes(),
        },
        entrypoint=ENTRYPOINT,
    )
