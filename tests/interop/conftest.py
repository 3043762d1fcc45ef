"""Fixtures of the interop suite: a private lab (two network namespaces and a
veth pair) per test, FRR or GoBGP in one namespace, our Speaker (agent.py)
in the other.

The tests skip, with the reason, only when not root, when ``ip netns``
does not work, or when the FRR/GoBGP binaries are missing.  With
``BGPEVPN_INTEROP_REQUIRED=1`` (set by CI) those are failures instead.
On a failure the tails of the daemons' and the agent's logs are attached to
the report; the whole work directory (logs, configs, the agent's event
transcript, a pcap with ``BGPEVPN_INTEROP_PCAP=1``) stays in pytest's
tmp_path.
"""
from __future__ import annotations

import glob
import os

import pytest

from . import frr as frr_mod
from . import gobgp as gobgp_mod
from .agentctl import Agent
from .netns import Lab, unavailable_reason

_reasons: dict = {}


def _require(binaries=()) -> None:
    key = tuple(binaries)
    if key not in _reasons:
        _reasons[key] = unavailable_reason(binaries)
    reason = _reasons[key]
    if reason:
        if os.environ.get("BGPEVPN_INTEROP_REQUIRED") == "1":
            pytest.fail(f"interop tests required but cannot run: {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture
def lab(request, tmp_path):
    _require()
    the_lab = Lab(tmp_path)
    request.addfinalizer(the_lab.close)   # registered first: runs even if setup fails
    the_lab.setup()
    return the_lab


@pytest.fixture
def frr_factory(lab):
    _require(frr_mod.BINARIES)

    def make(**kw):
        return frr_mod.Frr(lab, **kw)
    return make


@pytest.fixture
def gobgp_factory(lab):
    _require(gobgp_mod.BINARIES)

    def make(**kw):
        return gobgp_mod.GoBgp(lab, **kw)
    return make


@pytest.fixture
def agent_factory(lab):
    def make(peer=None, **kw):
        return Agent(lab, peer or lab.router_ip, **kw)
    return make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    the_lab = getattr(item, "funcargs", {}).get("lab")
    if the_lab is None:
        return
    for path in sorted(glob.glob(os.path.join(the_lab.workdir, "*.log"))
                       + glob.glob(os.path.join(the_lab.workdir, "*.jsonl"))):
        try:
            with open(path, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - 6000))
                tail = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        rep.sections.append((f"{os.path.basename(path)} (tail)", tail))
    rep.sections.append(("interop work directory", the_lab.workdir))


def pytest_configure(config):
    config.addinivalue_line("markers", "interop: runs real FRR/GoBGP daemons in network "
                                       "namespaces (root only)")
