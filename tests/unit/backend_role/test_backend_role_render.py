"""The backend role's rendered settings, quadlets, scripts and rules, and its checks before anything changes.

One ``ansible-playbook`` run renders every case through the role's argument_specs, defaults, vars, ``validate``
tasks and Ansible's templating (``tests/unit/role_render``). The rendered settings are read by the backend's own
settings model, so the role can only write settings the service accepts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.quadstats.stack.services.backend.settings import Settings
from unit.role_render import assert_check_failed, render_role, rendered_case

CANARY = "qscanary-backend-role-render-5821"
PEM_CERT = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"
PEM_KEY = f"-----BEGIN PRIVATE KEY-----\n{CANARY}\n-----END PRIVATE KEY-----\n"
CREDS = "/var/lib/quadstats/quadstats"
SECRETS = "/run/credentials/backend"
TEMPLATES = {
    "backend.yml.j2": "backend.yml",
    "backend.container.j2": "backend.container",
    "backend-timescaledb.container.j2": "backend-timescaledb.container",
    "backend-prometheus.container.j2": "backend-prometheus.container",
    "quadlet.network.j2": "backend.network",
    "timescaledb.sh.j2": "timescaledb.sh",
    "prometheus.yml.j2": "prometheus.yml",
    "alert-rules.yml.j2": "alert-rules.yml",
}
RULE_DEFAULTS = yaml.safe_load((Path(__file__).parents[3] / "roles/backend/defaults/main.yml").read_text())[
    "backend_prometheus_rules"
]

CASES = {
    "defaults": {},
    "telegram_prometheus_everywhere": {
        "backend_telegram_enabled": True,
        "backend_telegram_token": CANARY,
        "backend_telegram_chat_id": -100123,
        "backend_telegram_ca_cert": PEM_CERT,
        "backend_oidc_client_secret": CANARY,
        "backend_prometheus": True,
        "backend_prometheus_publish_address": "0.0.0.0",
        "backend_publish_address": "192.0.2.7",
        "backend_network_subnet": "10.90.1.0/24",
        "backend_url": "https://backend.example.com:8443",
        "backend_alerts": {"disk_threshold_percent": 80},
        "backend_settings": {"retention": {"journal_days": 30}},
        "backend_timescaledb_settings": {"shared_buffers": "256MB"},
        "backend_prometheus_scrape_configs": [
            {"job_name": "exporters", "http_sd_configs": [{"url": "http://web1:9100/sd"}]}
        ],
        "backend_prometheus_extra_rule_groups": [{"name": "mine", "rules": [{"alert": "X", "expr": "vector(1)"}]}],
    },
    "user_certificate": {"backend_tls_cert": PEM_CERT, "backend_tls_key": PEM_KEY, "backend_tls_ca_cert": PEM_CERT},
    "web_oidc": {
        "backend_web": True,
        "backend_oidc_client_secret": CANARY,
        "backend_web_oidc": {
            "discovery_url": "https://id.example.com/.well-known/openid-configuration",
            "client_id": "quadstats",
            "allowed_emails": ["ops@example.com"],
        },
        "backend_web_oidc_ca_cert": PEM_CERT,
        "backend_url": "https://stats.example.org/",
    },
    "web_off": {"backend_web": False},
    # backend__generated_ca_pem: what tasks/tls.yml reads from the host (the generated CA's certificate).
    "relay_generated_ca": {
        "backend_prometheus": True,
        "backend__generated_ca_pem": PEM_CERT,
        "backend_url": "https://stats.example.org:8443",
    },
    "relay_user_ca": {
        "backend_prometheus": True,
        "backend_tls_cert": PEM_CERT,
        "backend_tls_key": PEM_KEY,
        "backend_tls_ca_cert": PEM_CERT,
    },
    "relay_off": {"backend_prometheus": True, "backend_prometheus_relay": False},
}

ERROR_CASES = {
    "cert_without_key": ({"backend_tls_cert": PEM_CERT}, ["backend_tls_cert and backend_tls_key go together"]),
    "key_not_pem": (
        {"backend_tls_cert": PEM_CERT, "backend_tls_key": CANARY},
        ["backend_tls_key: not PEM text"],
    ),
    "purge_while_present": ({"backend_purge_data": True}, ["backend_purge_data: true", "backend_state: absent"]),
    "telegram_without_token": (
        {"backend_telegram_enabled": True, "backend_telegram_chat_id": "1"},
        ["backend_telegram_enabled is true", "backend_telegram_token is empty"],
    ),
    "subnet_v6": ({"backend_network_subnet": "fd00::/64"}, ["backend_network_subnet is 'fd00::/64'"]),
    "subnet_too_small": ({"backend_network_subnet": "10.1.2.0/30"}, ["prefix of at most /28"]),
    "renew_longer_than_validity": (
        {"backend_tls_renew_days": 400},
        ["backend_tls_renew_days (400) must be at least 1 and less than backend_tls_validity_days (397)"],
    ),
    "same_ports": (
        {"backend_prometheus": True, "backend_prometheus_port": 8443},
        ["backend_port and backend_prometheus_port are both 8443"],
    ),
    "bad_host_name": ({"backend_ingest_hosts": ["web1", "*"]}, ["backend_ingest_hosts: * is not a host name"]),
    "settings_override_listener": (
        {"backend_settings": {"listen": {"port": 80}}},
        ["backend_settings.listen.port: the role sets these"],
    ),
    "password_two_lines": (
        {"backend_database_password": f"{CANARY}\nsecond"},
        ["backend_database_password: a secret must be one line"],
    ),
    "oidc_without_secret": (
        {"backend_web": True, "backend_web_oidc": {"client_id": "x"}},
        ["backend_web_oidc is set: also set backend_oidc_client_secret"],
    ),
    "bad_state": ({"backend_state": "gone"}, ["backend_state", "present, absent"]),
    "url_with_query": ({"backend_url": "https://x.example.org/?a=1"}, ["backend_url is 'https://x.example.org/?a=1'"]),
    "container_forget_zero": (
        {"backend_prometheus_rules": {**RULE_DEFAULTS, "container_forget_hours": 0}},
        ["backend_prometheus_rules.container_forget_hours is 0", "at least 1"],
    ),
    "oidc_secret_file_given": (
        {"backend_oidc_client_secret": CANARY, "backend_web_oidc": {"client_id": "x", "client_secret_file": "/x"}},
        ["backend_web_oidc.client_secret_file: the role sets it"],
    ),
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_role(
        "backend",
        {**CASES, **{name: case[0] for name, case in ERROR_CASES.items()}},
        TEMPLATES,
        ["backend__addresses", "backend__backend_credentials", "backend__url", "backend__san"],
        out=tmp_path_factory.mktemp("backend_role"),
        secret=CANARY,
    )


def files(rendered: Path, case: str) -> tuple[dict, dict]:
    names = list(TEMPLATES.values())
    *texts, derived = rendered_case(rendered, case, names)
    return dict(zip(names, texts, strict=True)), {
        key.removeprefix("backend__"): value for key, value in derived.items()
    }


def lines(text: str, key: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(key + "=")]


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_service_accepts_the_settings_and_no_secret_is_rendered(rendered: Path, case: str) -> None:
    texts, _derived = files(rendered, case)
    settings = Settings.model_validate(yaml.safe_load(texts["backend.yml"]))
    assert settings.listen.tls_cert_file is not None and str(settings.listen.tls_key_file).startswith(SECRETS)
    assert str(settings.database.password_file) == f"{SECRETS}/backend-database-password"
    for name, text in texts.items():
        assert CANARY not in text, f"{name} holds a secret"
        assert "Environment=" not in text and "Secret=" not in text, name


def test_defaults(rendered: Path) -> None:
    texts, derived = files(rendered, "defaults")
    backend = texts["backend.container"]
    assert derived["addresses"] == {"db": "10.89.64.10", "backend": "10.89.64.11", "prometheus": "10.89.64.12"}
    assert lines(backend, "PublishPort") == ["PublishPort=8443:8443"]
    assert lines(backend, "Notify") == ["Notify=healthy"] and lines(backend, "HealthCmd")
    assert "Wants=backend-timescaledb.service" in backend
    creds = ["backend-database-password", "backend-session-key", "backend-admin-password", "backend-tls-key"]
    assert lines(backend, "LoadCredential") == [f"LoadCredential={c}:{CREDS}/{c}" for c in creds]
    assert all(f"Volume=%d/{c}:{SECRETS}/{c}:ro" in backend for c in creds)
    db = texts["backend-timescaledb.container"]
    assert "UserNS=keep-id:uid=70,gid=70" in db and "Image=docker.io/timescale/timescaledb:2.19.3-pg17" in db
    assert lines(db, "LoadCredential") == [
        f"LoadCredential=backend-database-password:{CREDS}/backend-database-password"
    ]
    assert "Volume=backend-db.volume:/var/lib/postgresql/data" in db and not lines(db, "PublishPort")
    assert "NetworkName=quadstats-backend" in texts["backend.network"]
    script = texts["timescaledb.sh"]
    assert '--pwfile="$PASSWORD_FILE"' in script and "POSTGRES_PASSWORD" not in script
    settings = yaml.safe_load(texts["backend.yml"])
    assert settings["database"]["host"] == "10.89.64.10" and settings["telegram"]["enabled"] is False
    assert "token_file" not in settings["telegram"]


def test_telegram_prometheus_and_merged_settings(rendered: Path) -> None:
    texts, derived = files(rendered, "telegram_prometheus_everywhere")
    settings = yaml.safe_load(texts["backend.yml"])
    assert settings["telegram"]["token_file"] == f"{SECRETS}/backend-telegram-token"
    assert (
        settings["telegram"]["chat_id"] == "-100123"
        and settings["telegram"]["ca_file"] == "/etc/quadstats/telegram-ca.pem"
    )
    assert settings["retention"]["journal_days"] == 30 and settings["alerts"]["disk_threshold_percent"] == 80
    assert settings["database"]["host"] == "10.90.1.10"
    assert "oidc_client_secret" in derived["backend_credentials"]
    assert lines(texts["backend.container"], "PublishPort") == ["PublishPort=192.0.2.7:8443:8443"]
    prometheus = texts["backend-prometheus.container"]
    assert "--web.enable-remote-write-receiver" in prometheus and "PublishPort=9090:9090" in prometheus
    assert lines(prometheus, "LoadCredential") == [
        f"LoadCredential=backend-prometheus-token:{CREDS}/backend-prometheus-token",
        f"LoadCredential=backend-tls-key:{CREDS}/backend-tls-key",
    ]
    config = yaml.safe_load(texts["prometheus.yml"])
    manager = config["alerting"]["alertmanagers"][0]
    assert manager["static_configs"] == [{"targets": ["10.90.1.11:8443"]}] and manager["scheme"] == "https"
    assert manager["tls_config"]["server_name"] == "backend.example.com"
    assert manager["authorization"]["credentials_file"] == f"{SECRETS}/backend-prometheus-token"
    # the role's own job first (the backend's /metrics, the alertmanager's address and TLS), then the user's
    own, *users = config["scrape_configs"]
    assert own == {
        "job_name": "quadstats-backend", "scheme": "https", "tls_config": manager["tls_config"],
        "static_configs": [{"targets": ["10.90.1.11:8443"]}],
    }  # fmt: skip
    assert [job["job_name"] for job in users] == ["exporters"]
    rules = yaml.safe_load(texts["alert-rules.yml"])
    names = [rule["alert"] for group in rules["groups"] for rule in group["rules"]]
    assert names == [
        "QuadstatsHostDown", "QuadstatsTargetDown", "QuadstatsDiskFull", "QuadstatsContainerDown",
        "QuadstatsOneFSClusterUnhealthy", "QuadstatsOneFSNodeDown", "QuadstatsOneFSCapacity", "X",
    ]  # fmt: skip
    assert "-c shared_buffers=256MB" in texts["timescaledb.sh"]


def test_user_certificate(rendered: Path) -> None:
    _texts, derived = files(rendered, "user_certificate")
    assert derived["url"].startswith("https://user_certificate:8443")


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_bad_combinations_fail_naming_the_variable(rendered: Path, case: str) -> None:
    assert_check_failed(rendered, case, ERROR_CASES[case][1], secret=CANARY, not_rendered="backend.yml")


def test_web_login_settings_name_the_credentials(rendered: Path) -> None:
    texts, derived = files(rendered, "web_oidc")
    settings = yaml.safe_load(texts["backend.yml"])
    web = settings["web"]
    assert web["enabled"] is True and web["admin_username"] == "admin"
    assert web["session_key_file"] == f"{SECRETS}/backend-session-key"
    assert web["admin_password_file"] == f"{SECRETS}/backend-admin-password"
    assert web["oidc"]["client_secret_file"] == f"{SECRETS}/backend-oidc-client-secret"
    assert web["oidc"]["ca_file"] == "/etc/quadstats/oidc-ca.pem" and web["oidc"]["client_id"] == "quadstats"
    # public_url is top level (Telegram links and the OIDC redirect URI), without the trailing slash.
    assert settings["public_url"] == "https://stats.example.org" and "public_url" not in web
    assert "DNS:stats.example.org" in derived["san"]


def test_web_on_by_default_and_off_on_request(rendered: Path) -> None:
    defaults = yaml.safe_load(files(rendered, "defaults")[0]["backend.yml"])
    assert defaults["web"]["enabled"] is True and "oidc" not in defaults["web"]
    assert defaults["public_url"] == "https://defaults:8443"
    off = yaml.safe_load(files(rendered, "web_off")[0]["backend.yml"])
    assert "web" not in off and off["public_url"] == "https://defaults:8443".replace("defaults", "web_off")


def test_prometheus_relay_to_the_private_address_checked_against_the_url_host(rendered: Path) -> None:
    relay = yaml.safe_load(files(rendered, "telegram_prometheus_everywhere")[0]["backend.yml"])["prometheus_relay"]
    # No CA known at render time without tls.yml: the system's CAs (ca_file left out).
    assert relay == {"url": "https://10.90.1.12:9090/api/v1/write", "server_name": "backend.example.com"}
    generated = yaml.safe_load(files(rendered, "relay_generated_ca")[0]["backend.yml"])["prometheus_relay"]
    assert generated == {
        "url": "https://10.89.64.12:9090/api/v1/write",
        "server_name": "stats.example.org",
        "ca_file": "/etc/quadstats/prometheus-ca.pem",
    }
    user = yaml.safe_load(files(rendered, "relay_user_ca")[0]["backend.yml"])["prometheus_relay"]
    assert user["ca_file"] == "/etc/quadstats/prometheus-ca.pem" and user["server_name"] == "relay_user_ca"
    prometheus = files(rendered, "relay_generated_ca")[0]["backend-prometheus.container"]
    assert "--web.listen-address=:9090 " in prometheus and "PublishPort=127.0.0.1:9090:9090" in prometheus


@pytest.mark.parametrize("case", ["defaults", "relay_off"])
def test_no_prometheus_relay_without_prometheus_or_when_turned_off(rendered: Path, case: str) -> None:
    assert "prometheus_relay" not in yaml.safe_load(files(rendered, case)[0]["backend.yml"])
