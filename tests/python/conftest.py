"""Shared pytest settings for tessera's Python suites.

With TESSERA_STRICT_TESTS=1 (scripts/test.sh and CI set it), a skipped test
is a failure unless its reason starts with "optional:" (a cross-check that
needs a package CI does not install, such as torch) or "hardware:" (an ISA
this CPU lacks). A missing model or binary must never pass as a skip.
"""
import os

import pytest

ALLOWED = ("optional:", "hardware:")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("TESSERA_STRICT_TESTS") != "1" or not report.skipped:
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    if not reason.startswith(ALLOWED):
        report.outcome = "failed"
        report.longrepr = f"skipped in strict mode: {reason}"
