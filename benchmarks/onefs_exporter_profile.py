"""Where the OneFS exporter's poll costs more than the floor: steps between a bare GET and the tick.

Same workload and simulator as ``onefs_exporter_bench.py`` (125 keys, 3 up nodes, one request per
cycle). Each step adds one thing to the one before, in alternating blocks of ``--cycles`` cycles,
CPU by ``time.process_time()`` per cycle (median of ``--blocks``):

- floor: keep-alive ``http.client`` GET (basic auth, verified TLS) + ``json.loads``, answer dropped;
- floor keeping the last answer: the same, each answer kept until the next one replaces it (what
  any exporter must do: serve the last values until new ones arrive);
- client: ``PapiClient.current`` (the core's HTTP client: read timeout, retries, status handling);
- client + row checks, kept: ``OneFSSampler.read_frames(keys, defer=True)``, its result kept until the
  next one (error codes, node map, value types, one block frame);
- tick: ``ClusterPoller.tick`` (the above, the store, the schedule).

``--from-memory`` also times, with ``PapiClient.current`` answering one stored answer (no HTTP, no
parse, nothing freed), the row checks (``RowDecoder`` on those rows), ``read_frames`` and the tick:
the bookkeeping alone. ``--cprofile`` adds a cProfile (CPU clock) of ``--cycles`` ticks, top functions by own time; a
deallocation shows under the function whose frame released the last reference.

Run from the repository root:  .venv/bin/python benchmarks/onefs_exporter_profile.py
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import http.client
import json
import os
import pstats
import ssl
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]

from onefs_bench import start_simulator  # noqa: E402
from onefs_exporter_bench import (  # noqa: E402
    SIM_PASSWORD,
    USER,
    password_file,
    query,
    simulator_keys,
    warm_pollers,
)


def main():  # noqa: PLR0915 - one linear measurement script
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=40)
    parser.add_argument("--blocks", type=int, default=9)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--from-memory", action="store_true")
    args = parser.parse_args()
    proc, port, ca_path = start_simulator(3, 7)
    tmp = tempfile.TemporaryDirectory(prefix="onefs-exporter-profile-")
    pw = password_file(tmp.name)
    try:
        keys = simulator_keys(port, ca_path, pw)
        clock, pollers = warm_pollers(port, ca_path, pw, keys, 2)
        ticking, reading = pollers
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ssl.create_default_context(cafile=ca_path))
        token = base64.b64encode(f"{USER}:{SIM_PASSWORD}".encode()).decode()
        headers = {"Accept": "application/json", "Authorization": "Basic " + token}
        targets = [t for t, _batch in query.plan_batches(keys)]
        kept = [None]

        def floor():
            for target in targets:
                conn.request("GET", target, headers=headers)
                json.loads(conn.getresponse().read())

        def floor_kept():
            for target in targets:
                conn.request("GET", target, headers=headers)
                kept[0] = json.loads(conn.getresponse().read())

        def client():
            reading.client.current(keys)

        def checked_kept():
            kept[0] = reading.sampler.read_frames(keys, defer=True)

        def tick():
            clock.now += 5.0
            ticking.tick()

        steps = {
            "floor (GET + json.loads)": floor,
            "floor keeping the last answer": floor_kept,
            "client (PapiClient.current)": client,
            "client + row checks, kept": checked_kept,
            "tick (+ store, schedule)": tick,
        }
        floor()
        cpu = {name: [] for name in steps}
        for _round in range(args.blocks):
            for name, step in steps.items():
                kept[0] = None
                cpu0 = time.process_time()
                for _cycle in range(args.cycles):
                    step()
                cpu[name].append((time.process_time() - cpu0) * 1000 / args.cycles)
        print(f"load average {os.getloadavg()[0]:.2f}; CPU per cycle, median of {args.blocks} blocks:")
        base = statistics.median(cpu["floor (GET + json.loads)"])
        for name, values in cpu.items():
            med = statistics.median(values)
            print(f"  {name:32} {med:.3f} ms = {med / base:.2f}x the floor (min {min(values):.3f})")
        if args.from_memory:
            rows, _rejected = reading.client.current(keys)
            sampler = ticking.sampler
            identity = sampler.identity()
            devid_lnn = sampler._identity_parts(identity)[0]
            ticking.client.current = lambda _keys, *_args, **_kwargs: (rows, [])
            memory_steps = {
                "row checks (RowDecoder, deferred)": lambda: sampler._decode(rows, sampler._units, identity, True),
                "read_frames(defer=True)": lambda: sampler.read_frames(keys, defer=True),
                "tick": tick,
            }
            print(f"answers from memory ({len(rows)} rows, devid map {devid_lnn}), best of 7 x 500:")
            for name, step in memory_steps.items():
                best = min(timeit.repeat(step, number=500, repeat=7, timer=time.process_time)) / 500
                print(f"  {name:34} {best * 1e6:.1f} us per cycle")
        if args.cprofile:
            prof = cProfile.Profile(time.process_time)
            prof.enable()
            for _cycle in range(args.cycles):
                tick()
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        conn.close()
        for poller in pollers:
            poller.client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
