# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors of the container statistics core: each has a ``kind`` from the shared taxonomy
(``module_utils/errors.py``) and a message naming what failed and how to fix it."""

from __future__ import annotations

from ansible_collections.quadstats.stack.plugins.module_utils.errors import (
    KIND_API,
    KIND_GONE,
    KIND_INVALID_OPTION,
    KIND_NOT_FOUND,
    KIND_PERMISSION,
    KIND_TIMEOUT,
    KIND_UNAVAILABLE,
    KIND_UNREACHABLE,
    QuadstatsError,
)


class ContainerError(QuadstatsError):
    """Base of every error the container core raises on purpose."""

    kind = KIND_API


class InvalidOption(ContainerError):
    """An option has a value the core cannot use; the message names the option and what it accepts."""

    kind = KIND_INVALID_OPTION

    def __init__(self, option, message):
        self.option = option
        super().__init__(f"{option}: {message}")


class EngineUnreachable(ContainerError):
    """No container engine answered: no API socket and (for podman) no ``podman`` command."""

    kind = KIND_UNREACHABLE

    def __init__(self, tried, systemd_unit=None):
        """``systemd_unit``: advice such as ``--user enable --now podman.socket``, given only where
        systemd runs (None otherwise)."""
        self.tried = list(tried)
        detail = "; ".join(f"{where} ({why})" for where, why in self.tried) or "no candidate"
        advice = "Pass the engine's API socket with the 'socket' option"
        if systemd_unit:
            advice += f" or start the engine's socket ('systemctl {systemd_unit}')"
        super().__init__(f"no container engine reachable; tried: {detail}. {advice}.")


class EngineTimeout(ContainerError):
    """The engine did not answer within the ``timeout`` option."""

    kind = KIND_TIMEOUT

    def __init__(self, where, timeout):
        super().__init__(f"{where} did not answer within {timeout:g} s; raise the 'timeout' option or check the engine")


class EnginePermissionDenied(ContainerError):
    """A socket exists but the current user may not connect to it."""

    kind = KIND_PERMISSION

    def __init__(self, socket_path, user, uid, tried=()):
        self.socket_path = socket_path
        self.user = user
        self.uid = uid
        self.tried = list(tried)
        super().__init__(
            f"permission denied on container engine socket {socket_path} for user {user} (uid {uid}); "
            "run as the user that owns the engine (become_user) or give that user access to the socket"
        )


class UnknownContainer(ContainerError):
    """One or more requested containers do not exist."""

    kind = KIND_NOT_FOUND

    def __init__(self, names):
        self.names = list(names)
        super().__init__("unknown container(s): {}".format(", ".join(self.names)))


class ContainerGone(ContainerError):
    """A container stopped or was removed while it was being sampled."""

    kind = KIND_GONE

    def __init__(self, ident, reason="container is gone"):
        self.ident = ident
        super().__init__(f"container {ident}: {reason}")


class EngineApiError(ContainerError):
    """The engine answered an API call with an error status."""

    kind = KIND_API

    def __init__(self, method, path, status, message):
        self.api_message = message
        super().__init__(f"{method} {path} answered {status}: {message}", status=status)


class StatsUnavailable(ContainerError):
    """The source exists but cannot give this container's statistics (e.g. rootless on cgroup v1)."""

    kind = KIND_UNAVAILABLE


class NotOwnCgroup(StatsUnavailable):
    """The container's process is not in a cgroup of its own; only the engine API can tell."""
