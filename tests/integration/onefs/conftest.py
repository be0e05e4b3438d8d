"""Fixtures: a OneFS simulator on 127.0.0.1 (ephemeral port, frozen clock) and client factories."""

from __future__ import annotations

import pytest

from ansible_collections.quadstats.stack.plugins.module_utils.onefs.papi_client import PapiClient
from harness.onefs_simulator.factory import simulator_factory
from harness.onefs_simulator.server import DEFAULT_CANARY

START = 1_700_000_000.0
# A canary: if this string shows up in any output, the password leaked.
CANARY_PASSWORD = DEFAULT_CANARY
USER = "statsreader"


@pytest.fixture
def sim_factory():
    with simulator_factory(seed=11, nodes=4, start_time=START, password=CANARY_PASSWORD, username=USER) as make:
        yield make


@pytest.fixture
def sim(sim_factory):
    return sim_factory()


@pytest.fixture
def client_factory():
    clients = []

    def make(sim, **kwargs):
        opts = {
            "username": USER,
            "password": CANARY_PASSWORD,
            "ca_path": sim.ca_path,
            "backoff": 0.01,
            "timeout": 5,
            "clock": sim.clock.now,
        }
        opts.update(kwargs)
        client = PapiClient("127.0.0.1", sim.port, **opts)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
