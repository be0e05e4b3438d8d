"""Fixtures: OneFS simulators on real time, the exporter as a real subprocess, config files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from onefs_exporter_helpers import PASSWORD, USER, ExporterProcess

from harness.daemon import secret_file
from harness.onefs_simulator.factory import simulator_factory


@pytest.fixture
def sim_factory():
    with simulator_factory(seed=11, nodes=3, password=PASSWORD, username=USER) as make:
        yield make


@pytest.fixture
def password_file(tmp_path):
    return Path(secret_file(tmp_path / "onefs.password", PASSWORD))


@pytest.fixture
def exporter_factory(tmp_path):
    procs = []

    def make(config):
        path = tmp_path / f"exporter-{len(procs)}.yml"
        path.write_text(yaml.safe_dump(config))
        proc = ExporterProcess(path, tmp_path / f"exporter-{len(procs)}.log")
        procs.append(proc)
        return proc

    yield make
    for proc in procs:
        proc.stop()
