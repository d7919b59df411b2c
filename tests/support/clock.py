"""The one fake clock: tests move time forward instead of waiting for it. It ships with
the package (``adapters.testing``, beside the test desk) so that a desk and a test share
one definition."""

from __future__ import annotations

from adapters.testing import FakeClock

__all__ = ["FakeClock"]
