"""GoBGP 3.10 (gobgpd + the gobgp CLI) inside the lab's router namespace.

``gobgpd`` runs in the foreground under ``Lab.spawn`` with its JSON log
(debug level) in the test's work directory and its gRPC API on
127.0.0.1:50051 of the router namespace (each namespace has its own lo, so
parallel labs never meet).  Routes are originated with
``gobgp global rib -a evpn add macadv|multicast ...``; GoBGP is slow per
EVPN route (interop-lab.md), so tests keep their tables small.
"""
from __future__ import annotations

import json
import signal
import subprocess
import time

from .netns import Lab, run, wait_until

GOBGPD = "gobgpd"
GOBGP = "gobgp"
BINARIES = (GOBGPD, GOBGP)
API = ("127.0.0.1", "50051")

#: apipb.PeerState.SessionState
SESSION_STATES = {0: "unknown", 1: "idle", 2: "connect", 3: "active", 4: "opensent",
                  5: "openconfirm", 6: "established"}


def gobgpd_config(*, asn, router_id, neighbor, hold=9, keepalive=3, connect=2,
                  graceful_restart=False, restart_time=30) -> str:
    gr = ""
    afi_gr = ""
    if graceful_restart:
        gr = f"""  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = {restart_time}
"""
        afi_gr = """    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
"""
    return f"""[global.config]
  as = {asn}
  router-id = "{router_id}"
  port = 179
  local-address-list = ["{router_id}"]

[[neighbors]]
  [neighbors.config]
    neighbor-address = "{neighbor}"
    peer-as = {asn}
  [neighbors.timers.config]
    hold-time = {hold}
    keepalive-interval = {keepalive}
    connect-retry = {connect}
    idle-hold-time-after-reset = 2
{gr}  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "l2vpn-evpn"
{afi_gr}"""


class GoBgp:
    """One gobgpd in ``lab.router_ns``."""

    def __init__(self, lab: Lab, *, asn=65000, hold=9, keepalive=3, graceful_restart=False,
                 restart_time=30):
        self.lab = lab
        self.ns = lab.router_ns
        self.router_id = lab.router_ip
        self.config = gobgpd_config(asn=asn, router_id=lab.router_ip, neighbor=lab.speaker_ip,
                                    hold=hold, keepalive=keepalive,
                                    graceful_restart=graceful_restart,
                                    restart_time=restart_time)
        self.config_path = lab.log_path("gobgpd.toml")
        self.log_path = lab.log_path("gobgpd.log")
        self.proc = None
        self._starts = 0
        lab.cleanups.append(self._cleanup)

    def start(self, restarting: bool = False) -> GoBgp:
        with open(self.config_path, "w") as f:
            f.write(self.config)
        self._starts += 1
        log = open(self.log_path, "ab")
        log.write(json.dumps({"msg": f"=== gobgpd start #{self._starts}",
                              "time": time.strftime("%H:%M:%S")}).encode() + b"\n")
        log.flush()
        args = [GOBGPD, "-f", self.config_path, "--api-hosts", ":".join(API),
                "--pprof-disable", "-l", "debug"]
        if restarting:
            args.append("-r")      # R bit in the graceful restart capability
        self.proc = self.lab.spawn("gobgpd", self.ns, args, stdout=log,
                                   stderr=subprocess.STDOUT)
        wait_until(lambda: isinstance(self.json("neighbor"), list), 15,
                   what="gobgpd's API")
        return self

    def kill(self, sig=signal.SIGKILL) -> None:
        Lab.signal(self.proc, sig)
        self.proc.wait(10)

    def freeze(self) -> None:
        Lab.signal(self.proc, signal.SIGSTOP)

    def thaw(self) -> None:
        Lab.signal(self.proc, signal.SIGCONT)

    def _cleanup(self) -> None:
        if self.proc is not None:
            Lab.stop_process(self.proc, timeout=3)

    # CLI -----------------------------------------------------------------------
    def cli(self, *args, timeout=20) -> str:
        return run(["ip", "netns", "exec", self.ns, GOBGP, "-u", API[0], "-p", API[1], *args],
                   timeout=timeout).stdout

    def json(self, *args):
        out = self.cli("-j", *args)
        return json.loads(out) if out.strip() else None

    def neighbor(self, address: str) -> dict:
        return self.json("neighbor", address) or {}

    def session_state(self, address: str) -> str:
        st = self.neighbor(address).get("state", {}).get("session_state", 0)
        return SESSION_STATES.get(st, str(st))

    def add_macadv(self, mac, ip, *, rd, label, rt, nexthop, etag=0) -> None:
        self.cli("global", "rib", "-a", "evpn", "add", "macadv", mac, ip or "0.0.0.0",
                 "etag", str(etag), "label", str(label), "rd", rd, "rt", rt, "encap", "vxlan",
                 "nexthop", nexthop)

    def del_macadv(self, mac, ip, *, rd, label, etag=0) -> None:
        self.cli("global", "rib", "-a", "evpn", "del", "macadv", mac, ip or "0.0.0.0",
                 "etag", str(etag), "label", str(label), "rd", rd)

    def add_multicast(self, ip, *, rd, rt, label, endpoint, nexthop, etag=0) -> None:
        self.cli("global", "rib", "-a", "evpn", "add", "multicast", ip, "etag", str(etag),
                 "rd", rd, "rt", rt, "encap", "vxlan", "pmsi", "ingress-repl", str(label),
                 endpoint, "nexthop", nexthop)

    def evpn_routes(self, peer: str | None = None) -> dict:
        """``gobgp -j global rib -a evpn`` flattened to ``{key: fields}``;
        paths from ``peer`` when given, else the locally originated ones."""
        data = self.json("global", "rib", "-a", "evpn") or {}
        out = {}
        for paths in data.values():
            for path in paths:
                src = path.get("neighbor-ip")
                if (peer is not None and src != peer) or (peer is None and src):
                    continue
                f = gobgp_path_fields(path)
                out[f["key"]] = f
        return out

    def log_records(self) -> list:
        recs = []
        with open(self.log_path, "rb") as f:
            for line in f:
                try:
                    recs.append(json.loads(line))
                except ValueError:
                    recs.append({"msg": line.decode("utf-8", "replace").strip()})
        return recs


def _rd(rd: dict) -> str:
    return f"{rd.get('admin')}:{rd.get('assigned')}"


def gobgp_path_fields(path: dict) -> dict:
    v = path["nlri"]["value"]
    t = path["nlri"]["type"]
    rd = _rd(v["rd"])
    attrs = {a["type"]: a for a in path.get("attrs", [])}
    ext = attrs.get(16, {}).get("value", [])
    rts = sorted(e["value"] for e in ext if e.get("subtype") == 2 and e.get("type") in (0, 1, 2))
    encap = sorted(e.get("tunnel_type") for e in ext if e.get("type") == 3
                   and e.get("subtype") == 12)
    f = {"route_type": t, "rd": rd, "ethernet_tag": v.get("etag"),
         "next_hop": attrs.get(14, {}).get("nexthop"),
         "route_targets": rts, "encapsulation": encap,
         "origin": attrs.get(1, {}).get("value"), "local_pref": attrs.get(5, {}).get("value"),
         "as_path": attrs.get(2, {}).get("as_paths"), "stale": path.get("stale")}
    if t == 2:
        ip = v.get("ip")
        f.update(mac=v.get("mac"), ip=None if ip in (None, "<nil>", "") else ip,
                 labels=v.get("labels"), esi=v.get("esi"))
        f["key"] = (2, rd, v.get("etag"), v.get("mac"), f["ip"])
    elif t == 3:
        f["originator_ip"] = v.get("ip")
        p = attrs.get(22)
        f["pmsi"] = None if p is None else {"type": p.get("tunnel-type"), "label": p.get("label"),
                                            "endpoint": p.get("tunnel-id"),
                                            "leaf_info_required": p.get("is-leaf-info-required")}
        f["key"] = (3, rd, v.get("etag"), v.get("ip"))
    else:
        f["key"] = (t, rd, json.dumps(v, sort_keys=True))
    return f
