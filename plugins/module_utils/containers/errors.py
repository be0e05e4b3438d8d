# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors of the container statistics core; every message names what failed and how to fix it."""

from __future__ import annotations


class ContainerStatsError(Exception):
    """Base class of every error this core raises on purpose."""


class EngineUnreachable(ContainerStatsError):
    """No container engine answered on any candidate socket."""

    def __init__(self, tried):
        self.tried = list(tried)
        detail = "; ".join(f"{where} ({why})" for where, why in self.tried) or "no candidate"
        super().__init__(
            f"no container engine reachable; sockets tried: {detail}. Start the engine's API socket "
            "(e.g. 'systemctl --user enable --now podman.socket') or pass the socket explicitly."
        )


class EnginePermissionDenied(ContainerStatsError):
    """A socket exists but the current user may not connect to it."""

    def __init__(self, socket_path, user, uid, tried=()):
        self.socket_path = socket_path
        self.user = user
        self.uid = uid
        self.tried = list(tried)
        super().__init__(
            f"permission denied on container engine socket {socket_path} for user {user} (uid {uid}); "
            "run as the user that owns the engine (become_user) or give that user access to the socket"
        )


class UnknownContainer(ContainerStatsError):
    """One or more requested containers do not exist."""

    def __init__(self, names):
        self.names = list(names)
        super().__init__("unknown container(s): {}".format(", ".join(self.names)))


class ContainerGone(ContainerStatsError):
    """A container stopped or was removed while it was being sampled."""

    def __init__(self, ident, reason="container is gone"):
        self.ident = ident
        super().__init__(f"container {ident}: {reason}")


class EngineApiError(ContainerStatsError):
    """The engine answered an API call with an error status."""

    def __init__(self, method, path, status, message):
        self.status = status
        self.api_message = message
        super().__init__(f"{method} {path} answered {status}: {message}")
