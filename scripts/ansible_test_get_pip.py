"""Stand-in for ansible-test's downloaded get-pip script.

ansible-test bootstraps pip in each sanity venv with a get-pip script it downloads from a
host this machine cannot reach; it uses a cached copy when one exists. This copy does the
same job offline-friendly: ensurepip, then pip installs the pinned pip from the package
index, trusting the system CA bundle (ansible-test sets PIP_CONFIG_FILE=/dev/null, which
would drop the machine's pip.conf that names that bundle).
"""

import os
import subprocess
import sys

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# get-pip options that `pip install` does not take.
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def main():
    env = {k: v for k, v in os.environ.items() if k != "PIP_CONFIG_FILE"}
    args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], env=env, stdout=subprocess.DEVNULL)
    cert = ["--cert", CA_BUNDLE] if os.path.exists(CA_BUNDLE) else []
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", *cert, *args], env=env)


if __name__ == "__main__":
    main()
