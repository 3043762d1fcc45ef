"""``bgpevpn vtep``: a VTEP agent for a Linux VXLAN fabric.

It ties the asyncio ``Speaker`` (sessions to the route reflectors), a
``Rib`` (their EVPN routes, best paths), ``VtepState`` (what to advertise
and what the kernel must hold, state.py) and ``Kernel`` (rtnetlink,
kernel.py) together, and serves a JSON status on a unix socket.

Lifecycle (docs/vtep.md):

- start: read VXLAN devices, bridge FDBs and neighbours; entries an
  earlier run installed (``extern_learn`` MACs and neighbours, flood
  entries from the state file) are kept as they are until the routes are
  back (every established peer sent End-of-RIB, or ``sync_timeout``), then
  what is no longer wanted goes: traffic to unchanged hosts never stops;
- run: react to netlink notifications (MACs learnt or gone, devices
  added or removed) and to best-path changes, as they happen;
- stop (SIGTERM): withdraw our routes (and a Cease), remove what we
  installed; with ``keep_state``, leave the kernel as it is and close the
  sessions without a NOTIFICATION, so that graceful-restart helpers (RFC
  4724) keep our routes until we are back.
"""
from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import signal
import time

from .. import wire
from ..aio import Speaker
from ..daemon import StatusSocket, query
from ..rib import Rib, Source
from ..session import events as ev
from ..session.config import GracefulRestartConfig
from ..session.fsm import State
from .kernel import FLOOD_MAC, NTF_SELF, FdbEntry, Kernel, Link, Neighbour, Resync
from .state import EVPN, VtepState

log = logging.getLogger("bgpevpn.vtep")

#: seconds between a change and the round of decisions it triggers
FLUSH_DELAY = 0.005
#: kernel operations per batch of netlink requests
KERNEL_BATCH = 4096


class VtepAgent:
    def __init__(self, cfg: dict, kernel: Kernel | None = None):
        self.cfg = cfg
        bgp, evpn = cfg["bgp"], cfg["evpn"]
        self.asn = bgp["asn"]
        self.router_id = bgp["router_id"]
        self.source = str(ipaddress.ip_address(bgp["source"]))
        self.keep_state = bool(evpn.get("keep_state", False))
        self.sync_timeout = float(evpn.get("sync_timeout", 30))
        self.state_file = evpn.get("state_file")
        self.state = VtepState(self.asn, self.router_id, self.source, evpn["rt"],
                               cfg.get("vnis"), evpn["advertise_all_vni"],
                               bool(evpn.get("arp_suppression", False)))
        self.kernel = kernel or Kernel()
        self.rib = Rib(import_policy=self._import)
        self.rib.on_change(self._on_change)
        self.speaker = None
        self.sources: dict = {}         # peer address -> Source
        self.up_since: dict = {}
        self.initialized: set = set()   # peers that have our full table
        self.eor: set = set()           # peers whose End-of-RIB (EVPN) came
        self.synced = False
        self.started = time.time()
        self._ops: asyncio.Queue | None = None
        self._flush_handle = None
        self._release_pending = False   # the next round reviews the earlier run's entries
        self._tasks: list = []
        self._stopping = asyncio.Event()
        self._closing = False
        self._status = StatusSocket(cfg.get("status", {}).get("socket"), self._answer)
        self._vni_devices: dict = {}    # vni -> (vxlan ifindex, bridge ifindex), last known
        self._suppress_on: set = set()  # vxlan ifindexes we turned neigh_suppress on for
        self._state_dirty = False
        self.counters = {"kernel_ops": 0, "announced": 0, "withdrawn": 0, "resyncs": 0}

    # -- the RIB ----------------------------------------------------------------------
    def _import(self, source, family, path):
        if family != EVPN:
            return None
        if path.attrs.originator_id == self.router_id:
            return None    # RFC 4456 §8: our own route, reflected back
        return path

    def _on_change(self, change) -> None:
        if change.family == EVPN:
            self.state.rib_change(change)
            self._schedule()

    def _source(self, peer) -> Source:
        src = self.sources.get(peer.address)
        neg = peer.negotiated
        if src is None or (neg is not None and src.router_id != neg.peer_id):
            src = Source(peer.address, peer.address, neg.peer_id if neg else "0.0.0.0",
                         neg.peer_as if neg else self.asn)
            self.sources[peer.address] = src
        return src

    def _on_event(self, peer, event) -> None:
        if isinstance(event, ev.UpdateReceived):
            self.rib.apply_event(self._source(peer), event)
        elif isinstance(event, ev.EndOfRibReceived):
            if event.family == EVPN:
                self.eor.add(peer.address)
                src = self.sources.get(peer.address)
                if src is not None:
                    self.rib.flush_stale(src, EVPN)
                self._check_synced()
        elif isinstance(event, ev.SessionEstablished):
            self.up_since[peer.address] = time.time()
            log.info("peer %s up (AS %s, id %s)", peer.address, event.negotiated.peer_as,
                     event.negotiated.peer_id)
            self._send_table(peer)
        elif isinstance(event, ev.SessionDown):
            self.up_since.pop(peer.address, None)
            self.initialized.discard(peer.address)
            self.eor.discard(peer.address)
            log.info("peer %s down: %s", peer.address, event.reason)
            if not event.graceful_restart:
                src = self.sources.pop(peer.address, None)
                if src is not None:
                    self.rib.drop_source(src)
        elif isinstance(event, ev.PeerRestarting):
            src = self.sources.get(peer.address)
            if src is not None:
                for fam in event.families:
                    self.rib.mark_stale(src, fam)
        elif isinstance(event, ev.StaleRoutesFlushed):
            src = self.sources.get(peer.address)
            if src is not None:
                self.rib.flush_stale(src, event.family)
        elif isinstance(event, ev.RouteRefreshReceived) and event.subtype == 0 \
                and event.family == EVPN and peer.address in self.initialized:
            # RFC 2918: advertise our routes again
            self._write(peer, self._encode(list(self.state.advertised.items()), [])(peer))

    def _check_synced(self) -> None:
        if self.synced:
            return
        up = {a for a, p in self.speaker.peers.items() if p.state == State.ESTABLISHED}
        if up and up <= self.eor:
            self._release("End-of-RIB from every established peer")

    def _release(self, why: str) -> None:
        if self.synced:
            return
        self.synced = True
        n = len(self.state.held)
        if n:
            log.info("synchronised (%s): %d entries of the previous run reviewed", why, n)
        self._schedule(release=True)

    # -- deciding and applying ------------------------------------------------------------
    def _schedule(self, release: bool = False) -> None:
        if self._closing:
            return     # stopping: no new decisions (they would race the cleanup)
        if release:
            self._release_pending = True
        if self._flush_handle is None:
            # a few milliseconds: a burst of netlink notifications (one datagram
            # per loop iteration) or of UPDATEs becomes one decision round and
            # UPDATEs packed full, not one per MAC
            self._flush_handle = asyncio.get_running_loop().call_later(FLUSH_DELAY, self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        release, self._release_pending = self._release_pending, False
        self._apply_vni_settings()
        announce, withdraw, ops = self.state.reconcile(release_held=release)
        for op in ops:
            self._ops.put_nowait(op)
        if ops:
            self._state_dirty = True
        if announce or withdraw:
            self.counters["announced"] += len(announce)
            self.counters["withdrawn"] += len(withdraw)
            data = self._encode(announce, withdraw)
            for addr in list(self.initialized):
                peer = self.speaker.peers.get(addr)
                if peer is not None and peer.state == State.ESTABLISHED:
                    self._write(peer, data(peer))

    def _encode(self, announce, withdraw):
        """A function of the peer giving the UPDATEs for these changes."""
        groups: dict = {}
        for route, attrs in announce:
            groups.setdefault(attrs, []).append(route)

        def for_peer(peer) -> bytes:
            ctx = peer.session.tx_context
            msgs = []
            if withdraw:
                msgs += wire.pack_updates(withdraw, (), None, ctx, withdraw=True)
            for attrs, routes in groups.items():
                msgs += wire.pack_updates(routes, list(attrs), self.source, ctx)
            return b"".join(msgs)
        return for_peer

    def _write(self, peer, data: bytes) -> None:
        if data:
            # the write itself happens synchronously when the task first runs;
            # tasks run in creation order, so UPDATEs keep their order
            self._tasks.append(asyncio.ensure_future(self._send(peer, data)))
            self._tasks = [t for t in self._tasks if not t.done()]

    async def _send(self, peer, data: bytes) -> None:
        try:
            await peer.send_raw(data)
        except Exception as e:   # noqa: BLE001 - the session went down meanwhile
            log.debug("send to %s failed: %s", peer.address, e)

    def _send_table(self, peer) -> None:
        announce = list(self.state.advertised.items())
        data = self._encode(announce, [])(peer) + wire.end_of_rib(*EVPN)
        self.initialized.add(peer.address)
        self._write(peer, data)

    def _apply_vni_settings(self) -> None:
        for vni, v in self.state.vnis.items():
            if self._vni_devices.get(vni) != (v.ifindex, v.bridge):
                log.info("VNI %s: %s in bridge %s, RD %s, export %s", vni, v.device,
                         v.bridge_name, v.rd, " ".join(str(r) for r in v.export_rts))
            self._vni_devices[vni] = (v.ifindex, v.bridge)
            if v.arp_suppression and v.ifindex not in self._suppress_on:
                self._suppress_on.add(v.ifindex)
                self._ops.put_nowait(("suppress", v.ifindex, True))

    async def _kernel_worker(self) -> None:
        """Applies the decided operations in order, as many as are waiting in
        one batch of netlink requests (the kernel handles them in order)."""
        while True:
            batch = [await self._ops.get()]
            while len(batch) < KERNEL_BATCH and not self._ops.empty():
                batch.append(self._ops.get_nowait())
            try:
                await self._apply_all(batch)
            except Exception:   # noqa: BLE001 - one bad batch must not stop the agent
                log.exception("kernel operations failed")
            finally:
                for _ in batch:
                    self._ops.task_done()

    async def _apply_all(self, ops) -> None:
        requests = []
        for op in ops:
            if op[0] == "suppress":
                await self.kernel.submit(requests)
                requests = []
                await self.kernel.set_neigh_suppress(op[1], op[2])
            else:
                requests += self._requests(op)
        self.counters["kernel_ops"] += len(ops)
        await self.kernel.submit(requests)

    def _requests(self, op) -> list:
        k = self.kernel
        dev = self._vni_devices.get(op[1])
        if dev is None:
            return []
        vxlan, bridge = dev
        kind = op[0]
        if kind == "mac":
            _, vni, mac, vtep, old = op
            if vtep is not None:
                return [k.remote_mac(vxlan, mac, vtep)]
            return [k.remote_mac_delete(vxlan, mac), k.bridge_entry_delete(vxlan, mac)]
        if kind == "steer":
            return [k.steer(vxlan, op[2])]
        if kind == "flood":
            _, vni, vtep, add = op
            return [k.flood(vxlan, vtep) if add else k.flood_delete(vxlan, vtep)]
        if kind == "neigh":
            _, vni, ip, mac = op
            return [k.neighbour(bridge, ip, mac) if mac is not None
                    else k.neighbour_delete(bridge, ip)]
        raise ValueError(f"unknown kernel operation {op!r}")

    async def settled(self) -> None:
        """Wait until every decided kernel change is applied (tests, benchmarks)."""
        while self._flush_handle is not None or not self._ops.empty():
            await asyncio.sleep(0)
            await self._ops.join()

    # -- the kernel's side ------------------------------------------------------------------
    async def _read_kernel(self, first: bool) -> None:
        links = await self.kernel.links()
        if not first:
            known = set(self.state.links)
            for idx in known - {l.index for l in links}:
                self.state.set_link(self.state.links[idx]._replace(deleted=True))
        for link in links:
            self.state.set_link(link)
        self._apply_vni_settings()
        fdb = await self.kernel.fdb()
        floods = self._load_state_file() if first else {}
        if not first:
            # what the dropped notifications would have removed: every entry
            # recorded but absent from the dump
            present = {(e.master, e.mac) for e in fdb if e.master}
            for key, rec in list(self.state._bridge_fdb.items()):
                if key not in present:
                    self.state.fdb_entry(rec._replace(deleted=True))
        for e in fdb:
            v = self.state.vni_of_device(e.ifindex)
            if first and v is not None and not e.master and e.dst:
                if e.mac == FLOOD_MAC:
                    if e.dst in floods.get(str(v.vni), ()):
                        self.state.hold("flood", v.vni, e.dst)
                elif e.extern_learn and e.flags & NTF_SELF:
                    self.state.hold("mac", (v.vni, e.mac), e.dst)
            self.state.fdb_entry(e)
        neighbours = await self.kernel.neighbours()
        if not first:
            present = {(n.ifindex, n.ip) for n in neighbours}
            for key, rec in list(self.state._bridge_neigh.items()):
                if key not in present:
                    self.state.neighbour(rec._replace(deleted=True))
        for n in neighbours:
            vni = self.state.by_bridge.get(n.ifindex)
            if first and vni is not None and n.extern_learn and n.mac:
                self.state.hold("neigh", (vni, n.ip), n.mac)
            self.state.neighbour(n)
        self._schedule()

    async def _watch_kernel(self) -> None:
        async for item in self.kernel.events():
            if isinstance(item, FdbEntry):
                self.state.fdb_entry(item)
            elif isinstance(item, Neighbour):
                self.state.neighbour(item)
            elif isinstance(item, Link):
                self.state.set_link(item)
            elif isinstance(item, Resync):
                self.counters["resyncs"] += 1
                log.warning("%s: reading the kernel state again", item.reason)
                await self._read_kernel(first=False)
            self._schedule()

    # -- the state file (flood entries carry no extern_learn flag) -----------------------
    def _load_state_file(self) -> dict:
        if not self.state_file:
            return {}
        try:
            with open(self.state_file) as f:
                data = json.load(f)
            return data.get("floods", {}) if isinstance(data, dict) else {}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            log.warning("state file %s unreadable (%s): flood entries of an earlier run are "
                        "left alone", self.state_file, e)
            return {}

    def _save_state_file(self) -> None:
        if not self.state_file:
            return
        data = {"router_id": self.router_id, "time": time.time(),
                "floods": {str(v): sorted(s) for v, s in self.state.floods_installed.items()}}
        tmp = self.state_file + ".tmp"
        try:
            with open(tmp, "w") as f:
                json.dump(data, f)
            os.replace(tmp, self.state_file)
        except OSError as e:
            log.warning("cannot write state file %s: %s", self.state_file, e)

    async def _state_saver(self) -> None:
        while True:
            await asyncio.sleep(1)
            if self._state_dirty:
                self._state_dirty = False
                self._save_state_file()

    # -- status ---------------------------------------------------------------------------
    def status(self) -> dict:
        peers = []
        for addr, p in sorted(self.speaker.peers.items()):
            src = self.sources.get(addr)
            up = self.up_since.get(addr)
            peers.append({"address": addr, "state": p.state.value,
                          "peer_as": p.negotiated.peer_as if p.negotiated else None,
                          "router_id": p.negotiated.peer_id if p.negotiated else None,
                          "uptime": round(time.time() - up, 1) if up else None,
                          "routes_received": sum(len(r) for r in
                                                 self.rib.adj_in.get(src, {}).values())
                          if src else 0,
                          "end_of_rib": addr in self.eor})
        return {"asn": self.asn, "router_id": self.router_id, "source": self.source,
                "uptime": round(time.time() - self.started, 1), "synchronised": self.synced,
                "held_entries": len(self.state.held), "peers": peers,
                "routes_advertised": len(self.state.advertised),
                "mac_moves": self.state.moves, "ignored_routes": dict(self.state.ignored),
                "counters": dict(self.counters),
                "vnis": [self.state.vni_view(v) for v in sorted(self.state.vnis)]}

    def _answer(self, line: str):
        """A status socket command (only ``status``)."""
        if (line or "status") == "status":
            return self.status()
        return {"error": f"unknown command {line!r} (status)"}

    # -- lifecycle --------------------------------------------------------------------------
    def _make_speaker(self, restarting: bool) -> Speaker:
        bgp = self.cfg["bgp"]
        gr = None
        if bgp.get("graceful_restart", True):
            # R and F bits when an earlier run left its entries in the kernel
            # (RFC 4724 §3): helpers then keep our routes until our End-of-RIB
            gr = GracefulRestartConfig(restart_time=int(bgp.get("restart_time", 120)),
                                       restarting=restarting,
                                       preserved=(EVPN,) if restarting else ())
        sp = Speaker(self.asn, self.router_id, families=(EVPN,),
                     port=int(bgp.get("port", 179)), hold_time=int(bgp.get("hold_time", 90)),
                     connect_retry_time=float(bgp.get("connect_retry", 30)),
                     graceful_restart=gr, hostname=bgp.get("hostname"))
        for p in self.cfg["peers"]:
            sp.add_peer(p["address"], peer_as=p.get("peer_as", self.asn),
                        mode=p.get("mode", "both"), port=p.get("port"), md5=p.get("md5"),
                        local_address=p.get("local_address"),
                        on_event=self._on_event)
        return sp

    async def start(self) -> None:
        self._ops = asyncio.Queue()
        await self.kernel.open()
        await self._read_kernel(first=True)
        restarting = bool(self.state.held)
        if restarting:
            log.info("%d entries of an earlier run found in the kernel: kept until the "
                     "routes are back", len(self.state.held))
        self.speaker = self._make_speaker(restarting)
        self._tasks += [asyncio.ensure_future(self._kernel_worker()),
                        asyncio.ensure_future(self._watch_kernel()),
                        asyncio.ensure_future(self._state_saver())]
        self._long = self._tasks[:3]
        await self.speaker.start()
        await self._status.start()
        asyncio.get_running_loop().call_later(
            self.sync_timeout, self._release, f"{self.sync_timeout:g} s after start")
        log.info("VTEP %s AS %s id %s: VNIs %s; peers %s", self.source, self.asn,
                 self.router_id, " ".join(map(str, sorted(self.state.vnis))) or "none",
                 " ".join(p["address"] for p in self.cfg["peers"]))

    async def stop(self) -> None:
        self._closing = True
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        watcher = self._long[1]
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        self._status.close()
        if self.keep_state:
            log.info("stopping; kernel entries and routes kept (graceful restart)")
            await self.speaker.close(notify=False)
            self._save_state_file()
        else:
            log.info("stopping: withdrawing %d routes, removing what we installed",
                     len(self.state.advertised))
            withdraw = list(self.state.advertised)
            if withdraw:
                for addr in list(self.initialized):
                    peer = self.speaker.peers.get(addr)
                    if peer is not None and peer.state == State.ESTABLISHED:
                        self._write(peer, self._encode([], withdraw)(peer))
            await asyncio.gather(*[t for t in self._tasks if t not in self._long],
                                 return_exceptions=True)
            await self.speaker.close("VTEP agent shutting down")
            await self._ops.join()
            await self._clean_kernel()
            if self.state_file:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.state_file)
        for t in self._long:
            t.cancel()
        await asyncio.gather(*self._long, return_exceptions=True)
        await self.kernel.close()

    async def _clean_kernel(self) -> None:
        st = self.state
        ops = [("mac", vni, mac, None, vtep) for (vni, mac), vtep in st.macs_installed.items()]
        ops += [("flood", vni, vtep, False) for vni, vteps in st.floods_installed.items()
                for vtep in vteps]
        ops += [("neigh", vni, ip, None) for (vni, ip) in st.neigh_installed]
        ops += [("suppress", ifindex, False) for ifindex in self._suppress_on]
        await self._apply_all(ops)
        st.macs_installed.clear()
        st.floods_installed.clear()
        st.neigh_installed.clear()

    async def run(self) -> None:
        await self.start()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stopping.set)
        loop.add_signal_handler(signal.SIGINT, self._stopping.set)
        await self._stopping.wait()
        await self.stop()


__all__ = ["VtepAgent", "query"]
