"""Verify the role quadstats.stack.backend on a real Debian 13 host (molecule scenario ``backend``).

Runs in file order: the deployment as converged, HTTPS with and without the role's CA, ingest with a generated
token, Prometheus's rules and its alerts reaching the backend, every secret absent where it must not be, the web
login with the generated admin password, a converge at -vvv (the idempotence check) and a check run changing
nothing, a reboot, a backup taken, ``state: absent`` keeping the database volume, a purge removing it, the backup
restored into a fresh deployment, and a last purge removing the images.
"""

from __future__ import annotations

import hashlib
import http.cookiejar
import json
import re
import socket
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "tests"))

from harness.molecule_checks import RootlessService, canary, playbook, reboot, wait_for

USER = "quadstats"
BACKEND = RootlessService(USER, "backend.service", "backend")
DB = RootlessService(USER, "backend-timescaledb.service", "backend-timescaledb")
PROMETHEUS = RootlessService(USER, "backend-prometheus.service", "backend-prometheus")
SERVICES = (BACKEND, DB, PROMETHEUS)
CREDENTIALS = "/var/lib/quadstats/quadstats"
CA_FILE = f"{CREDENTIALS}/backend-ca/ca.pem"
TOKENS = f"{CREDENTIALS}/backend-ingest-tokens"
VOLUME = "quadstats-backend-db"
DB_SCRIPT = "/bin/sh /etc/quadstats-db/timescaledb.sh"


@pytest.fixture(scope="module")
def address(host) -> str:
    return _address(host)


def _address(host) -> str:
    out = host.run("ip -4 -o addr show dev host0").stdout.split()
    return out[out.index("inet") + 1].split("/")[0]


def ca_context(host) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=host.file(CA_FILE).content_string)


def get(url: str, context: ssl.SSLContext | None, token: str | None = None, body: bytes | None = None):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    method = "POST" if body is not None else "GET"
    request = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310 - https only
    try:
        with urllib.request.urlopen(request, context=context, timeout=15) as answer:  # noqa: S310
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def token(host, name: str) -> str:
    return host.file(f"{TOKENS}/{name}").content_string.strip()


def psql(host, sql: str) -> str:
    result = DB.run(host, f'podman exec {DB.container} {DB_SCRIPT} psql -At -c "{sql}"')
    assert result.rc == 0, result.stderr
    return result.stdout.strip()


def healthy(host, address) -> bool:
    try:
        return get(f"https://{address}:8443/healthz", ca_context(host))[0] == 200
    except OSError:
        return False


def secrets(host) -> dict[str, str]:
    """Every secret of the deployment: the canaries the scenario gave, and what the role generated."""
    base = canary()
    found = {name: f"{base}-{name}" for name in ("database", "telegram", "session", "oidc")}
    found["admin password"] = host.file(f"{CREDENTIALS}/backend-admin-password").content_string.strip()
    found["TLS key"] = host.file(f"{CREDENTIALS}/backend-tls-key").content_string.strip().splitlines()[1]
    found["Prometheus token"] = host.file(f"{CREDENTIALS}/backend-prometheus-token").content_string.strip()
    for name in ("web1", "web2"):
        found[f"token {name}"] = token(host, name)
    return found


def test_units_active(host):
    for service in SERVICES:
        assert service.state(host) == "active", service.unit


def test_files_and_modes(host):
    for name in ("backend-database-password", "backend-admin-password", "backend-tls-key", "backend-session-key"):
        f = host.file(f"{CREDENTIALS}/{name}")
        assert f.mode == 0o600 and f.user == USER, name
    assert host.file(f"{CREDENTIALS}/backend-ca/ca.key").mode == 0o600
    assert host.file(f"{CREDENTIALS}/backend-ca").user == "root"
    assert host.file(f"{TOKENS}/web1").mode == 0o600
    quadlets = "/home/quadstats/.config/containers/systemd"
    assert host.file(f"{quadlets}/quadstats-backend.network").exists
    assert "Notify=healthy" in host.file(f"{quadlets}/backend.container").content_string


def test_https_healthz_with_the_role_ca(host, address):
    status, body = get(f"https://{address}:8443/healthz", ca_context(host))
    assert status == 200, body


def test_client_without_the_ca_is_refused(host, address):
    with pytest.raises(urllib.error.URLError) as refused:
        get(f"https://{address}:8443/healthz", ssl.create_default_context())
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)


def test_no_clear_text_listener(address):
    """The port speaks TLS only: a plain HTTP request gets no HTTP answer."""
    with socket.create_connection((address, 8443), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(10)
        try:
            answer = sock.recv(100)
        except (TimeoutError, ConnectionResetError):
            answer = b""
    assert not answer.startswith(b"HTTP/1.1 200")


def test_ingest_with_a_generated_token(host, address):
    body = json.dumps({"host": "web1", "name": "/srv", "type": "disk", "value": "42"}).encode()
    url = f"https://{address}:8443/metric"
    status, answer = get(url, ca_context(host), token(host, "web1"), body)
    assert status == 200, answer
    assert get(url, ca_context(host), "not-a-token-" + canary()[-6:], body)[0] == 401
    # web2's token may not report for web1.
    assert get(url, ca_context(host), token(host, "web2"), body)[0] == 403
    assert psql(host, "SELECT value FROM metrics WHERE host = 'web1' AND name = '/srv'") == "42"


def test_database_keeps_only_hashes(host):
    hashes = psql(host, "SELECT encode(token_sha256, 'hex') FROM ingest_tokens").split()
    for name, value in secrets(host).items():
        if name.startswith("token"):
            assert value not in hashes
    assert len(hashes) == 3  # web1, web2, Prometheus's (*)


def test_prometheus_rules_and_alerts_reach_the_backend(host):
    ctx = ca_context(host)
    address = _address(host)
    with pytest.raises(urllib.error.URLError):
        get(f"https://{address}:9090/-/ready", ctx)  # published on 127.0.0.1 only
    answer = host.run(
        "python3 -c \"import ssl,urllib.request;print(urllib.request.urlopen('https://127.0.0.1:9090/api/v1/rules',"
        f"context=ssl.create_default_context(cafile='{CA_FILE}')).read().decode())\""
    )
    assert answer.rc == 0, answer.stderr
    names = {rule["name"] for group in json.loads(answer.stdout)["data"]["groups"] for rule in group["rules"]}
    assert {"QuadstatsHostDown", "QuadstatsDiskFull", "QuadstatsContainerDown", "QuadstatsOneFSClusterUnhealthy",
            "QuadstatsOneFSNodeDown", "QuadstatsOneFSCapacity"} <= names  # fmt: skip
    query = "SELECT count(*) FROM external_alerts WHERE labels->>'alertname' = 'QuadstatsMoleculeAlwaysFiring'"
    fired = wait_for(
        lambda: psql(host, query) not in ("", "0"),
        timeout=120,
        interval=3,
    )
    assert fired, PROMETHEUS.run(host, f"podman logs --tail 30 {PROMETHEUS.container}").stderr


def places(host) -> dict[str, str]:
    """What must not hold a secret (RootlessService.assert_no_secret's places, for all three units), read once."""
    found = {"process command lines": host.run("ps -eo args").stdout}
    for service in SERVICES:
        for command in (
            f"podman inspect {service.container}",
            f"systemctl --user show {service.unit}",
            f"podman exec {service.container} env",
        ):
            found[command] = service.run(host, command).stdout
    return found


def test_no_secret_leaks(host):
    read = places(host)
    for place, text in read.items():
        assert text, f"{place}: nothing read, the check would prove nothing"
    # The journal holds binary fields testinfra cannot decode as text: searched on the host.
    assert host.run("journalctl --no-pager -o export | wc -c").stdout.strip() not in ("", "0")
    for name, secret in secrets(host).items():
        for place, text in read.items():
            assert secret not in text, f"{name} leaked into {place}"
        journal = host.run(f"journalctl --no-pager -o export | grep -c -a -F -e {secret}").stdout.strip()
        assert journal == "0", f"{name} leaked into the journal ({journal} entries)"
        environ = host.run(f"grep -l -F -e {secret} /proc/[0-9]*/environ").stdout
        assert environ == "", f"{name} is in process environments: {environ}"


def test_web_login_with_the_first_admin_password(host, address):
    """backend_web (default): the login page over HTTPS, the generated first password logs the admin in."""
    base = f"https://{address}:8443"
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=ca_context(host)), urllib.request.HTTPCookieProcessor(jar)
    )
    with opener.open(f"{base}/login", timeout=15) as page:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.read().decode()).group(1)
    password = host.file(f"{CREDENTIALS}/backend-admin-password").content_string.strip()
    form = urllib.parse.urlencode({"username": "admin", "password": password, "csrf_token": csrf}).encode()
    login = urllib.request.Request(f"{base}/login", data=form, method="POST")  # noqa: S310 - https only
    with opener.open(login, timeout=15) as answer:
        # Redirected to / after the login, which shows the page of a logged-in user.
        assert answer.status == 200 and urllib.parse.urlsplit(answer.url).path == "/", answer.url
    assert any(cookie.secure for cookie in jar), "session cookie not Secure on HTTPS"
    settings = host.file("/home/quadstats/.config/quadstats-backend/backend.yml").content_string
    assert "public_url: https://" in settings


def test_converge_again_vvv_changes_nothing_and_shows_no_secret(host):
    """The scenario's idempotence check (molecule's own step is left out: this run is the second converge)."""
    pids = {s.unit: s.main_pid(host) for s in SERVICES}
    output = playbook("converge.yml", "-vvv")
    assert " changed=0 " in output.split("PLAY RECAP")[-1], output[-3000:]
    for name, secret in secrets(host).items():
        assert secret not in output, f"{name} in -vvv output"
    assert {s.unit: s.main_pid(host) for s in SERVICES} == pids


def test_check_mode_with_diff_changes_nothing(host):
    output = playbook("converge.yml", "--check", "--diff")
    assert " changed=0 " in output.split("PLAY RECAP")[-1], output[-3000:]
    for name, secret in secrets(host).items():
        assert secret not in output, f"{name} in --check --diff output"


def test_reboot_survival(host, address):
    reboot(host)
    for service in SERVICES:
        assert service.wait_active(host, timeout=300) == "active", service.unit
    assert wait_for(lambda: healthy(host, address), timeout=120, interval=2)
    assert psql(host, "SELECT value FROM metrics WHERE host = 'web1' AND name = '/srv'") == "42"


DUMP = "/var/tmp/quadstats-backend.dump"
# The test images cannot be pulled again: kept until the last purge. Passed as -e text on purpose (the role
# reads its booleans with | bool: "false" must not remove them).
KEEP_IMAGES = ("-e", "backend_remove_images=false")


def test_backup_taken(host):
    taken = BACKEND.run(host, f"sh -c 'podman exec {DB.container} {DB_SCRIPT} dump > {DUMP}'")
    assert taken.rc == 0, taken.stderr
    assert host.file(DUMP).size > 1000


def test_absent_keeps_the_volume(host):
    output = playbook("absent.yml", *KEEP_IMAGES)
    for service in SERVICES:
        assert service.state(host) in ("inactive", "unknown", "failed"), service.unit
    assert BACKEND.run(host, f"podman volume exists {VOLUME}").rc == 0
    assert not host.file("/home/quadstats/.config/containers/systemd/backend.container").exists
    assert host.file(f"{CREDENTIALS}/backend-database-password").exists
    assert " changed=0 " in playbook("absent.yml", *KEEP_IMAGES).split("PLAY RECAP")[-1], output[-2000:]


def test_purge_removes_the_volume_and_the_credentials(host):
    playbook("purge.yml", *KEEP_IMAGES)
    assert BACKEND.run(host, f"podman volume exists {VOLUME}").rc == 1
    assert not host.file(f"{CREDENTIALS}/backend-database-password").exists
    assert not host.file(f"{CREDENTIALS}/backend-ca").exists and not host.file(TOKENS).exists
    images = BACKEND.run(host, "podman images --format '{{.Repository}}:{{.Tag}}'").stdout
    assert "qs-services" in images and "qs-timescaledb" in images, images


def test_backup_restored_into_a_fresh_deployment(host, address):
    playbook("converge.yml")  # a fresh deployment: new database, new tokens
    assert psql(host, "SELECT count(*) FROM metrics") == "0"
    fresh_web1 = token(host, "web1")
    BACKEND.run(host, "systemctl --user stop backend.service")
    restored = BACKEND.run(host, f"sh -c 'podman exec -i {DB.container} {DB_SCRIPT} restore < {DUMP}'")
    assert restored.rc == 0, restored.stderr
    BACKEND.run(host, "systemctl --user start backend.service")
    assert BACKEND.wait_active(host, timeout=300) == "active"
    assert psql(host, "SELECT value FROM metrics WHERE host = 'web1' AND name = '/srv'") == "42"
    # The restored database knows the old tokens, not the fresh ones: a converge makes them again.
    hashes = psql(host, "SELECT encode(token_sha256, 'hex') FROM ingest_tokens").split()
    assert hashlib.sha256(fresh_web1.encode()).hexdigest() not in hashes
    playbook("converge.yml")
    hashes = psql(host, "SELECT encode(token_sha256, 'hex') FROM ingest_tokens").split()
    assert hashlib.sha256(token(host, "web1").encode()).hexdigest() in hashes
    body = json.dumps({"host": "web1", "name": "/data", "type": "disk", "value": "7"}).encode()
    assert get(f"https://{address}:8443/metric", ca_context(host), token(host, "web1"), body)[0] == 200


def test_purge_removes_the_images(host):
    playbook("purge.yml")
    for service in SERVICES:
        assert service.state(host) in ("inactive", "unknown", "failed"), service.unit
    images = BACKEND.run(host, "podman images --format '{{.Repository}}:{{.Tag}}'").stdout
    assert "qs-services" not in images and "qs-timescaledb" not in images, images
    assert BACKEND.run(host, f"podman volume exists {VOLUME}").rc == 1
