"""What a test needs from outside the project (../shared, a system tool): skipped locally, required in CI."""

from __future__ import annotations

import os

import pytest


def required() -> bool:
    """Whether a missing prerequisite fails the test: in CI (CI=true) or when NEWSMON_REQUIRE_TEST_DEPS=1."""
    ci = os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")
    return ci or os.environ.get("NEWSMON_REQUIRE_TEST_DEPS", "") == "1"


def need(present: bool, reason: str) -> None:
    """Skip the calling test when a prerequisite is absent, unless it is required here: then fail it."""
    if present:
        return
    if required():
        pytest.fail(f"{reason}; CI provides it, so its absence is a failure", pytrace=False)
    pytest.skip(reason)
