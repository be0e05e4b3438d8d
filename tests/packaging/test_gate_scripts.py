"""The gate plumbing reports failures: a failing command must fail its gate."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bash(script):
    return subprocess.run(
        ["bash", "-c", f"source {ROOT}/scripts/lib.sh; {script}"], capture_output=True, text=True, check=False
    )


def test_qs_timed_returns_the_commands_exit_status():
    # lib.sh sets errexit: the failing timed command ends the script with its own status.
    result = run_bash('qs_timed probe sh -c "exit 3"; echo "not reached"')
    assert result.returncode == 3
    assert "[probe:" in result.stdout
    assert "not reached" not in result.stdout


def test_qs_timed_in_a_condition_sees_failure():
    result = run_bash("if qs_timed probe false; then echo passed; else echo failed; fi")
    assert result.stdout.strip().endswith("failed")
