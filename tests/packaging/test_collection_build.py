"""The built tarball is a working collection: it installs, lists, documents and resolves by FQCN.

Every check here runs against a collection installed from the tarball into a temporary path,
with ANSIBLE_COLLECTIONS_PATH pointing only there, so the working tree cannot mask a packaging bug.
"""

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from harness.services_image import CONTAINERFILE, CONTAINERIGNORE, context_files

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
FQCN_PREFIX = f"{GALAXY['namespace']}.{GALAXY['name']}"


def plugin_names(kind):
    """Plugin names present in the working tree for one plugin kind (modules, lookup, filter)."""
    folder = ROOT / "plugins" / kind
    return sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__")


def role_names():
    return sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file())


def run(args, env, cwd=None):
    result = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        pytest.fail(f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Build the tarball from the working tree and install it into an isolated collections path."""
    base = tmp_path_factory.mktemp("packaging")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_COLLECTIONS_PATH"] = str(base / "collections")
    env["ANSIBLE_LOCAL_TEMP"] = str(base / "tmp")
    env["HOME"] = str(base / "home")
    run([VENV_BIN / "ansible-galaxy", "collection", "build", "--output-path", base / "dist", ROOT], env)
    tarballs = list((base / "dist").glob("*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    run([VENV_BIN / "ansible-galaxy", "collection", "install", tarballs[0], "-p", base / "collections"], env)
    return {"tarball": tarballs[0], "env": env, "installed": base / "collections" / "ansible_collections"}


def test_tarball_name_and_manifest(built):
    tarball = built["tarball"]
    assert tarball.name == f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"
    with tarfile.open(tarball) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == ("quadstats", "stack", "0.1.0")
    assert info["license"] == ["GPL-3.0-or-later"]


def test_tarball_ships_the_collection_and_nothing_of_the_workbench(built):
    with tarfile.open(built["tarball"]) as tar:
        names = tar.getnames()
    top = {n.split("/", 1)[0] for n in names}
    for required in ("meta", "plugins", "README.md", "COPYING", "docs", "changelogs"):
        assert required in top, f"{required} missing from the tarball"
    assert "meta/runtime.yml" in names
    for excluded in ("tests", ".venv", "scripts", "requirements", ".ci", ".git", "ansible.cfg", "pyproject.toml"):
        assert excluded not in top, f"{excluded} must be build_ignore'd"


def test_tarball_ships_the_services_image_build(built):
    """``podman build -f services/Containerfile .`` works from an installed collection: the Containerfile,
    its .containerignore and every file it copies are in the tarball."""
    with tarfile.open(built["tarball"]) as tar:
        names = set(tar.getnames())
    assert {CONTAINERFILE, CONTAINERIGNORE} <= names
    entry_points = {p.relative_to(ROOT).as_posix() for p in (ROOT / "services").glob("*/__main__.py")}
    assert entry_points, "no services/*/__main__.py in the working tree"
    assert entry_points <= names
    caches = sorted(n for n in names if {"__pycache__", ".ruff_cache", ".pytest_cache"} & set(n.split("/")))
    assert not caches, f"tool caches in the tarball: {caches}"
    missing = sorted(set(context_files(ROOT)) - names)
    assert not missing, f"files the image copies are missing from the tarball: {missing}"


def test_installed_collection_is_the_same_build_context(built):
    installed = built["installed"] / GALAXY["namespace"] / GALAXY["name"]
    assert context_files(installed) == context_files(ROOT)
    for rel in (CONTAINERFILE, CONTAINERIGNORE, *context_files(ROOT)):
        assert (installed / rel).read_bytes() == (ROOT / rel).read_bytes(), rel


def test_containerfile_labels_the_collection_version():
    """A plain ``podman build`` (no --build-arg VERSION) labels the image with galaxy.yml's version."""
    defaults = re.findall(r"^ARG VERSION=(\S+)$", (ROOT / CONTAINERFILE).read_text(), re.M)
    assert defaults == [str(GALAXY["version"])], "keep ARG VERSION in services/Containerfile = galaxy.yml version"


def test_installed_collection_is_listed(built):
    out = run([VENV_BIN / "ansible-galaxy", "collection", "list", FQCN_PREFIX, "--format", "json"], built["env"])
    listed = {name: data for paths in json.loads(out).values() for name, data in paths.items()}
    assert listed[FQCN_PREFIX]["version"] == GALAXY["version"]


def test_ansible_doc_lists_exactly_the_shipped_plugins(built):
    for kind, doc_type in (("modules", "module"), ("lookup", "lookup"), ("filter", "filter")):
        out = run([VENV_BIN / "ansible-doc", "-t", doc_type, "-l", FQCN_PREFIX, "--json"], built["env"])
        listed = sorted(name.rsplit(".", 1)[1] for name in json.loads(out))
        assert listed == plugin_names(kind), f"ansible-doc {doc_type} list differs from plugins/{kind}"
    out = run([VENV_BIN / "ansible-doc", "-t", "role", "-l", FQCN_PREFIX, "--json"], built["env"])
    listed_roles = sorted(name.rsplit(".", 1)[1] for name in json.loads(out))
    assert listed_roles == role_names()
    assert plugin_names("modules") + plugin_names("lookup") + role_names(), "the collection ships nothing usable"


@pytest.mark.parametrize(
    ("doc_type", "name"),
    [("module", m) for m in plugin_names("modules")]
    + [("lookup", lk) for lk in plugin_names("lookup")]
    + [("filter", f) for f in plugin_names("filter")]
    + [("role", r) for r in role_names()],
)
def test_every_plugin_documents_itself_from_the_tarball(built, doc_type, name):
    out = run([VENV_BIN / "ansible-doc", "-t", doc_type, f"{FQCN_PREFIX}.{name}", "--json"], built["env"])
    doc = json.loads(out)[f"{FQCN_PREFIX}.{name}"]
    if doc_type == "role":
        assert doc["entry_points"]["main"]["short_description"]
    else:
        assert doc["doc"]["short_description"]
        assert doc["examples"].strip(), f"{name} has no EXAMPLES"
        if doc_type == "module":
            assert doc["return"], f"{name} has no RETURN"


@pytest.mark.parametrize("module", plugin_names("modules"))
def test_modules_resolve_by_fqcn_and_run_from_the_tarball(built, module, tmp_path):
    """The installed module is found and executed (AnsiballZ packs its module_utils from the install)."""
    env = dict(built["env"], ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    result = subprocess.run(
        [
            VENV_BIN / "ansible",
            "localhost",
            "-m",
            f"{FQCN_PREFIX}.{module}",
            "-a",
            "",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    # The default callback prints "localhost | STATUS => {json}" for an ad-hoc task (after any error text).
    found = re.search(r"^localhost \| [A-Z!]+ => (\{.*\})\s*$", result.stdout, re.M | re.S)
    assert found, result.stdout + result.stderr
    task_result = json.loads(found.group(1))
    # Called without options a module runs, rejects its arguments or reports what it cannot reach: each
    # answer comes from the module's own code (and its module_utils) packed from the installed copy.
    # A resolution failure or a crash (import error in module_utils) looks different.
    assert "couldn't resolve" not in task_result.get("msg", ""), task_result
    assert "MODULE FAILURE" not in task_result.get("msg", ""), task_result
    assert "module_stdout" not in task_result and "exception" not in task_result, task_result
    # A module that needs no option (container_stats on a host with podman) simply succeeds.
    assert task_result.get("msg") or task_result.get("invocation") or "changed" in task_result, task_result
