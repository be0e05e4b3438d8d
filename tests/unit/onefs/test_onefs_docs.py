"""Plugin documentation: ansible-doc renders it, and every EXAMPLES task uses documented options."""

from __future__ import annotations

import importlib
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
    "quadstats.stack.onefs_stats": (f"{BASE}.modules.onefs_stats", FRAGMENT.DOCUMENTATION),
    "quadstats.stack.onefs_info": (f"{BASE}.modules.onefs_info", FRAGMENT.DOCUMENTATION),
    "quadstats.stack.onefs_stat": (f"{BASE}.lookup.onefs_stat", FRAGMENT.PLUGIN),
}


def options_of(module_name, fragment):
    mod = importlib.import_module(module_name)
    doc = yaml.safe_load(mod.DOCUMENTATION)
    return set(doc["options"]) | set(yaml.safe_load(fragment)["options"]), yaml.safe_load(mod.EXAMPLES)


@pytest.mark.parametrize("name", ["quadstats.stack.onefs_stats", "quadstats.stack.onefs_info"])
def test_module_examples_use_documented_options(name):
    options, examples = options_of(*PLUGINS[name])
    used = [task[name] for task in examples if name in task]
    assert used
    for args in used:
        assert set(args) <= options, set(args) - options


def test_lookup_examples_parse_and_call_the_lookup():
    _options, examples = options_of(*PLUGINS["quadstats.stack.onefs_stat"])
    text = json.dumps(examples)
    assert text.count("quadstats.stack.onefs_stat") >= 3


def test_fragment_matches_the_argument_spec():
    from ansible_collections.quadstats.stack.plugins.module_utils.onefs.ansible_params import (  # noqa: PLC0415
        CONNECTION_OPTIONS,
        connection_argument_spec,
    )

    documented = yaml.safe_load(FRAGMENT.DOCUMENTATION)["options"]
    spec = connection_argument_spec()
    assert set(documented) == set(spec) == set(CONNECTION_OPTIONS)
    for name, opt in documented.items():
        assert opt.get("default") == spec[name].get("default"), name
        assert opt["type"] == spec[name]["type"], name
    assert spec["password"]["no_log"] is True


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
        assert docs[name]["examples"].strip()
