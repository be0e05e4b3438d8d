"""The services image, built by the real ``podman build -f services/Containerfile`` here.

The base is a debootstrapped trixie (``harness.services_image``); everything else is the Containerfile
as users run it, including ``apt-get`` from Debian's archive inside the build. Cached by content hash:
an unchanged tree costs a few container starts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from harness.images import LABEL, machine_podman_env, run_podman
from harness.services_image import (
    IMAGE,
    IMAGE_ROOT,
    REPO,
    build_services_image,
    context_files,
    image_size,
    inputs_hash,
)

pytestmark = [
    pytest.mark.podman,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("podman") or not shutil.which("runc"),
        reason="needs root, podman and runc on this machine",
    ),
]

PROBE = Path(__file__).with_name("probe.py")
SERVICES = sorted(p.parent.name for p in (REPO / "services").glob("*/__main__.py"))
PACKAGE = "ansible_collections.quadstats.stack.services"
UID = 10001


def podman(*args: str, stdin: str | None = None, check: bool = True, timeout: float = 120):
    proc = run_podman(["podman"], args, machine_podman_env(), input=stdin, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def run_in(image: str, *argv: str, stdin: str | None = None, check: bool = True):
    """Run ``argv`` in a throwaway container of ``image`` without network, as the image's own user."""
    name = f"qs-img-test-{uuid.uuid4().hex[:8]}"
    interactive = ["-i"] if stdin is not None else []
    return podman("run", "--rm", "--network=none", "--name", name, *interactive, image, *argv, stdin=stdin, check=check)


@pytest.fixture(scope="module")
def image() -> str:
    return build_services_image(IMAGE, REPO)


@pytest.fixture(scope="module")
def inspect(image: str) -> dict:
    return json.loads(podman("image", "inspect", image).stdout)[0]


@pytest.fixture(scope="module")
def probe(image: str) -> dict:
    return json.loads(run_in(image, "python3", "-", stdin=PROBE.read_text()).stdout)


def test_image_is_labelled_with_version_and_content(inspect: dict) -> None:
    labels = inspect["Config"]["Labels"]
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    assert labels["org.opencontainers.image.version"] == str(galaxy["version"])
    assert labels["org.opencontainers.image.licenses"] == galaxy["license"][0]
    assert labels["org.opencontainers.image.base.name"].startswith("localhost/qs-trixie-base:")
    assert labels[LABEL] == inputs_hash(
        REPO,
        labels["org.opencontainers.image.base.name"],
        {
            "BASE": labels["org.opencontainers.image.base.name"],
            "VERSION": str(galaxy["version"]),
        },
    )


def test_image_is_slim_and_its_size_is_reported(image: str, capsys: pytest.CaptureFixture[str]) -> None:
    """No apt lists or caches (empty lock files aside), and of the packages' documentation only the copyright files."""
    leftovers = run_in(
        image,
        "sh",
        "-c",
        "find /var/lib/apt/lists /var/cache/apt -type f ! -empty; find /usr/share/doc -type f ! -name copyright;"
        " find /usr/share/man /usr/share/info -type f",
    ).stdout.split()
    assert leftovers == []
    assert (
        "/usr/share/doc/python3-fastapi/copyright"
        in run_in(image, "ls", "/usr/share/doc/python3-fastapi/copyright").stdout
    )
    size = image_size(image)
    with capsys.disabled():
        print(f"\n[services image] {image}: {size} bytes ({size / 1e6:.1f} MB)")


def test_runs_as_the_non_root_user(image: str, inspect: dict) -> None:
    assert inspect["Config"]["User"] == f"{UID}:{UID}"
    ids = run_in(image, "sh", "-c", "id -u; id -g; id -un").stdout.split()
    assert ids == [str(UID), str(UID), "quadstats"]
    # the user can read the tree and cannot change it
    out = run_in(image, "sh", "-c", f"test -r {IMAGE_ROOT}/services/__init__.py && ! touch {IMAGE_ROOT}/x 2>/dev/null")
    assert out.returncode == 0


def test_environment_makes_the_tree_importable_with_no_entrypoint(inspect: dict) -> None:
    env = dict(item.split("=", 1) for item in inspect["Config"]["Env"])
    assert env["PYTHONPATH"] == "/opt/quadstats"
    assert not inspect["Config"].get("Entrypoint"), "the quadlet's Exec chooses the service; no entrypoint"


def test_every_collection_module_imports_from_debian_packages_only(probe: dict) -> None:
    assert probe["failed"] == {}, "\n".join(f"{name}:\n{tb}" for name, tb in probe["failed"].items())
    modules = set(probe["imported"])
    assert "ansible_collections.quadstats.stack.plugins.module_utils.errors" in modules
    assert {f"{PACKAGE}.{name}" for name in SERVICES} <= modules
    assert probe["python"][:2] == [3, 13]
    # every module loaded from a file is ours or shipped by a Debian package (dpkg's file lists)
    assert probe["unowned"] == []
    assert probe["origins"]["debian"] > 0 and probe["origins"]["ours"] >= len(modules)
    assert probe["ansible_found"] is False, "Ansible must not be in the image"


def test_pip_is_absent(image: str, probe: dict) -> None:
    assert probe["pip_found"] is False
    out = run_in(image, "sh", "-c", "command -v pip pip3 pip3.13; dpkg-query -W python3-pip", check=False)
    assert out.stdout.strip() == "", out.stdout
    assert "no packages found matching python3-pip" in out.stderr


def test_image_holds_exactly_the_copied_tree(image: str) -> None:
    """.containerignore and the COPY lines let in plugins/module_utils and services, nothing else."""
    listing = run_in(image, "sh", "-c", f"cd {IMAGE_ROOT} && find . -type f ! -path '*/__pycache__/*'").stdout
    in_image = sorted(line[2:] for line in listing.split())
    assert in_image == context_files(REPO)
    top = run_in(image, "ls", "-A", "/opt/quadstats/ansible_collections/quadstats/stack").stdout.split()
    assert sorted(top) == ["plugins", "services"]


@pytest.mark.skipif(not SERVICES, reason="no services/*/__main__.py in this tree")
@pytest.mark.parametrize("service", SERVICES)
def test_entry_point_help(image: str, service: str) -> None:
    out = run_in(image, "python3", "-m", f"{PACKAGE}.{service}", "--help", check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("usage:"), out.stdout


def test_builds_from_an_installed_collection(image: str, tmp_path: Path) -> None:
    """The tarball carries everything the build needs: build the image from the installed copy."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env |= {"HOME": str(tmp_path), "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections")}

    def galaxy(*args) -> None:
        argv = [Path(sys.executable).parent / "ansible-galaxy", "collection", *args]
        subprocess.run(argv, env=env, cwd=tmp_path, check=True, capture_output=True, timeout=300)

    galaxy("build", "--output-path", tmp_path / "dist", REPO)
    galaxy("install", "-p", tmp_path / "collections", next((tmp_path / "dist").glob("*.tar.gz")))
    installed = tmp_path / "collections" / "ansible_collections" / "quadstats" / "stack"
    ref = build_services_image("localhost/qs-img-services:installed", installed)
    labels = json.loads(podman("image", "inspect", ref).stdout)[0]["Config"]["Labels"]
    # same inputs as the checkout's build: the tarball lost nothing the image needs
    assert labels[LABEL] == json.loads(podman("image", "inspect", image).stdout)[0]["Config"]["Labels"][LABEL]
    out = run_in(ref, "python3", "-m", f"{PACKAGE}.{SERVICES[0]}", "--help") if SERVICES else None
    assert out is None or out.stdout.startswith("usage:")
