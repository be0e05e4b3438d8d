"""Web login in the one services image: Debian trixie's Python 3.13, Authlib 1.6.0, argon2-cffi 21.1,
itsdangerous 2.2 and Jinja2 run it, not the dev venv. Local admin and OpenID Connect (the real test
provider on the machine, verified through a mounted CA file) in real headless Chromium."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

import pytest
import yaml

from harness.backend_service import wait_healthy
from harness.browser import login_local
from harness.oidc_provider import ALLOWED, REFUSED, login_through_provider
from harness.services_image import build_services_image
from harness.trixie_container import TrixieContainer

IMAGE_UID = 10001  # services/Containerfile's ARG UID
pytestmark = pytest.mark.slow


def image_secret(box, name, value, mode=0o600):
    """A file the image's user reads, in the container's directory: the path inside the container."""
    path = box.dir / name
    path.write_text(value + "\n")
    path.chmod(mode)
    os.chown(path, IMAGE_UID, IMAGE_UID)
    return path, f"/run/secrets/{name}"


@pytest.fixture(scope="module")
def image_backend(oidc_provider, make_web_backend):
    """The image's backend on the database of a (venv) web backend, which made the schema and files."""
    venv_backend = make_web_backend()
    venv_backend.daemon.stop()  # only its database and settings are used
    box = TrixieContainer(None, build_services_image(), "qs-backend-web-")
    try:
        mounts = []
        settings = {**venv_backend.settings, "listen": {"host": "127.0.0.1", "port": oidc_provider.backend_port}}
        files = {
            "db-password": Path(settings["database"]["password_file"]).read_text().strip(),
            "session-key": secrets.token_urlsafe(48),
            "admin-password": venv_backend.admin_password,
            "client-secret": oidc_provider.client_secret,
        }
        inside = {}
        for name, value in files.items():
            path, inside[name] = image_secret(box, name, value)
            mounts += ["-v", f"{path}:{inside[name]}:ro"]
        ca = box.dir / "idp-ca.pem"
        shutil.copy(oidc_provider.ca_file, ca)
        ca.chmod(0o644)
        mounts += ["-v", f"{ca}:/run/secrets/idp-ca.pem:ro"]
        settings["database"] = {**settings["database"], "password_file": inside["db-password"]}
        settings["web"] = {
            **settings["web"],
            "session_key_file": inside["session-key"],
            "admin_password_file": inside["admin-password"],
            "oidc": {
                **oidc_provider.web_settings([ALLOWED.email]),
                "client_secret_file": inside["client-secret"],
                "ca_file": "/run/secrets/idp-ca.pem",
            },
        }
        config = box.dir / "backend.yml"
        config.write_text(yaml.safe_dump(settings))
        config.chmod(0o644)
        box.dir.chmod(0o755)  # the image's user reads the mounted files
        mounts += ["-v", f"{config}:/etc/quadstats/backend.yml:ro"]
        module = "ansible_collections.quadstats.stack.services.backend"
        box.run(mounts, ["python3", "-m", module, "--config", "/etc/quadstats/backend.yml"])
        base = f"http://127.0.0.1:{oidc_provider.backend_port}"
        wait_healthy(base, timeout=90, alive=lambda: None if box.state() == "running" else box.logs())
        venv_backend.base_url = base
        yield box, venv_backend
    finally:
        box.stop()


def test_image_runs_trixie_versions(image_backend):
    box, _backend = image_backend
    script = (
        "import sys, authlib, argon2, jinja2; print(sys.version.split()[0], authlib.__version__, jinja2.__version__)"
    )
    versions = box.podman("exec", box.name, "python3", "-c", script).stdout.split()
    assert versions[0].startswith("3.13")
    assert versions[1] == "1.6.0"


def test_local_admin_in_the_image(idp_page, image_backend):
    _box, backend = image_backend
    login_local(idp_page, backend.base_url, backend.admin_username, backend.admin_password, "/account")
    assert idp_page.text_content("#account-name") == backend.admin_username
    with idp_page.expect_navigation():
        idp_page.click("#logout")
    assert backend.query("SELECT count(*) FROM web_sessions") == [(0,)]


def test_oidc_in_the_image(idp_page, image_backend):
    _box, backend = image_backend
    login_through_provider(idp_page, backend.base_url, ALLOWED)
    assert idp_page.text_content("#account-email") == ALLOWED.email
    login_through_provider(idp_page, backend.base_url, REFUSED)
    assert "is not allowed" in idp_page.text_content("#login-error")
    assert backend.query("SELECT email FROM web_sessions") == [(ALLOWED.email,)]
