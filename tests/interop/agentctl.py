"""Drive ``agent.py`` (our Speaker in the speaker namespace) from a test.

The agent's JSON lines are read by a thread into ``events``; tests wait on
them with ``wait`` (always bounded) and send commands with ``call``.
``rib()`` replays the events into the table a receiving speaker keeps
(RFC 4271 §9 replace/withdraw, RFC 4724 §4.2 stale marking and flushing),
so tests compare what the peer announced with what our side holds.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time

import bgpevpn

from .netns import Lab

AGENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "agent.py")


def _python_path() -> str:
    """The directory holding the ``bgpevpn`` this test process imported, so
    the agent runs exactly the same code (installed or checkout)."""
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(bgpevpn.__file__)))
    extra = os.environ.get("PYTHONPATH")
    return pkg_parent + (os.pathsep + extra if extra else "")


def route_key(r: dict) -> tuple:
    """Identity of an EVPN route (RFC 7432 §7: the fields that make it
    unique), from a ``to_dict()`` of ours; matches ``frr``/``gobgp`` keys."""
    t = r["route_type"]
    if t == 2:
        return (2, r["rd"], r["ethernet_tag"], r["mac"], r["ip"])
    if t == 3:
        return (3, r["rd"], r["ethernet_tag"], r["originator_ip"])
    return (t, r["rd"], json.dumps(r, sort_keys=True))


class AgentError(AssertionError):
    pass


class Agent:
    """Our speaker, running ``agent.py`` inside ``lab.speaker_ns``."""

    def __init__(self, lab: Lab, peer: str, *, local_as=65000, peer_as=65000, hold_time=9,
                 connect_retry_time=2, graceful_restart=None, mode="both", debug=False):
        self.lab = lab
        self.cfg = {"local_as": local_as, "router_id": lab.speaker_ip, "peer": peer,
                    "peer_as": peer_as, "listen": [lab.speaker_ip], "hold_time": hold_time,
                    "connect_retry_time": connect_retry_time,
                    "graceful_restart": graceful_restart, "mode": mode, "debug": debug}
        self.events: list = []
        self.replies: dict = {}
        self._cond = threading.Condition()
        self._next_id = 0
        self.proc = None
        self._transcript = open(lab.log_path("agent-events.jsonl"), "a")

    def start(self, timeout: float = 20) -> Agent:
        env = dict(os.environ)
        env["PYTHONPATH"] = _python_path()
        env["PYTHONUNBUFFERED"] = "1"
        stderr = open(self.lab.log_path("agent.log"), "ab")
        self.proc = self.lab.spawn("agent", self.lab.speaker_ns,
                                   [sys.executable, "-u", AGENT, json.dumps(self.cfg)],
                                   stdin=-1, stdout=-1, stderr=stderr, env=env, text=True)
        self.lab.cleanups.append(self.stop)
        threading.Thread(target=self._read, name="agent-reader", daemon=True).start()
        ready = self.wait("AgentReady", timeout=timeout)
        self.implementation = ready.get("implementation")
        self.module = ready.get("bgpevpn")
        mine = os.path.realpath(bgpevpn.__file__)
        if os.path.realpath(self.module) != mine:
            raise AgentError(f"the agent imported {self.module}, the tests {mine}")
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                obj = {"event": "AgentOutput", "text": line}
            obj["t"] = time.monotonic()
            self._transcript.write(json.dumps(obj) + "\n")
            self._transcript.flush()
            with self._cond:
                if "reply" in obj:
                    self.replies[obj["reply"]] = obj
                else:
                    self.events.append(obj)
                self._cond.notify_all()
        with self._cond:
            self.events.append({"event": "AgentExited", "t": time.monotonic()})
            self._cond.notify_all()

    def stderr_tail(self, size: int = 3000) -> str:
        try:
            with open(self.lab.log_path("agent.log"), "rb") as f:
                return f.read()[-size:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.proc.stdin.close()    # the agent closes the speaker and exits
        except OSError:
            pass
        try:
            self.proc.wait(8)
        except Exception:   # noqa: BLE001
            Lab.stop_process(self.proc, timeout=3)

    # events ------------------------------------------------------------------
    def mark(self) -> int:
        """Position after the events seen so far (for ``wait(since=...)``)."""
        with self._cond:
            return len(self.events)

    def wait(self, name: str, timeout: float, since: int = 0, pred=None) -> dict:
        """The first event called ``name`` (at index >= ``since``, matching
        ``pred``); raises AgentError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.events[since:]:
                    if e.get("event") == name and (pred is None or pred(e)):
                        return e
                left = deadline - time.monotonic()
                exited = self.events and self.events[-1].get("event") == "AgentExited"
                if exited:
                    raise AgentError(f"the agent exited before {name}; its stderr ends:\n"
                                     + self.stderr_tail())
                if left <= 0:
                    tail = "\n".join(json.dumps(e)[:300] for e in self.events[-15:])
                    raise AgentError(f"no {name} event within {timeout}s; last events:\n{tail}")
                self._cond.wait(min(left, 0.5))

    def find(self, name: str, since: int = 0) -> list:
        with self._cond:
            return [e for e in self.events[since:] if e.get("event") == name]

    def call(self, cmd: str, timeout: float = 30, **kw) -> dict:
        with self._cond:
            self._next_id += 1
            rid = self._next_id
        self.proc.stdin.write(json.dumps({"id": rid, "cmd": cmd, **kw}) + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        with self._cond:
            while rid not in self.replies:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AgentError(f"no reply to {cmd} within {timeout}s")
                self._cond.wait(min(left, 0.5))
            reply = self.replies.pop(rid)
        if not reply.get("ok"):
            raise AgentError(f"{cmd} failed in the agent: {reply.get('error')}\n"
                             f"{reply.get('traceback', '')}")
        return reply

    # conveniences --------------------------------------------------------------
    def established(self, timeout: float = 30, since: int = 0) -> dict:
        return self.wait("SessionEstablished", timeout, since)

    def announce(self, routes, attrs, next_hop) -> dict:
        return self.call("announce", routes=routes, attrs=attrs, next_hop=next_hop)

    def withdraw(self, routes) -> dict:
        return self.call("withdraw", routes=routes)

    def end_of_rib(self, families=None) -> dict:
        return self.call("eor", families=families)

    def close(self, message: str = "") -> dict:
        return self.call("close", message=message)

    def rib(self, until: int | None = None) -> dict:
        """Our view of the peer's routes: ``{route_key: entry}``, each entry
        the route's fields plus ``attributes``, ``next_hop`` and ``stale``."""
        with self._cond:
            events = list(self.events[:until])
        return replay_rib(events)


def replay_rib(events) -> dict:
    rib: dict = {}
    restarting = False
    for e in events:
        name = e.get("event")
        if name == "UpdateReceived":
            for r in e["withdrawn"]:
                rib.pop(route_key(r), None)
            for r in e["announced"]:
                entry = dict(r)
                entry.update(attributes=e["attributes"], next_hop=e["next_hop"], stale=False)
                rib[route_key(r)] = entry
        elif name == "PeerRestarting":
            restarting = True
            fams = {tuple(f) for f in e["families"]}
            if (25, 70) in fams:
                for entry in rib.values():
                    entry["stale"] = True
        elif name == "StaleRoutesFlushed":
            if tuple(e["family"]) == (25, 70):
                for k in [k for k, v in rib.items() if v["stale"]]:
                    del rib[k]
            restarting = False
        elif name == "SessionDown":
            if e.get("was_established") and not restarting:
                rib.clear()    # no graceful restart: the peer's routes go (RFC 4271 §9)
    return rib
