"""Print the pip version ansible-test pins for the venvs it bootstraps."""

import sys

from ansible_test._internal.python_requirements import get_venv_packages


class _Python:
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"


print(get_venv_packages(_Python())["pip"])
