"""Fixtures of the fabric suite: one reference EVPN/VXLAN fabric per module
(topology.py: 3 FRR VTEPs, hosts in VNIs 100 and 200, ``bgpevpn rr`` and,
on demand, FRR as a second reflector), all in network namespaces.

The tests skip, with the reason, only when not root, when ``ip netns``
does not work, or when FRR/iproute2/ping are missing.  With
``BGPEVPN_FABRIC_REQUIRED=1`` (or ``BGPEVPN_INTEROP_REQUIRED=1``) those are
failures instead.  On a failure the fabric's state (FDBs, FRR's EVPN
tables, both reflectors' views) is written next to the logs and the tails
of the ``bgpevpn rr`` log are attached to the report; the work directory is
printed.
"""
from __future__ import annotations

import contextlib
import os
import shutil

import pytest

from .topology import Fabric, unavailable_reason

_reason: list = []


def require_fabric() -> None:
    if not _reason:
        _reason.append(unavailable_reason())
    reason = _reason[0]
    if reason:
        if "1" in (os.environ.get("BGPEVPN_FABRIC_REQUIRED"),
                   os.environ.get("BGPEVPN_INTEROP_REQUIRED")):
            pytest.fail(f"fabric tests required but cannot run: {reason}", pytrace=False)
        pytest.skip(reason)


@contextlib.contextmanager
def running_fabric(tmp_path_factory, name: str, start, **options):
    """A Fabric (``options`` to its constructor) brought up by ``start(fab)``,
    closed afterwards whatever happened, its work directory copied to
    ``BGPEVPN_FABRIC_ARTIFACTS`` when that is set."""
    require_fabric()
    fab = Fabric(tmp_path_factory.mktemp(name), **options)
    try:
        start(fab)
        yield fab
    finally:
        fab.close()
        keep = os.environ.get("BGPEVPN_FABRIC_ARTIFACTS")
        if keep:
            shutil.copytree(fab.workdir, os.path.join(keep, fab.tag), dirs_exist_ok=True)


def _start_reference(fab) -> None:
    fab.setup()
    fab.start_rr1()


@pytest.fixture(scope="module")
def fabric(tmp_path_factory):
    with running_fabric(tmp_path_factory, "fabric", _start_reference) as fab:
        yield fab


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    fab = getattr(item, "funcargs", {}).get("fabric")
    if fab is None:
        return
    try:
        snap = fab.snapshot(f"failure-{item.name}")
    except Exception as e:   # noqa: BLE001 - evidence only
        snap = f"(snapshot failed: {e!r})"
    rep.sections.append(("bgpevpn rr log (tail)", fab.tail(fab.rr1_log, 8000)))
    rep.sections.append(("fabric state", f"{snap}\nwork directory: {fab.workdir}"))


def pytest_configure(config):
    config.addinivalue_line("markers", "fabric: builds the reference EVPN fabric in network "
                                       "namespaces (root only)")
