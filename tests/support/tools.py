"""Programs that tests run, found on PATH; a missing one fails the run under CI, never skips.

A test that skips because a tool is missing lets CI pass without running it. Locally a skip
(with its reason in pytest's summary) is friendlier; with `CI=true` the same test fails and
names the install step that provides the tool (`scripts/install.sh --dev`).
"""

import os
import shutil

import pytest


def required_tool(name: str, installed_by: str) -> str:
    """The path of program `name`; fail under CI=true, else skip, if it is not installed."""
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed ({installed_by})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; under CI=true a missing tool fails the run")
    pytest.skip(message)
