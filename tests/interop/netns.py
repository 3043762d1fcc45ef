"""Network namespaces, veth pairs and the processes started inside them.

A ``Lab`` is one test's private world: two namespaces (``<prefix>-r`` for
the router under test, ``<prefix>-s`` for our speaker) joined by one veth
pair, each with ``lo`` up, IPv6 off (no router solicitations or DAD noise),
and the addresses ``ROUTER_IP``/``SPEAKER_IP`` (198.51.100.0/24, TEST-NET-2)
on ``eth0``.  Nothing is configured in the root namespace: the veth pair is
created inside the router namespace with its peer end moved straight into
the speaker namespace.

Every process a test starts goes through ``Lab.spawn`` and is recorded;
``Lab.close`` (a fixture finalizer, so it runs on failure too) wakes
stopped processes, terminates and kills them by pid, kills whatever else is
still inside the two namespaces (only those namespaces, which this run
created), and deletes the namespaces.
"""
from __future__ import annotations

import atexit
import itertools
import os
import shutil
import signal
import subprocess
import time
import uuid

ROUTER_IP = "198.51.100.1"
SPEAKER_IP = "198.51.100.2"
PREFIXLEN = 24

_counter = itertools.count(1)
RUN_ID = uuid.uuid4().hex[:6]


def run(args, *, check=True, timeout=20, input=None) -> subprocess.CompletedProcess:
    """Run a command (a list), capture text output, bounded by ``timeout``."""
    proc = subprocess.run(args, input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed ({proc.returncode}): "
                           f"{proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def remove_namespaces(namespaces) -> None:
    """Kill what still runs inside ``namespaces`` (created by the caller, so
    every pid in them is its own) and delete them, retrying once."""
    for ns in namespaces:
        r = run(["ip", "netns", "pids", ns], check=False, timeout=10)
        for pid in r.stdout.split():
            try:
                os.kill(int(pid), signal.SIGCONT)
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
    for ns in reversed(list(namespaces)):
        r = run(["ip", "netns", "del", ns], check=False, timeout=10)
        if r.returncode != 0:
            time.sleep(0.5)
            run(["ip", "netns", "del", ns], check=False, timeout=10)


def unavailable_reason(binaries=()) -> str | None:
    """Why the interop tests cannot run here (None when they can)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "interop tests need root (network namespaces)"
    if shutil.which("ip") is None:
        return "iproute2 'ip' not installed"
    for b in binaries:
        if not (os.path.isabs(b) and os.access(b, os.X_OK)) and shutil.which(b) is None:
            return f"{b} not installed"
    return netns_unavailable_reason(f"bgpevpn-probe-{RUN_ID}-{os.getpid()}")


def netns_unavailable_reason(probe: str) -> str | None:
    """Why network namespaces cannot be created here (None when they can)."""
    try:
        r = run(["ip", "netns", "add", probe], check=False, timeout=10)
        if r.returncode != 0:
            return f"'ip netns add' does not work here: {r.stderr.strip()}"
    finally:
        run(["ip", "netns", "del", probe], check=False, timeout=10)
    return None


def wait_until(pred, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll ``pred()`` until it returns a true value (returned) or raise."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = pred()
            if value:
                return value
        except Exception as e:   # noqa: BLE001 - retried until the deadline
            last_exc = e
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_exc!r})" if last_exc is not None else ""
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(interval)


def wait_value(fetch, ok, timeout: float, what: str):
    """Poll ``fetch()`` until ``ok(value)``; return that value or raise."""
    box = {}

    def probe():
        box["v"] = fetch()
        return ok(box["v"])
    wait_until(probe, timeout, what=what)
    return box["v"]


class Lab:
    """Two namespaces and a veth pair between them, for one test."""

    #: labs not closed yet; closed at interpreter exit as a last resort
    open_labs: set = set()

    def __init__(self, workdir):
        self.prefix = f"bgpevpn-{RUN_ID}-{os.getpid()}-{next(_counter)}"
        self.router_ns = f"{self.prefix}-r"
        self.speaker_ns = f"{self.prefix}-s"
        self.workdir = str(workdir)
        self.router_ip = ROUTER_IP
        self.speaker_ip = SPEAKER_IP
        self.procs: list = []        # (name, Popen)
        self.namespaces: list = []
        self.cleanups: list = []     # callables run first at close
        self.captures: list = []

    # setup ---------------------------------------------------------------
    def setup(self) -> Lab:
        Lab.open_labs.add(self)
        for ns in (self.router_ns, self.speaker_ns):
            run(["ip", "netns", "add", ns])
            self.namespaces.append(ns)
            # (a kernel without IPv6 has no such files: then there is nothing to silence)
            self.ns_exec(ns, ["sh", "-c", "for f in all default; do echo 1 > "
                              "/proc/sys/net/ipv6/conf/$f/disable_ipv6; done"], check=False)
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", self.router_ns, "link", "add", "eth0", "type", "veth",
             "peer", "name", "eth0", "netns", self.speaker_ns])
        for ns, ip in ((self.router_ns, self.router_ip), (self.speaker_ns, self.speaker_ip)):
            run(["ip", "-n", ns, "addr", "add", f"{ip}/{PREFIXLEN}", "dev", "eth0"])
            run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        if os.environ.get("BGPEVPN_INTEROP_PCAP"):
            self.capture()
        return self

    def ns_exec(self, ns, args, **kw) -> subprocess.CompletedProcess:
        return run(["ip", "netns", "exec", ns, *args], **kw)

    def spawn(self, name: str, ns: str, args, *, stdout=None, stderr=None, stdin=None,
              env=None, text=False) -> subprocess.Popen:
        """Start ``args`` inside ``ns`` (``ip netns exec`` execs it, so the
        Popen pid is the program's pid) and record it for teardown."""
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *args], stdout=stdout,
                                stderr=stderr, stdin=stdin, env=env, text=text,
                                start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def log_path(self, name: str) -> str:
        return os.path.join(self.workdir, name)

    def capture(self) -> None:
        """tcpdump (or dumpcap) on the speaker side's eth0 into the work
        directory (BGPEVPN_INTEROP_PCAP=1), for wire evidence."""
        path = self.log_path("bgp.pcap")
        if shutil.which("tcpdump"):
            args = ["tcpdump", "-U", "-B", "131072", "-s", "0", "-i", "eth0", "-w", path,
                    "tcp port 179"]
        elif shutil.which("dumpcap"):
            args = ["dumpcap", "-q", "-i", "eth0", "-f", "tcp port 179", "-w", path]
        else:
            return
        err = open(self.log_path("capture.log"), "wb")
        proc = self.spawn("capture", self.speaker_ns, args, stdout=err, stderr=err)
        self.captures.append(proc)
        time.sleep(0.5)

    # process control -----------------------------------------------------
    @staticmethod
    def signal(proc: subprocess.Popen, sig) -> None:
        if proc.poll() is None:
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                pass

    @classmethod
    def stop_process(cls, proc: subprocess.Popen, timeout: float = 5) -> None:
        """SIGCONT (it may be frozen), SIGTERM, then SIGKILL after ``timeout``."""
        if proc.poll() is not None:
            return
        cls.signal(proc, signal.SIGCONT)
        cls.signal(proc, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            cls.signal(proc, signal.SIGKILL)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    # teardown ------------------------------------------------------------
    def close(self) -> None:
        errors = []
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:   # noqa: BLE001 - teardown goes on
                errors.append(e)
        if self.captures:
            time.sleep(1.2)    # libpcap hands over packets in blocks: let the last one through
        for cap in self.captures:
            self.signal(cap, signal.SIGINT)
            try:
                cap.wait(3)
            except subprocess.TimeoutExpired:
                pass
        for _name, proc in reversed(self.procs):
            self.stop_process(proc, timeout=3)
        # anything still alive inside our namespaces (e.g. a daemon that
        # forked): these namespaces were created by this test, so are its pids
        remove_namespaces(self.namespaces)
        self.namespaces.clear()
        Lab.open_labs.discard(self)
        if errors:
            raise errors[0]


@atexit.register
def _close_leftover_labs() -> None:
    for lab in list(Lab.open_labs):
        try:
            lab.close()
        except Exception:   # noqa: BLE001 - best effort at exit
            pass
