"""FRR 8.4 (zebra + bgpd) as a VXLAN VTEP inside the lab's router namespace.

Runs without systemd, one instance per namespace (``-N <ns>`` pathspace,
sockets, pid files and our generated configs under /var/run/frr/<ns>/), in
the foreground under ``Lab.spawn`` with ``--log stdout`` into a log file in
the test's work directory.  The namespace holds a Linux bridge ``br100``
with ``vxlan100`` (VNI 100, local = the router address, nolearning) and a
veth port ``hA``; with ``advertise-all-vni`` FRR originates a type-3 route
for VNI 100 and a type-2 route for every static FDB entry on ``hA`` (and a
MAC+IP route for every neighbour entry on ``br100``), so a test can make
FRR announce and withdraw real EVPN routes without any traffic.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

from .netns import Lab, run, wait_until

BGPD = "/usr/lib/frr/bgpd"
ZEBRA = "/usr/lib/frr/zebra"
VTYSH = "vtysh"
BINARIES = (BGPD, ZEBRA, VTYSH)

VNI = 100
SVI_IP = "10.1.1.254/24"       # on br100, inside the router namespace only


def bgpd_config(*, asn, router_id, neighbor, hold=9, keepalive=3, connect=2,
                graceful_restart=False, restart_time=30) -> str:
    gr = ""
    if graceful_restart:
        gr = (" bgp graceful-restart\n"
              " bgp graceful-restart preserve-fw-state\n"
              f" bgp graceful-restart restart-time {restart_time}\n"
              " bgp graceful-restart select-defer-time 30\n")
    return f"""frr defaults datacenter
hostname interop-frr
log stdout debugging
debug bgp neighbor-events
debug bgp updates in
debug bgp updates out
debug bgp graceful-restart
debug bgp zebra
!
router bgp {asn}
 bgp router-id {router_id}
 no bgp default ipv4-unicast
{gr} neighbor {neighbor} remote-as {asn}
 neighbor {neighbor} timers {keepalive} {hold}
 neighbor {neighbor} timers connect {connect}
 !
 address-family l2vpn evpn
  neighbor {neighbor} activate
  advertise-all-vni
 exit-address-family
!
"""


ZEBRA_CONFIG = """hostname interop-frr
log stdout informational
debug zebra vxlan
!
"""


class Frr:
    """One FRR instance (zebra + bgpd) in ``lab.router_ns``."""

    def __init__(self, lab: Lab, *, asn=65000, hold=9, keepalive=3, graceful_restart=False,
                 restart_time=30):
        self.lab = lab
        self.ns = lab.router_ns
        self.asn = asn
        self.router_id = lab.router_ip
        self.rundir = f"/var/run/frr/{self.ns}"
        self.config = bgpd_config(asn=asn, router_id=lab.router_ip, neighbor=lab.speaker_ip,
                                  hold=hold, keepalive=keepalive,
                                  graceful_restart=graceful_restart, restart_time=restart_time)
        self.zebra = None
        self.bgpd = None
        self._bgpd_starts = 0
        lab.cleanups.append(self._cleanup)

    # lifecycle -------------------------------------------------------------
    def start(self) -> Frr:
        self._vtep()
        if not os.path.isdir("/var/run/frr"):      # normally made by the package/tmpfiles
            os.makedirs("/var/run/frr", mode=0o755)
            shutil.chown("/var/run/frr", "frr", "frr")
        os.makedirs(self.rundir, exist_ok=True)
        shutil.chown(self.rundir, "frr", "frr")
        for name, text in (("zebra.conf", ZEBRA_CONFIG), ("bgpd.conf", self.config)):
            path = os.path.join(self.rundir, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o644)
            with open(self.lab.log_path(f"frr-{name}"), "w") as f:
                f.write(text)
        log = open(self.lab.log_path("frr-zebra.log"), "ab")
        self.zebra = self.lab.spawn("zebra", self.ns, [
            ZEBRA, "-N", self.ns, "-f", os.path.join(self.rundir, "zebra.conf"), "-P", "0",
            "-i", os.path.join(self.rundir, "zebra.pid"), "--log", "stdout"],
            stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: os.path.exists(os.path.join(self.rundir, "zserv.api")), 15,
                   what="zebra's zserv.api socket")
        self.start_bgpd()
        # zebra has the VNI and its local MACs (so bgpd will originate them)
        wait_until(lambda: self.json("show evpn vni json").get(str(VNI)), 15,
                   what="FRR to know VNI 100")
        return self

    def start_bgpd(self) -> None:
        self._bgpd_starts += 1
        log = open(self.lab.log_path("frr-bgpd.log"), "ab")
        log.write(f"=== bgpd start #{self._bgpd_starts} at {time.strftime('%H:%M:%S')} ===\n"
                  .encode())
        log.flush()
        self.bgpd = self.lab.spawn("bgpd", self.ns, [
            BGPD, "-N", self.ns, "-f", os.path.join(self.rundir, "bgpd.conf"), "-P", "0",
            "-i", os.path.join(self.rundir, "bgpd.pid"), "--log", "stdout"],
            stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: "peers" in json.dumps(self.json("show bgp l2vpn evpn summary json")),
                   15, what="bgpd to answer vtysh")

    def kill_bgpd(self, sig=signal.SIGKILL) -> None:
        """Kill bgpd (SIGKILL: no NOTIFICATION, as in a crash) and reap it."""
        proc = self.bgpd
        Lab.signal(proc, sig)
        proc.wait(10)

    def freeze(self) -> None:
        Lab.signal(self.bgpd, signal.SIGSTOP)

    def thaw(self) -> None:
        Lab.signal(self.bgpd, signal.SIGCONT)

    def _vtep(self) -> None:
        ns = self.ns
        for args in (["link", "add", "br100", "type", "bridge", "ageing_time", "1000000"],
                     ["link", "add", "vxlan100", "type", "vxlan", "id", str(VNI), "dstport",
                      "4789", "local", self.lab.router_ip, "nolearning"],
                     ["link", "set", "vxlan100", "master", "br100"],
                     ["link", "add", "hA", "type", "veth", "peer", "name", "hB"],
                     ["link", "set", "hA", "master", "br100"],
                     ["addr", "add", SVI_IP, "dev", "br100"]):
            run(["ip", "-n", ns, *args])
        for dev in ("br100", "vxlan100", "hA", "hB"):
            run(["ip", "-n", ns, "link", "set", dev, "up"])

    def add_local_mac(self, mac: str, ip: str | None = None) -> None:
        """A host behind this VTEP: static FDB entry on hA (type-2 MAC route)
        and, with ``ip``, a neighbour entry on br100 (MAC+IP route)."""
        run(["bridge", "-n", self.ns, "fdb", "add", mac, "dev", "hA", "master", "static"])
        if ip is not None:
            run(["ip", "-n", self.ns, "neigh", "replace", ip, "lladdr", mac, "dev", "br100",
                 "nud", "permanent"])

    def del_local_mac(self, mac: str, ip: str | None = None) -> None:
        if ip is not None:
            run(["ip", "-n", self.ns, "neigh", "del", ip, "dev", "br100"])
        run(["bridge", "-n", self.ns, "fdb", "del", mac, "dev", "hA", "master"])

    def _cleanup(self) -> None:
        for p in (self.bgpd, self.zebra):
            if p is not None:
                Lab.stop_process(p, timeout=3)
        shutil.rmtree(self.rundir, ignore_errors=True)

    # vtysh -------------------------------------------------------------------
    def vtysh(self, *commands, timeout=15) -> str:
        args = [VTYSH, "-N", self.ns]
        for c in commands:
            args += ["-c", c]
        # vtysh warns on stderr that /etc/frr/<ns>/vtysh.conf does not exist: harmless
        return run(args, timeout=timeout).stdout

    def json(self, command: str):
        out = self.vtysh(command)
        return json.loads(out) if out.strip() else {}

    def neighbor(self, address: str) -> dict:
        return self.json(f"show bgp neighbors {address} json").get(address, {})

    def peer_state(self, address: str) -> str | None:
        return self.neighbor(address).get("bgpState")

    def evpn_routes(self, peer: str | None = None) -> dict:
        """``show bgp l2vpn evpn route detail json`` flattened to
        ``{key: fields}`` with the same keys as ``routes.route_key``; only the
        paths received from ``peer`` when given (else FRR's own, local ones)."""
        data = self.json("show bgp l2vpn evpn route detail json")
        out = {}
        for rd, entries in data.items():
            if not isinstance(entries, dict):
                continue
            for entry in entries.values():
                if not isinstance(entry, dict) or "paths" not in entry:
                    continue
                for group in entry["paths"]:
                    for path in (group if isinstance(group, list) else [group]):
                        pid = path.get("peer", {}).get("peerId")
                        if peer is not None and pid != peer:
                            continue
                        if peer is None and pid not in (None, "(unspec)", "0.0.0.0"):
                            continue
                        fields = frr_path_fields(rd, entry, path)
                        out[fields["key"]] = fields
        return out


def frr_path_fields(rd: str, entry: dict, path: dict) -> dict:
    """The comparable fields of one path of FRR's detail JSON."""
    rt = entry.get("routeType")
    ext = path.get("extendedCommunity", {}).get("string", "").split()
    f = {"route_type": rt, "rd": rd, "ethernet_tag": entry.get("ethTag"),
         "next_hop": [n.get("ip") for n in path.get("nexthops", [])],
         "route_targets": sorted(c[3:] for c in ext if c.startswith("RT:")),
         "encapsulation": sorted(c[3:] for c in ext if c.startswith("ET:")),
         "ext_communities": sorted(ext),
         "local_pref": path.get("locPrf"), "origin": path.get("origin"),
         "as_path": path.get("aspath", {}).get("string")}
    if rt == 2:
        f["mac"] = entry.get("mac")
        f["ip"] = entry.get("ip")
        f["vni"] = int(path["vni"]) if "vni" in path else None
        f["esi"] = path.get("esi", entry.get("esi"))
        f["key"] = (2, rd, entry.get("ethTag"), entry.get("mac"), entry.get("ip"))
    elif rt == 3:
        f["originator_ip"] = entry.get("ip")
        pmsi = path.get("pmsi")
        f["pmsi"] = None if pmsi is None else {"type": pmsi.get("tunnelType"),
                                               "label": pmsi.get("label")}
        f["key"] = (3, rd, entry.get("ethTag"), entry.get("ip"))
    else:
        f["key"] = (rt, rd, entry.get("prefix"))
    return f
