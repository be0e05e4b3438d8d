"""Print the pip version ansible-test pins for the venvs it bootstraps."""

from ansible_test._internal.python_requirements import get_venv_packages


class _Python:
    version = "{0}.{1}".format(*__import__("sys").version_info)


print(get_venv_packages(_Python())["pip"])
