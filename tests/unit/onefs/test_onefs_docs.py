"""Plugin documentation: ansible-doc renders it, and every EXAMPLES task uses documented options."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
BASE = "ansible_collections.quadstats.stack.plugins"
FRAGMENT = importlib.import_module(f"{BASE}.doc_fragments.onefs").ModuleDocFragment
PLUGINS = {
    "quadstats.stack.onefs_stats": f"{BASE}.modules.onefs_stats",
    "quadstats.stack.onefs_info": f"{BASE}.modules.onefs_info",
    "quadstats.stack.onefs_stat": f"{BASE}.lookup.onefs_stat",
}


def options_of(module_name):
    """Option names and aliases (own and from the fragment), and the parsed EXAMPLES."""
    mod = importlib.import_module(module_name)
    options = {**yaml.safe_load(FRAGMENT.DOCUMENTATION)["options"], **yaml.safe_load(mod.DOCUMENTATION)["options"]}
    names = set(options) | {alias for opt in options.values() for alias in opt.get("aliases", [])}
    return names, yaml.safe_load(mod.EXAMPLES)


@pytest.mark.parametrize("name", ["quadstats.stack.onefs_stats", "quadstats.stack.onefs_info"])
def test_module_examples_use_documented_options(name):
    options, examples = options_of(PLUGINS[name])
    used = [task[name] for task in examples if name in task]
    assert used
    for args in used:
        assert set(args) <= options, set(args) - options


def test_lookup_examples_parse_and_call_the_lookup():
    _options, examples = options_of(PLUGINS["quadstats.stack.onefs_stat"])
    text = json.dumps(examples)
    assert text.count("quadstats.stack.onefs_stat") >= 3


def test_fragment_follows_the_one_table_of_connection_options():
    from ansible_collections.quadstats.stack.plugins.module_utils.onefs.papi_client import (  # noqa: PLC0415
        CONNECTION_OPTIONS,
        MODULE_ENV_FALLBACK,
    )

    documented = yaml.safe_load(FRAGMENT.DOCUMENTATION)["options"]
    assert list(documented) == list(CONNECTION_OPTIONS)
    for name, option in CONNECTION_OPTIONS.items():
        doc = documented[name]
        assert doc["type"] == option["type"], name
        assert doc.get("default") == option.get("default"), name
        assert doc.get("required", False) == option.get("required", False), name
        assert doc.get("choices") == option.get("choices"), name
        assert doc.get("aliases") == option.get("aliases"), name
        text = " ".join(doc["description"]) if isinstance(doc["description"], list) else doc["description"]
        assert (f"E({option['env']})" in text) == (name in MODULE_ENV_FALLBACK), name
    sources = yaml.safe_load(FRAGMENT.PLUGIN)["options"]
    assert list(sources) == list(CONNECTION_OPTIONS)
    for name, option in CONNECTION_OPTIONS.items():
        assert sources[name] == {"env": [{"name": option["env"]}], "vars": [{"name": "onefs_" + name}]}


def test_argument_spec_is_the_table():
    from ansible.module_utils.basic import env_fallback  # noqa: PLC0415

    from ansible_collections.quadstats.stack.plugins.module_utils.onefs.ansible_params import (  # noqa: PLC0415
        connection_argument_spec,
    )
    from ansible_collections.quadstats.stack.plugins.module_utils.onefs.papi_client import (  # noqa: PLC0415
        CONNECTION_OPTIONS,
        PapiClient,
    )

    spec = connection_argument_spec(env_fallback)
    assert list(spec) == list(CONNECTION_OPTIONS)
    assert spec["password"]["no_log"] is True
    assert spec["host"]["aliases"] == ["onefs_host", "hostname"]
    assert spec["password"]["fallback"] == (env_fallback, ["ONEFS_PASSWORD"])
    assert "fallback" not in spec["port"]
    assert "fallback" not in connection_argument_spec()["password"]
    # the client's own defaults are the table's
    defaults = inspect.signature(PapiClient).parameters
    for name in ("port", "auth", "validate_certs", "timeout", "retries"):
        assert defaults[name].default == CONNECTION_OPTIONS[name]["default"] == spec[name]["default"], name


def test_ansible_doc_renders_all_three():
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".venv"), ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    bin_dir = Path(sys.executable).parent
    modules = subprocess.run(
        [str(bin_dir / "ansible-doc"), "-j", "quadstats.stack.onefs_stats", "quadstats.stack.onefs_info"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    lookup = subprocess.run(
        [str(bin_dir / "ansible-doc"), "-j", "-t", "lookup", "quadstats.stack.onefs_stat"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    docs = {**json.loads(modules.stdout), **json.loads(lookup.stdout)}
    for name in PLUGINS:
        assert docs[name]["doc"]["options"]["password"]["type"] == "str"
        assert docs[name]["doc"]["options"]["host"]["aliases"] == ["onefs_host", "hostname"]
        assert docs[name]["examples"].strip()
    # the lookup's variables and environment are merged into the shared option docs
    lookup_password = docs["quadstats.stack.onefs_stat"]["doc"]["options"]["password"]
    assert lookup_password["env"] == [{"name": "ONEFS_PASSWORD"}]
    assert lookup_password["vars"] == [{"name": "onefs_password"}]
    assert "Never logged" in " ".join(lookup_password["description"])
    assert "env" not in docs["quadstats.stack.onefs_stats"]["doc"]["options"]["password"]
