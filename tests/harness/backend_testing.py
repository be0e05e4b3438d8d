"""Small helpers of the backend's tests (shared by tests/integration/backend and backend_web)."""

from __future__ import annotations


class Clock:
    """A controllable clock for the app (tests set ``now``)."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def bearer(token):
    return {"Authorization": f"Bearer {token}"}
