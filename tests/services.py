"""Outside programs some tests need (nginx, redis-server, the real Outline server).

Locally a missing program skips the test; with ``VPNKEYS_REQUIRE_SERVICES=1`` (set by
``.ci/run``, which installs them) it fails instead, so CI can never pass by skipping.
"""

import os
import shutil

import pytest

REQUIRED = os.environ.get("VPNKEYS_REQUIRE_SERVICES") == "1"


def unavailable(reason: str) -> None:
    """Skip the test, or fail it where every service must be present."""
    if REQUIRED:
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


def require_binary(name: str, *candidates: str) -> str:
    """The path of program ``name`` (or one of ``candidates``), else skip or fail."""
    for path in (shutil.which(name), *candidates):
        if path and os.access(path, os.X_OK):
            return path
    unavailable(f"{name} is not installed")
    raise AssertionError("unreachable")
