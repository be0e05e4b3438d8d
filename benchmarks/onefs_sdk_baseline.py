"""Baseline for benchmarks/onefs_bench.py: the same cycle through Dell's isi_sdk_8_0.

The original Python connector (isi_data_insights_d) is built on isi_sdk_8_0 and is not on PyPI;
this stand-in does what its collection loop does per cycle: one StatisticsApi
get_statistics_current call with all keys comma-joined (devid=all, basic auth, TLS verified),
then turns each row's value (the SDK types it as a string) back into numbers and flattens it
with the collection's own decoder so both sides count the same values.

Run it with a Python that has isi_sdk_8_0 (kept out of the project's venv), for example:
  python3 -m venv /tmp/isi-sdk-venv && /tmp/isi-sdk-venv/bin/pip install isi_sdk_8_0==0.2.11
  /tmp/isi-sdk-venv/bin/python benchmarks/onefs_sdk_baseline.py --port PORT --ca-path CA
(benchmarks/onefs_bench.py --sdk-python /tmp/isi-sdk-venv/bin/python does this for you).
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / ".venv")]

import isi_sdk_8_0  # noqa: E402

from ansible_collections.quadstats.stack.plugins.module_utils.onefs.groups import GROUP_NAMES, expand  # noqa: E402
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.samples import decode_value  # noqa: E402


def number_or_structure(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return ast.literal_eval(text)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca-path", required=True)
    parser.add_argument("--username", default="statsreader")
    parser.add_argument("--password", default="sim-password")
    parser.add_argument("--cycles", type=int, default=50)
    args = parser.parse_args()
    conf = isi_sdk_8_0.Configuration()
    conf.host = f"https://127.0.0.1:{args.port}"
    conf.username = args.username
    conf.password = args.password
    conf.verify_ssl = True
    conf.ssl_ca_cert = args.ca_path
    api = isi_sdk_8_0.StatisticsApi(isi_sdk_8_0.ApiClient(conf))
    keys = ",".join(expand(groups=GROUP_NAMES))

    def cycle():
        result = api.get_statistics_current(keys=[keys], devid=["all"], degraded=True)
        count = 0
        for stat in result.stats:
            if stat.error_code or stat.value is None:
                continue
            labels = {"cluster": "sim", "node": str(stat.devid)}
            count += len(decode_value(number_or_structure(stat.value), labels))
        return count

    cycle()  # warm-up
    values = 0
    cpu0 = time.process_time()
    for _cycle in range(args.cycles):
        values += cycle()
    cpu = time.process_time() - cpu0
    print(json.dumps({"values": values, "cycles": args.cycles, "cpu_ms_per_1000": cpu * 1000 / (values / 1000)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
