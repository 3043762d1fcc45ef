"""The reference EVPN/VXLAN fabric in network namespaces.

Topology (every address lives inside namespaces this module creates)::

                      underlay namespace "<p>-ul": bridge "ulbr"
          +-----------+-----------+-----------+-----------+
          |           |           |           |           |
        <p>-v1      <p>-v2      <p>-v3      <p>-rr1     <p>-rr2
        VTEP        VTEP        VTEP        bgpevpn rr  FRR bgpd -Z
        .1          .2          .3          .254        .253     (203.0.113.x/32 on lo)
        |  \\        ...
   bv100  bv200   Linux bridges (ageing_time high), each with
   vxlan100/vxlan200 (dstport 4789, local = loopback, nolearning)
   and a veth "hp<vni>" to a host namespace "<p>-h<i>v<vni>"

- Underlay: each node's ``eth0`` is a veth into the underlay bridge; the
  node's address is a /32 on ``lo`` (no dummy interfaces in this kernel)
  and ``203.0.113.0/24`` is an on-link route over ``eth0`` with that
  source, so ARP on the shared segment resolves every loopback.
- VTEPs: FRR 8.4 zebra + bgpd, iBGP AS 65000, ``advertise-all-vni``,
  peer-group ``fabric`` with both reflectors as neighbours.
- rr1: ``python -m bgpevpn rr --config ... --log-level debug`` (the
  interpreter running the tests, the bgpevpn it imports).
- rr2: FRR ``bgpd -Z`` with ``bgp cluster-id``, a listen range and
  ``neighbor fabric route-reflector-client``; started on demand.
- Hosts: VNI 100 hosts share 192.0.2.0/24 (192.0.2.1<i>), VNI 200 hosts
  share 198.51.100.0/24 (198.51.100.1<i>); every VNI 200 host also holds
  192.0.2.11<i> (PROBE) so "VNI 100 cannot reach VNI 200" is tested at
  layer 2, not just by a missing route.

``Fabric.close`` stops every process it started (by pid), kills whatever is
left inside its own namespaces, deletes the namespaces and FRR's run
directories; it is safe to call after a partial setup.
"""
from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import string
import subprocess
import sys
import time
import uuid

from interop.netns import netns_unavailable_reason, remove_namespaces, run  # one namespace toolkit for both suites

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(HERE, "templates")

ZEBRA = "/usr/lib/frr/zebra"
BGPD = "/usr/lib/frr/bgpd"
BINARIES = (ZEBRA, BGPD, "vtysh", "ip", "bridge", "ping")

ASN = 65000
VNIS = (100, 200)
VTEPS = (1, 2, 3)
UNDERLAY = "203.0.113.0/24"
RR1_IP = "203.0.113.254"     # bgpevpn rr
RR2_IP = "203.0.113.253"     # FRR bgpd -Z
HOST_NETS = {100: "192.0.2", 200: "198.51.100"}
PROBE_NET = "192.0.2"        # VNI 200 hosts also answer 192.0.2.11<i> (VNI 100's subnet)
FLOOD_MAC = "00:00:00:00:00:00"


def vtep_ip(i: int) -> str:
    return f"203.0.113.{i}"


def host_mac(i: int, vni: int) -> str:
    """Locally administered, VNI and VTEP readable: 02:fb:00:64:00:01 = VNI 100, VTEP 1."""
    return f"02:fb:{vni >> 8 & 0xff:02x}:{vni & 0xff:02x}:00:{i:02x}"


def host_ip(i: int, vni: int) -> str:
    return f"{HOST_NETS[vni]}.{10 + i}"


def probe_ip(i: int) -> str:
    return f"{PROBE_NET}.{110 + i}"


# -- small process helpers ------------------------------------------------------------

def wait_for(pred, timeout: float, what: str, interval: float = 0.25):
    """Poll ``pred()`` until it returns a true value (returned); on timeout
    raise AssertionError with the last value or exception."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = pred()
            if value:
                return value
            last = value
        except Exception as e:   # noqa: BLE001 - retried until the deadline
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def unavailable_reason() -> str | None:
    """Why the fabric cannot be built here (None when it can)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "fabric tests need root (network namespaces)"
    for b in BINARIES:
        if not (os.path.isabs(b) and os.access(b, os.X_OK)) and shutil.which(b) is None:
            pkg = {"ping": "iputils-ping", "ip": "iproute2", "bridge": "iproute2"}.get(b, "frr")
            return f"{b} not installed (Debian package {pkg})"
    try:
        import pwd
        pwd.getpwnam("frr")
    except KeyError:
        return "no 'frr' user (FRR package not installed properly)"
    return netns_unavailable_reason(f"fbprobe-{uuid.uuid4().hex[:6]}")


def render(template: str, **values) -> str:
    with open(os.path.join(TEMPLATES, template)) as f:
        return string.Template(f.read()).substitute(**values)


def _package_root() -> str:
    """The directory holding the bgpevpn package the tests import (so the
    daemon runs the same code, installed or from a checkout)."""
    import bgpevpn
    return os.path.dirname(os.path.dirname(os.path.abspath(bgpevpn.__file__)))


class Proc:
    """A process started inside a namespace, with its log file."""

    def __init__(self, name, popen, log):
        self.name, self.popen, self.log = name, popen, log

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def send(self, sig) -> None:
        if self.popen.poll() is None:
            try:
                os.kill(self.popen.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, sig=signal.SIGTERM, timeout: float = 5) -> int | None:
        """``sig`` (SIGCONT first, it may be frozen), SIGKILL after ``timeout``."""
        if self.popen.poll() is None:
            self.send(signal.SIGCONT)
            self.send(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.send(signal.SIGKILL)
                try:
                    self.popen.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        return self.popen.returncode


class Fabric:
    def __init__(self, workdir, vteps=VTEPS, vnis=VNIS, agent_vteps=()):
        self.workdir = str(workdir)
        # VTEPs running ``bgpevpn vtep`` instead of FRR (tests/fabric/test_vtep_agent.py)
        self.agent_vteps = tuple(agent_vteps)
        self.agents: dict = {}                   # i -> Proc of bgpevpn vtep
        self.tag = f"fb{uuid.uuid4().hex[:6]}"
        self.vteps = tuple(vteps)
        self.vnis = tuple(vnis)
        self.ul = f"{self.tag}-ul"
        self.namespaces: list = []
        self.procs: list = []                    # every Proc ever started
        self.frr: dict = {}                      # ns -> {"zebra": Proc, "bgpd": Proc}
        self.rundirs: list = []
        self.rr1 = None
        self.rr1_starts = 0
        self.rr1_config = os.path.join(self.workdir, "bgpevpn-rr.toml")
        self.rr1_socket = os.path.join(self.workdir, "rr1.sock")
        self.rr1_log = os.path.join(self.workdir, "bgpevpn-rr.log")
        self.extra_hosts: list = []

    # names -------------------------------------------------------------------------
    def vtep_ns(self, i: int) -> str:
        return f"{self.tag}-v{i}"

    def host_ns(self, i: int, vni: int) -> str:
        return f"{self.tag}-h{i}v{vni}"

    @property
    def rr1_ns(self) -> str:
        return f"{self.tag}-rr1"

    @property
    def rr2_ns(self) -> str:
        return f"{self.tag}-rr2"

    def log_path(self, name: str) -> str:
        return os.path.join(self.workdir, name)

    # namespaces and links -------------------------------------------------------------
    def add_ns(self, ns: str) -> str:
        run(["ip", "netns", "add", ns])
        self.namespaces.append(ns)
        # no IPv6 anywhere: no router solicitations, DAD or MLD noise on the bridges
        self.ns_exec(ns, ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                          "net.ipv6.conf.default.disable_ipv6=1"], check=False)
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        return ns

    def ns_exec(self, ns, args, **kw) -> subprocess.CompletedProcess:
        return run(["ip", "netns", "exec", ns, *args], **kw)

    def ip(self, ns, *args, **kw) -> subprocess.CompletedProcess:
        return run(["ip", "-n", ns, *args], **kw)

    def spawn(self, name: str, ns: str, args, log: str, env=None) -> Proc:
        """Start ``args`` inside ``ns``: ``ip netns exec`` execs it, so the pid is
        the program's; its stdout and stderr go (appended) to ``log``."""
        with open(log, "ab") as f:
            f.write(f"=== {name} started {time.strftime('%H:%M:%S')}: {' '.join(args)}\n"
                    .encode())
            f.flush()
            popen = subprocess.Popen(["ip", "netns", "exec", ns, *args], stdout=f,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, start_new_session=True)
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def _underlay_port(self, ns: str, addr: str, port: str) -> None:
        """A veth from the underlay bridge to ``eth0`` of ``ns``; ``addr``/32 on lo."""
        self.ip(self.ul, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                "netns", ns)
        self.ip(self.ul, "link", "set", port, "master", "ulbr")
        self.ip(self.ul, "link", "set", port, "up")
        self.ip(ns, "addr", "add", f"{addr}/32", "dev", "lo")
        self.ip(ns, "link", "set", "eth0", "up")
        self.ip(ns, "route", "add", UNDERLAY, "dev", "eth0", "src", addr)

    def _host(self, vtep_ns: str, hns: str, port: str, bridge: str, mac: str, addrs) -> None:
        self.add_ns(hns)
        self.ip(vtep_ns, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                "netns", hns)
        self.ip(vtep_ns, "link", "set", port, "master", bridge)
        self.ip(vtep_ns, "link", "set", port, "up")
        self.ip(hns, "link", "set", "eth0", "address", mac)
        for a in addrs:
            self.ip(hns, "addr", "add", a, "dev", "eth0")
        self.ip(hns, "link", "set", "eth0", "up")

    def build_network(self) -> None:
        self.add_ns(self.ul)
        self.ip(self.ul, "link", "add", "ulbr", "type", "bridge")
        self.ip(self.ul, "link", "set", "ulbr", "up")
        for i in self.vteps:
            ns = self.add_ns(self.vtep_ns(i))
            self._underlay_port(ns, vtep_ip(i), f"u-v{i}")
            for vni in self.vnis:
                br = f"bv{vni}"
                self.ip(ns, "link", "add", br, "type", "bridge", "ageing_time", "3000000")
                self.ip(ns, "link", "add", f"vxlan{vni}", "type", "vxlan", "id", str(vni),
                        "dstport", "4789", "local", vtep_ip(i), "nolearning")
                self.ip(ns, "link", "set", f"vxlan{vni}", "master", br)
                self.ip(ns, "link", "set", f"vxlan{vni}", "up")
                self.ip(ns, "link", "set", br, "up")
                addrs = [f"{host_ip(i, vni)}/24"]
                if vni == 200:
                    addrs.append(f"{probe_ip(i)}/24")
                self._host(ns, self.host_ns(i, vni), f"hp{vni}", br, host_mac(i, vni), addrs)
        for ns, addr, port in ((self.rr1_ns, RR1_IP, "u-rr1"), (self.rr2_ns, RR2_IP, "u-rr2")):
            self.add_ns(ns)
            self._underlay_port(ns, addr, port)

    # FRR ------------------------------------------------------------------------------
    def _rundir(self, ns: str) -> str:
        d = f"/var/run/frr/{ns}"
        os.makedirs(d, exist_ok=True)
        shutil.chown(d, "frr", "frr")
        if d not in self.rundirs:
            self.rundirs.append(d)
        return d

    def _write_conf(self, ns: str, name: str, text: str) -> str:
        path = os.path.join(self._rundir(ns), name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        with open(self.log_path(f"{ns.split('-', 1)[1]}-{name}"), "w") as f:
            f.write(text)   # a copy next to the logs
        return path

    def _start_zebra(self, ns: str, hostname: str) -> None:
        conf = self._write_conf(ns, "zebra.conf", render("zebra.conf", hostname=hostname))
        d = self._rundir(ns)
        self.frr.setdefault(ns, {})["zebra"] = self.spawn(
            f"zebra@{ns}", ns, [ZEBRA, "-N", ns, "-f", conf, "-P", "0", "-i",
                                os.path.join(d, "zebra.pid"), "--log", "stdout"],
            self.log_path(f"{hostname}-zebra.log"))
        wait_for(lambda: os.path.exists(os.path.join(d, "zserv.api")), 20,
                 f"zebra's zserv.api in {ns}")

    def _start_bgpd(self, ns: str, hostname: str, text: str, no_zebra=False) -> None:
        conf = self._write_conf(ns, "bgpd.conf", text)
        d = self._rundir(ns)
        args = [BGPD, "-N", ns, "-f", conf, "-P", "0", "-i", os.path.join(d, "bgpd.pid"),
                "--log", "stdout"]
        if no_zebra:
            args.append("-Z")
        self.frr.setdefault(ns, {})["bgpd"] = self.spawn(f"bgpd@{ns}", ns, args,
                                                       self.log_path(f"{hostname}-bgpd.log"))
        wait_for(lambda: "peers" in self.vtysh(ns, "show bgp l2vpn evpn summary json"), 20,
                 f"bgpd in {ns} to answer vtysh")

    def vtep_bgpd_config(self, i: int, graceful_restart: bool = False) -> str:
        neighbors = "".join(f" neighbor {a} peer-group fabric\n" for a in (RR1_IP, RR2_IP))
        # FRR's default is GR helper only: the capability goes out without any
        # AFI/SAFI; "bgp graceful-restart" lists l2vpn evpn in it (restarting speaker)
        gr = " bgp graceful-restart\n" if graceful_restart else ""
        return render("vtep-bgpd.conf", hostname=f"vtep{i}", asn=ASN, router_id=vtep_ip(i),
                      graceful_restart=gr, neighbors=neighbors)

    def frr_vteps(self) -> tuple:
        return tuple(i for i in self.vteps if i not in self.agent_vteps)

    def start_vteps(self) -> None:
        for i in self.frr_vteps():
            ns = self.vtep_ns(i)
            self._start_zebra(ns, f"vtep{i}")
            self._start_bgpd(ns, f"vtep{i}", self.vtep_bgpd_config(i))
        for i in self.agent_vteps:
            self.start_agent(i)
        for i in self.frr_vteps():
            wait_for(lambda i=i: all(str(v) in self.vtysh_json(self.vtep_ns(i),
                                                               "show evpn vni json")
                                     for v in self.vnis), 20, f"zebra of vtep{i} to know the VNIs")

    def stop_vtep_bgpd(self, i: int, sig=signal.SIGTERM) -> None:
        """SIGTERM: FRR sends a Cease; SIGKILL: a crash (the kernel closes the
        TCP connections, no NOTIFICATION)."""
        self.frr[self.vtep_ns(i)]["bgpd"].stop(sig)

    def signal_vtep_bgpd(self, i: int, sig) -> None:
        """Just send ``sig`` (SIGSTOP freezes it; a SIGKILL is then reaped)."""
        p = self.frr[self.vtep_ns(i)]["bgpd"]
        p.send(sig)
        if sig == signal.SIGKILL:
            p.popen.wait(10)

    def start_vtep_bgpd(self, i: int, graceful_restart: bool = False) -> None:
        self._start_bgpd(self.vtep_ns(i), f"vtep{i}", self.vtep_bgpd_config(i, graceful_restart))

    def rr2_running(self) -> bool:
        p = self.frr.get(self.rr2_ns, {}).get("bgpd")
        return p is not None and p.alive()

    def start_rr2(self) -> None:
        if self.rr2_running():
            return
        self._start_bgpd(self.rr2_ns, "rr2", render(
            "rr-bgpd.conf", hostname="rr2", asn=ASN, router_id=RR2_IP, cluster_id=RR2_IP,
            listen_range=UNDERLAY), no_zebra=True)

    def stop_rr2(self) -> None:
        p = self.frr.get(self.rr2_ns, {}).get("bgpd")
        if p is not None:
            p.stop()

    def vtysh(self, ns: str, *commands, timeout=20, daemon=None) -> str:
        """vtysh in ``ns``'s pathspace; ``daemon`` ("zebra") talks to that one
        only (vtysh otherwise waits for every daemon, a frozen bgpd too)."""
        args = ["vtysh", "-N", ns] + (["-d", daemon] if daemon else [])
        for c in commands:
            args += ["-c", c]
        # vtysh warns on stderr that /etc/frr/<ns>/vtysh.conf is missing: harmless
        return run(args, timeout=timeout).stdout

    def vtysh_json(self, ns: str, command: str, daemon=None):
        out = self.vtysh(ns, command, daemon=daemon)
        return json.loads(out) if out.strip() else {}

    def vtep_peers(self, i: int) -> dict:
        """{neighbour address: FRR state} of VTEP i's l2vpn evpn sessions."""
        if i in self.agent_vteps:
            return {p["address"]: p["state"] for p in self.agent_status(i)["peers"]}
        data = self.vtysh_json(self.vtep_ns(i), "show bgp l2vpn evpn summary json")
        return {a: p.get("state") for a, p in data.get("peers", {}).items()}

    def rr2_peers(self) -> dict:
        data = self.vtysh_json(self.rr2_ns, "show bgp l2vpn evpn summary json")
        return {a: p for a, p in data.get("peers", {}).items()}

    # bgpevpn rr ------------------------------------------------------------------------
    def start_rr1(self, wait=True) -> Proc:
        with open(self.rr1_config, "w") as f:
            f.write(render("bgpevpn-rr.toml", asn=ASN, router_id=RR1_IP, cluster_id=RR1_IP,
                           listen_range=UNDERLAY, socket=self.rr1_socket))
        env = dict(os.environ)
        root = _package_root()
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"]
                                    if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        self.rr1_starts += 1
        self.rr1 = self.spawn(f"bgpevpn-rr#{self.rr1_starts}", self.rr1_ns,
                              [sys.executable, "-m", "bgpevpn", "rr", "--config",
                               self.rr1_config, "--log-level", "debug"], self.rr1_log, env=env)
        if wait:
            wait_for(lambda: self.rr1_alive_or_raise() and self.rr1_status(), 20,
                     "bgpevpn rr to answer on its status socket")
        return self.rr1

    def rr1_alive_or_raise(self) -> bool:
        if self.rr1 is None or not self.rr1.alive():
            raise RuntimeError(f"bgpevpn rr is not running (exit {self.rr1.popen.returncode}); "
                               f"log tail:\n{self.tail(self.rr1_log)}")
        return True

    def rr1_cli(self, *args, timeout=20):
        env = dict(os.environ)
        env["PYTHONPATH"] = _package_root()
        proc = subprocess.run([sys.executable, "-m", "bgpevpn", "rr", *args, "--socket",
                               self.rr1_socket], capture_output=True, text=True, env=env,
                              timeout=timeout, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"bgpevpn rr {' '.join(args)}: exit {proc.returncode}: "
                               f"{proc.stderr.strip()}")
        return proc.stdout

    def rr1_status(self) -> dict:
        return json.loads(self.rr1_cli("status", "--json"))

    def rr1_routes(self) -> list:
        return json.loads(self.rr1_cli("routes", "--json"))

    # bgpevpn vtep ------------------------------------------------------------------------
    def agent_paths(self, i: int) -> tuple:
        return (os.path.join(self.workdir, f"vtep{i}-agent.toml"),
                os.path.join(self.workdir, f"vtep{i}-agent.sock"),
                os.path.join(self.workdir, f"vtep{i}-agent.state"),
                os.path.join(self.workdir, f"vtep{i}-agent.log"))

    def start_agent(self, i: int, keep_state: bool = False, evpn_extra: str = "",
                    wait: bool = True) -> Proc:
        """``python -m bgpevpn vtep`` in VTEP i's namespace, peering with both
        reflectors (the second one may be down: it retries every 2 s)."""
        config, sock, state, log = self.agent_paths(i)
        with open(config, "w") as f:
            f.write(render("bgpevpn-vtep.toml", asn=ASN, router_id=vtep_ip(i), rr1=RR1_IP,
                           rr2=RR2_IP, state_file=state, socket=sock, evpn_extra=evpn_extra))
        env = dict(os.environ)
        root = _package_root()
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"]
                                    if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        args = [sys.executable, "-m", "bgpevpn", "vtep", "--config", config,
                "--log-level", "debug"] + (["--keep-state"] if keep_state else [])
        proc = self.agents[i] = self.spawn(f"bgpevpn-vtep@vtep{i}", self.vtep_ns(i), args, log,
                                           env=env)
        if wait:
            wait_for(lambda: self.agent_alive_or_raise(i) and
                     {v["vni"] for v in self.agent_status(i)["vnis"]} == set(self.vnis),
                     20, f"bgpevpn vtep on vtep{i} to serve VNIs {self.vnis}")
        return proc

    def agent_alive_or_raise(self, i: int) -> bool:
        p = self.agents.get(i)
        if p is None or not p.alive():
            raise RuntimeError(f"bgpevpn vtep on vtep{i} is not running "
                               f"(exit {p.popen.returncode if p else None}); log tail:\n"
                               f"{self.tail(self.agent_paths(i)[3])}")
        return True

    def stop_agent(self, i: int, sig=signal.SIGTERM, timeout: float = 10) -> int | None:
        p = self.agents.get(i)
        return p.stop(sig, timeout=timeout) if p is not None else None

    def agent_status(self, i: int) -> dict:
        env = dict(os.environ)
        env["PYTHONPATH"] = _package_root()
        proc = subprocess.run([sys.executable, "-m", "bgpevpn", "vtep", "status", "--json",
                               "--socket", self.agent_paths(i)[1]], capture_output=True,
                              text=True, env=env, timeout=20, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"bgpevpn vtep status: exit {proc.returncode}: "
                               f"{proc.stderr.strip()}")
        return json.loads(proc.stdout)

    # data plane -------------------------------------------------------------------------
    def ping(self, ns: str, dst: str, count=1, wait=1) -> bool:
        r = run(["ip", "netns", "exec", ns, "ping", "-n", "-q", "-c", str(count), "-W",
                 str(wait), dst], check=False, timeout=count * wait + 10)
        return r.returncode == 0

    def fdb(self, i: int, dev: str) -> list:
        """``bridge -j fdb show dev <dev>`` of VTEP i."""
        out = run(["bridge", "-n", self.vtep_ns(i), "-j", "fdb", "show", "dev", dev]).stdout
        return json.loads(out) if out.strip() else []

    def bridge_fdb(self, i: int, br: str) -> list:
        out = run(["bridge", "-n", self.vtep_ns(i), "-j", "fdb", "show", "br", br]).stdout
        return json.loads(out) if out.strip() else []

    def evpn_paths(self, ns: str) -> dict:
        """FRR's ``show bgp l2vpn evpn route json`` of ``ns`` as
        ``{(prefix, route target): {peerId: path}}`` (own routes under "(unspec)")."""
        data = self.vtysh_json(ns, "show bgp l2vpn evpn route json")
        out: dict = {}
        for rd, entries in data.items():
            if not isinstance(entries, dict):
                continue
            for prefix, entry in entries.items():
                if not isinstance(entry, dict) or "paths" not in entry:
                    continue
                for group in entry["paths"]:
                    for path in (group if isinstance(group, list) else [group]):
                        ext = path.get("extendedCommunity", {}).get("string", "").split()
                        rts = [c[3:] for c in ext if c.startswith("RT:")]
                        path = dict(path, rd=rd, ext=ext)
                        out.setdefault((prefix, rts[0] if rts else None), {})[
                            path.get("peerId")] = path
        return out

    def expected_remote_routes(self, i: int) -> set:
        """The (prefix, route target) keys VTEP i should learn from the others."""
        keys = set()
        for j in self.vteps:
            if j == i:
                continue
            for vni in self.vnis:
                keys.add((f"[2]:[0]:[48]:[{host_mac(j, vni)}]", f"{ASN}:{vni}"))
                keys.add((f"[3]:[0]:[32]:[{vtep_ip(j)}]", f"{ASN}:{vni}"))
        return keys

    # evidence ---------------------------------------------------------------------------
    @staticmethod
    def tail(path: str, size: int = 6000) -> str:
        try:
            with open(path, "rb") as f:
                f.seek(0, 2)
                n = f.tell()
                f.seek(max(0, n - size))
                return f.read().decode("utf-8", "replace")
        except OSError as e:
            return f"({e})"

    def snapshot(self, name: str) -> str:
        """Write the state of every VTEP (FDBs, EVPN tables, sessions) and of
        both reflectors into ``<workdir>/<name>.txt``; returns the path."""
        path = self.log_path(f"{name}.txt")
        with open(path, "w") as f:
            def section(title, fn):
                f.write(f"==== {title}\n")
                try:
                    f.write(fn())
                except Exception as e:   # noqa: BLE001 - evidence only
                    f.write(f"({e!r})\n")
                f.write("\n")
            for i in self.vteps:
                ns = self.vtep_ns(i)
                for vni in self.vnis:
                    section(f"vtep{i} bridge fdb show dev vxlan{vni}",
                            lambda ns=ns, vni=vni: run(["bridge", "-n", ns, "fdb", "show",
                                                        "dev", f"vxlan{vni}"]).stdout)
                    section(f"vtep{i} show evpn mac vni {vni}",
                            lambda ns=ns, vni=vni: self.vtysh(ns, f"show evpn mac vni {vni}"))
                section(f"vtep{i} show bgp l2vpn evpn summary",
                        lambda ns=ns: self.vtysh(ns, "show bgp l2vpn evpn summary"))
                section(f"vtep{i} show bgp l2vpn evpn route json",
                        lambda ns=ns: self.vtysh(ns, "show bgp l2vpn evpn route json"))
            if self.rr2_running():
                section("rr2 show bgp l2vpn evpn summary",
                        lambda: self.vtysh(self.rr2_ns, "show bgp l2vpn evpn summary"))
                section("rr2 show bgp l2vpn evpn route",
                        lambda: self.vtysh(self.rr2_ns, "show bgp l2vpn evpn route"))
            for i in self.agent_vteps:
                section(f"vtep{i} bgpevpn vtep status --json",
                        lambda i=i: json.dumps(self.agent_status(i), indent=1))
            if self.rr1 is not None and self.rr1.alive():
                section("bgpevpn rr status --json", lambda: self.rr1_cli("status", "--json"))
                section("bgpevpn rr routes", lambda: self.rr1_cli("routes"))
        return path

    # lifecycle ----------------------------------------------------------------------------
    def setup(self) -> Fabric:
        self.build_network()
        self.start_vteps()
        return self

    def close(self) -> None:
        for p in reversed(self.procs):
            with contextlib.suppress(Exception):   # teardown goes on
                p.stop(timeout=3)
        # anything still alive inside our namespaces: these pids are ours
        remove_namespaces(self.namespaces)
        self.namespaces.clear()
        for d in self.rundirs:
            shutil.rmtree(d, ignore_errors=True)
        if os.path.exists(self.rr1_socket):
            try:
                os.unlink(self.rr1_socket)
            except OSError:
                pass


def addr_in(addr: str, net: str) -> bool:
    return ipaddress.ip_address(addr) in ipaddress.ip_network(net)
