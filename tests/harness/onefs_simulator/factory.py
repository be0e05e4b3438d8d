"""A factory of started OneFS simulators that stops them all afterwards (the test fixtures' one source)."""

from __future__ import annotations

import contextlib

from .server import OneFSSimulator


@contextlib.contextmanager
def simulator_factory(**defaults):
    """Yields ``make(**options)``: a started :class:`OneFSSimulator` with ``defaults`` overridden by
    ``options``; every simulator it made is stopped on exit."""
    started = []

    def make(**options):
        sim = OneFSSimulator(**{**defaults, **options}).start()
        started.append(sim)
        return sim

    try:
        yield make
    finally:
        for sim in started:
            sim.stop()
