"""Shared fixtures: the codec twins and the Hypothesis profiles.

``codec`` is parametrised over the twins (ids ``py`` and ``c``).  The ``c``
parameter FAILS when a compiled ``bgpevpn/_wire_c*.so`` (or ``.pyd``) sits
next to the package but does not import, and is skipped only when the
extension was never built (DESIGN.md: "a test fails if the C twin did not
load where it was built").

Hypothesis profiles: ``ci`` (default) and ``long``, chosen with the
environment variable ``HYPOTHESIS_PROFILE``.
"""
from __future__ import annotations

import glob
import importlib
import os
import sys

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))  # tests/strategies.py importable as ``strategies``

import bgpevpn  # noqa: E402
import bgpevpn._wire_py  # noqa: E402

settings.register_profile(
    "ci", derandomize=False, deadline=None, max_examples=200,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture,
                           HealthCheck.filter_too_much])
settings.register_profile(
    "long", derandomize=False, deadline=None, max_examples=20000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture,
                           HealthCheck.filter_too_much])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

PACKAGE_DIR = os.path.dirname(bgpevpn.__file__)


def built_c_twins() -> list:
    """Compiled C-twin files next to the package."""
    return sorted(glob.glob(os.path.join(PACKAGE_DIR, "_wire_c*.so"))
                  + glob.glob(os.path.join(PACKAGE_DIR, "_wire_c*.pyd")))


def load_c_twin():
    """The C twin module, or None when it was never built; raises (and so
    fails the test) when it was built but does not import."""
    built = built_c_twins()
    try:
        return importlib.import_module("bgpevpn._wire_c")
    except ImportError as exc:
        if built:
            pytest.fail(f"the C twin was built ({', '.join(map(os.path.basename, built))}) "
                        f"but bgpevpn._wire_c does not import: {exc!r}")
        return None


@pytest.fixture(params=["py", "c"])
def codec(request):
    """One codec twin module: ``bgpevpn._wire_py`` or ``bgpevpn._wire_c``."""
    if request.param == "py":
        return bgpevpn._wire_py
    mod = load_c_twin()
    if mod is None:
        pytest.skip("the C twin bgpevpn._wire_c was never built")
    return mod
