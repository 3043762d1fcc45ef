"""``bgpevpn rr``: a route-reflector daemon for an EVPN/VXLAN fabric.

It ties the asyncio ``Speaker`` (sessions), the ``Rib`` (Adj-RIB-In,
Loc-RIB, decision process) and ``RouteReflector``/``UpdateGroups`` (RFC 4456
and encoding once per update group) together, and adds a TOML config,
SIGHUP reload and a local JSON status socket.

Config (TOML)::

    [bgp]
    asn = 65000
    router_id = "203.0.113.254"
    cluster_id = "203.0.113.254"      # default: router_id
    listen = ["203.0.113.254"]        # addresses to accept connections on
    port = 179
    hold_time = 90
    families = ["l2vpn/evpn"]         # also ipv4/unicast, ipv6/unicast
    graceful_restart = true

    [[neighbors]]                     # static neighbours
    address = "203.0.113.1"
    peer_as = 65000
    client = true                     # a route-reflector client
    mode = "both"                     # active | passive | both
    md5 = "secret"                    # optional (RFC 2385)

    [[listen_ranges]]                 # dynamic neighbours (passive)
    prefix = "203.0.113.0/24"
    peer_as = 65000
    client = true

    [status]
    socket = "/run/bgpevpn-rr.sock"   # JSON status and routes
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import time

from .aio import Speaker
from .daemon import StatusSocket, bgp_section, peer_entry, query, read_toml
from .notation import format_route
from .rib import Rib, Source
from .rib.reflect import RouteReflector, UpdateGroups
from .session import events as ev
from .session.config import GracefulRestartConfig
from .session.fsm import State

log = logging.getLogger("bgpevpn.rr")

_FAMILIES = {"l2vpn/evpn": (25, 70), "ipv4/unicast": (1, 1), "ipv6/unicast": (2, 1)}


class ConfigError(ValueError):
    pass


def load_config(path: str) -> dict:
    return validate_config(read_toml(path, ConfigError))


def validate_config(cfg: dict) -> dict:
    bgp = bgp_section(cfg, ConfigError)
    try:
        if "cluster_id" in bgp:
            ipaddress.IPv4Address(bgp["cluster_id"])
        fams = [_FAMILIES[f] for f in bgp.get("families", ["l2vpn/evpn"])]
    except (ValueError, KeyError) as e:
        raise ConfigError(f"[bgp]: {e}") from None
    bgp["_families"] = tuple(fams)
    for n in cfg.get("neighbors", []):
        peer_entry(n, "neighbors", ConfigError)
    for r in cfg.get("listen_ranges", []):
        try:
            ipaddress.ip_network(r["prefix"])
        except (KeyError, ValueError) as e:
            raise ConfigError(f"[[listen_ranges]]: {e}") from None
    return cfg


class _Out:
    """What UpdateGroups needs of an established peer."""
    __slots__ = ("peer", "source", "context")

    def __init__(self, peer, source):
        self.peer, self.source, self.context = peer, source, peer.session.tx_context


class RouteReflectorDaemon:
    def __init__(self, cfg: dict, config_path: str | None = None):
        self.cfg = cfg
        self.config_path = config_path
        bgp = cfg["bgp"]
        self.asn = bgp["asn"]
        self.router_id = bgp["router_id"]
        self.families = bgp["_families"]
        gr = GracefulRestartConfig(restart_time=int(bgp.get("restart_time", 120))) \
            if bgp.get("graceful_restart", True) else None
        self.speaker = Speaker(self.asn, self.router_id, families=self.families,
                               listen=tuple(bgp.get("listen", ())), port=int(bgp.get("port", 179)),
                               hold_time=int(bgp.get("hold_time", 90)), graceful_restart=gr,
                               hostname=bgp.get("hostname"))
        self.rib = Rib()
        self.reflector = RouteReflector(self.router_id, bgp.get("cluster_id"))
        self.groups = UpdateGroups(self.reflector)
        self.sources: dict = {}        # peer address -> Source
        self.clients: dict = {}        # peer address -> bool
        self.up_since: dict = {}
        self._pending: list = []
        self._flush_handle = None
        self._stopping = asyncio.Event()
        self._status = StatusSocket(cfg.get("status", {}).get("socket"), self._answer)
        self.started = time.time()

    # configuration -----------------------------------------------------------
    def _add_neighbor(self, n: dict) -> None:
        addr = str(ipaddress.ip_address(n["address"]))
        self.clients[addr] = bool(n.get("client", True))
        self.speaker.add_peer(addr, peer_as=n.get("peer_as", self.asn),
                              mode=n.get("mode", "both"), port=n.get("port"),
                              md5=n.get("md5"), local_address=n.get("local_address"),
                              on_event=self._on_event)

    def configure(self) -> None:
        for n in self.cfg.get("neighbors", []):
            self._add_neighbor(n)
        for r in self.cfg.get("listen_ranges", []):
            self.speaker.add_listen_range(r["prefix"], peer_as=r.get("peer_as", self.asn),
                                          md5=r.get("md5"), on_event=self._on_event)
        self._range_client = {str(ipaddress.ip_network(r["prefix"])): bool(r.get("client", True))
                              for r in self.cfg.get("listen_ranges", [])}

    async def reload(self) -> None:
        """SIGHUP: re-read the config; add new neighbours, stop removed ones;
        sessions of unchanged neighbours are left alone."""
        try:
            cfg = load_config(self.config_path)
        except ConfigError as e:
            log.error("reload failed, keeping the running config: %s", e)
            return
        old = {str(ipaddress.ip_address(n["address"])): n for n in self.cfg.get("neighbors", [])}
        new = {str(ipaddress.ip_address(n["address"])): n for n in cfg.get("neighbors", [])}
        for addr in old.keys() - new.keys():
            peer = self.speaker.peers.pop(addr, None)
            if peer is not None:
                log.info("reload: removing neighbour %s", addr)
                await peer.stop("neighbour removed from configuration")
                self._peer_gone(addr)
        for addr, n in new.items():
            if addr not in old:
                log.info("reload: adding neighbour %s", addr)
                self._add_neighbor(n)
            elif n != old[addr]:
                log.info("reload: neighbour %s changed; restarting its session", addr)
                peer = self.speaker.peers.pop(addr, None)
                if peer is not None:
                    await peer.stop("neighbour configuration changed")
                    self._peer_gone(addr)
                self._add_neighbor(n)
        self.cfg["neighbors"] = cfg.get("neighbors", [])
        self.cfg["listen_ranges"] = cfg.get("listen_ranges", [])

    # sessions and routes ---------------------------------------------------------
    def _source(self, peer) -> Source:
        src = self.sources.get(peer.address)
        neg = peer.negotiated
        if src is None or (neg is not None and src.router_id != neg.peer_id):
            client = self.clients.get(peer.address)
            if client is None:
                client = any(ipaddress.ip_address(peer.address) in ipaddress.ip_network(p)
                             for p, c in self._range_client.items() if c)
            src = Source(peer.address, peer.address, neg.peer_id if neg else "0.0.0.0",
                         neg.peer_as if neg else self.asn,
                         ebgp=(neg.peer_as != self.asn) if neg else False, client=client)
            self.sources[peer.address] = src
        return src

    def _on_event(self, peer, event) -> None:
        if isinstance(event, ev.UpdateReceived):
            if event.announced and not self.reflector.accept(event.attributes):
                # RFC 4456 §8: our own route came back: drop it (withdrawals still apply)
                log.debug("peer %s: %d looped routes dropped", peer.address, len(event.announced))
                event = ev.UpdateReceived(event.update, [], event.withdrawn, event.attributes,
                                          event.error, event.discarded, event.next_hop)
            changes = self.rib.apply_event(self._source(peer), event)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("peer %s: +%d -%d routes, %d best-path changes%s", peer.address,
                          len(event.announced), len(event.withdrawn), len(changes),
                          f" ({event.error.reason})" if event.error is not None else "")
            self._schedule(changes)
        elif isinstance(event, ev.EndOfRibReceived):
            # RFC 4724 §4.2: after a restart, what the peer did not announce again
            # is gone (the session does it too; this also covers a session object
            # that was replaced while the peer was away)
            src = self.sources.get(peer.address)
            if src is not None:
                changes = self.rib.flush_stale(src, event.family)
                if changes:
                    log.info("peer %s: End-of-RIB %s, %d stale routes removed", peer.address,
                             event.family, len(changes))
                self._schedule(changes)
        elif isinstance(event, ev.SessionEstablished):
            self.up_since[peer.address] = time.time()
            src = self._source(peer)
            log.info("peer %s up (AS %s, id %s, %s)", peer.address, src.asn, src.router_id,
                     "client" if src.client else "non-client")
            asyncio.ensure_future(self._send_table(peer))
        elif isinstance(event, ev.SessionDown):
            self.up_since.pop(peer.address, None)
            log.info("peer %s down: %s", peer.address, event.reason)
            if not event.graceful_restart:
                self._peer_gone(peer.address)
        elif isinstance(event, ev.PeerRestarting):
            src = self.sources.get(peer.address)
            if src is not None:
                for fam in event.families:
                    n = self.rib.mark_stale(src, fam)
                    log.info("peer %s restarting: %d routes of %s kept stale", peer.address, n,
                             fam)
        elif isinstance(event, ev.StaleRoutesFlushed):
            src = self.sources.get(peer.address)
            if src is not None:
                changes = self.rib.flush_stale(src, event.family)
                log.info("peer %s: %s: %d stale routes removed", peer.address, event.reason,
                         len(changes))
                self._schedule(changes)
        elif isinstance(event, ev.RouteRefreshReceived) and event.subtype == 0:
            asyncio.ensure_future(self._refresh(peer, event.family))

    def _peer_gone(self, addr) -> None:
        src = self.sources.pop(addr, None)
        if src is not None:
            self._schedule(self.rib.drop_source(src))

    def _outs(self) -> list:
        outs = []
        for p in self.speaker.peers.values():
            if p.state == State.ESTABLISHED:
                outs.append(_Out(p, self._source(p)))
        return outs

    def _schedule(self, changes) -> None:
        if not changes:
            return
        self._pending.extend(changes)
        if self._flush_handle is None:
            # batch everything decided in this loop iteration into one round of UPDATEs
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        changes, self._pending = self._pending, []
        outs = self._outs()
        for out, msgs in self.groups.build(changes, outs).items():
            asyncio.ensure_future(self._send(out.peer, msgs))

    async def _send(self, peer, msgs) -> None:
        try:
            await peer.send_raw(b"".join(msgs))
        except Exception as e:   # the session went down meanwhile
            log.debug("send to %s failed: %s", peer.address, e)

    async def _send_table(self, peer) -> None:
        outs = self._outs()
        me = next((o for o in outs if o.peer is peer), None)
        if me is None:
            return
        fams = sorted(peer.negotiated.families)
        msgs = self.groups.full_table(self.rib, me, outs, fams)
        try:
            if msgs:
                await peer.send_raw(b"".join(msgs))
            await peer.send_end_of_rib()
        except Exception as e:
            log.debug("initial table to %s failed: %s", peer.address, e)

    async def _refresh(self, peer, family) -> None:
        outs = self._outs()
        me = next((o for o in outs if o.peer is peer), None)
        if me is None:
            return
        msgs = self.groups.full_table(self.rib, me, outs, [family])
        s = peer.session
        now = asyncio.get_running_loop().time()
        s.begin_refresh_response(*family, now)
        s.send_raw(b"".join(msgs), now) if msgs else None
        s.end_refresh_response(*family, now)
        peer._after(peer._primary_conn())

    # status ----------------------------------------------------------------------
    def status(self) -> dict:
        peers = []
        for addr, p in sorted(self.speaker.peers.items()):
            src = self.sources.get(addr)
            received = sum(len(r) for r in self.rib.adj_in.get(src, {}).values()) if src else 0
            up = self.up_since.get(addr)
            peers.append({"address": addr, "state": p.state.value, "dynamic": p.dynamic,
                          "client": self.clients.get(addr, bool(src and src.client)),
                          "peer_as": p.negotiated.peer_as if p.negotiated else None,
                          "router_id": p.negotiated.peer_id if p.negotiated else None,
                          "uptime": round(time.time() - up, 1) if up else None,
                          "routes_received": received})
        return {"asn": self.asn, "router_id": self.router_id,
                "cluster_id": self.reflector.cluster_id,
                "uptime": round(time.time() - self.started, 1), "peers": peers,
                "loc_rib": {f"{a}/{s}": self.rib.count((a, s)) for a, s in self.families},
                "attribute_sets": len(self.rib.intern)}

    def routes(self, style: str = "json") -> list:
        out = []
        for fam in self.families:
            for route, path in self.rib.best(fam).items():
                if style == "json":
                    d = route.to_dict()
                    d["next_hop"] = _nh(path.next_hop)
                    d["source"] = path.source.name
                    d["attributes"] = path.attrs.to_dict()
                    out.append(d)
                else:
                    out.append(f"{format_route(route, style)} nh {_nh(path.next_hop)} "
                               f"from {path.source.name}")
        return out

    def _answer(self, line: str):
        """A status socket command: ``status`` or ``routes [json|frr|gobgp|junos]``."""
        cmd, _, arg = (line or "status").partition(" ")
        if cmd == "status":
            return self.status()
        if cmd == "routes":
            return self.routes(arg or "json")
        return {"error": f"unknown command {cmd!r} (status, routes [json|frr|gobgp|junos])"}

    # lifecycle --------------------------------------------------------------------
    async def run(self) -> None:
        self.configure()
        await self.speaker.start()
        await self._status.start()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stopping.set)
        loop.add_signal_handler(signal.SIGINT, self._stopping.set)
        if self.config_path:
            loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        log.info("route reflector AS %s id %s cluster %s listening on %s", self.asn,
                 self.router_id, self.reflector.cluster_id,
                 ", ".join(self.cfg["bgp"].get("listen", [])) or "nothing")
        await self._stopping.wait()
        log.info("stopping")
        await self.speaker.close("route reflector shutting down")
        self._status.close()


def _nh(nh):
    from .attributes import format_next_hop
    if isinstance(nh, (bytes, bytearray)):
        return format_next_hop(bytes(nh))[0]
    return nh


__all__ = ["RouteReflectorDaemon", "load_config", "validate_config", "ConfigError", "query"]
