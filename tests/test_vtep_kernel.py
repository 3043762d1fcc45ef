"""bgpevpn.vtep.kernel against the real kernel, in a network namespace this
test creates (root only; skipped otherwise, failed with
BGPEVPN_INTEROP_REQUIRED=1): device reading, notifications, and the batched
netlink requests (netlink.py) that program remote MACs, flood entries,
neighbour entries, with errors reported per request."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def netns():
    if os.geteuid() != 0:
        if os.environ.get("BGPEVPN_INTEROP_REQUIRED") == "1":
            pytest.fail("needs root (network namespaces)")
        pytest.skip("needs root (network namespaces)")
    pytest.importorskip("pyroute2")
    name = f"vk{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_kernel_reads_and_programs(netns):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE))
    p = subprocess.run(["ip", "netns", "exec", netns, sys.executable,
                        os.path.join(HERE, "vtep_kernel_probe.py")],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["vxlan"] == ["vxlan", 100, "203.0.113.9", True, True]
    assert out["failed_adds"] == 0
    # the bad ifindex fails (and is logged), the requests around it are done
    assert out["failed_bad"] == 1 and "02:bb:00:00:00:02" not in out["remote"]
    assert {"02:bb:00:00:00:01", "02:bb:00:00:00:03"} <= set(out["remote"])
    assert [m for m in out["remote"] if m.startswith("02:aa")] == \
        [f"02:aa:00:00:00:{i:02x}" for i in range(50)]
    assert out["flood"] == ["203.0.113.1", "203.0.113.2"]
    assert out["steered"] == ["02:aa:00:00:00:02"]
    assert [n for n in out["neigh"] if n[2]] == [["192.0.2.11", "02:aa:00:00:00:01", True]]
    assert out["failed_dels"] == 0        # deleting what is not there is not a failure
    assert sorted(map(tuple, out["after"])) == sorted(
        [("00:00:00:00:00:00", "203.0.113.2"), ("02:bb:00:00:00:01", "203.0.113.1"),
         ("02:bb:00:00:00:03", "203.0.113.1")])
    assert out["suppress"] is True
    # a static MAC on the port, seen as a notification
    assert [True, True, True] in out["local_event"]
    assert "FdbEntry" in out["event_kinds"]
