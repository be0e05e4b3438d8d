"""The services image in a rootless user's podman on a booted Debian 13 target (podman 5.4).

Built here (``harness.services_image``), shipped with ``podman save`` / ``podman load`` as the user,
then run the way a quadlet runs it: read-only root, no network, the user's credential file mounted.
"""

from __future__ import annotations

import os
import shlex
import shutil

import pytest

from harness.images import LABEL
from harness.services_image import IMAGE, REPO, build_services_image, load_into_target
from harness.target_host import TargetHost

pytestmark = [
    pytest.mark.target,
    pytest.mark.podman,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="booting systemd-nspawn target hosts needs root"),
    pytest.mark.skipif(shutil.which("systemd-nspawn") is None, reason="systemd-container is not installed"),
    pytest.mark.skipif(not shutil.which("runc"), reason="rootful podman here needs runc"),
]

USER = "qsimg"
PACKAGE = "ansible_collections.quadstats.stack.services"
SERVICES = sorted(p.parent.name for p in (REPO / "services").glob("*/__main__.py"))
UID = 10001


@pytest.fixture(scope="module")
def target():
    host = TargetHost("qs-img-target")
    try:
        host.up()
        host.ssh(
            f"id {USER} >/dev/null 2>&1 || useradd -m -s /bin/bash {USER}; loginctl enable-linger {USER}; "
            f"for i in $(seq 50); do systemctl is-active -q user@$(id -u {USER}).service && exit 0; sleep 0.2; done;"
            " exit 1"
        )
        yield host
    finally:
        host.destroy()


@pytest.fixture(scope="module")
def loaded(target: TargetHost) -> str:
    return load_into_target(target, USER, build_services_image(IMAGE, REPO))


def as_user(target: TargetHost, cmd: str, check: bool = True):
    """Run the shell command ``cmd`` (all of it) as the rootless user, over SSH."""
    return target.ssh(f"{target.user_env(USER)} sh -c {shlex.quote(cmd)}", check=check)


def test_loaded_image_keeps_its_content_label_and_a_second_load_is_skipped(
    target: TargetHost, loaded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fmt = "{{index .Labels " + f'"{LABEL}"' + "}}"
    content = as_user(target, f"podman image inspect --format '{fmt}' {loaded}").stdout.strip()
    assert len(content) == 16
    image_id = as_user(target, f"podman image inspect --format '{{{{.Id}}}}' {loaded}").stdout
    capsys.readouterr()
    load_into_target(target, USER, loaded)
    assert "already loaded" in capsys.readouterr().err
    assert as_user(target, f"podman image inspect --format '{{{{.Id}}}}' {loaded}").stdout == image_id


@pytest.mark.parametrize("service", SERVICES)
def test_entry_point_runs_rootless_with_a_read_only_root(target: TargetHost, loaded: str, service: str) -> None:
    out = as_user(target, f"podman run --rm --read-only --network=none {loaded} python3 -m {PACKAGE}.{service} --help")
    assert out.stdout.startswith("usage:"), out.stdout + out.stderr


def test_image_user_reads_a_credential_of_the_service_user(target: TargetHost, loaded: str) -> None:
    """Rootless: the service user's files appear owned by container root, which the image's user (10001)
    cannot read; ``--userns=keep-id:uid=10001,gid=10001`` (quadlet ``UserNS=``) maps the service user
    onto it, so a 0600 credential file stays 0600 and is readable."""
    token = f"/home/{USER}/qs-img-token"
    as_user(target, f"printf canary > {token} && chmod 0600 {token}")
    mount = f"-v {token}:/run/secrets/token:ro"
    plain = as_user(target, f"podman run --rm --network=none {mount} {loaded} cat /run/secrets/token", check=False)
    assert plain.returncode != 0 and "Permission denied" in plain.stderr
    keep_id = f"--userns=keep-id:uid={UID},gid={UID}"
    out = as_user(
        target, f"podman run --rm --network=none {keep_id} {mount} {loaded} sh -c 'id -u; cat /run/secrets/token'"
    )
    assert out.stdout.split() == [str(UID), "canary"]
