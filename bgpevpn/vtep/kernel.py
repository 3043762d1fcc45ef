"""The VTEP's view of the Linux kernel over rtnetlink (pyroute2).

Reads VXLAN devices, bridge FDB entries and neighbour entries (a dump at
start, then the kernel's notifications as they happen), and programs what
the agent decides: remote MACs on the VXLAN device (``self``, with the
remote VTEP as ``dst``, flagged ``extern_learn`` like FRR's zebra does),
flood entries (``00:00:00:00:00:00 dst VTEP``, appended, one per remote
VTEP: head-end replication, RFC 8365 §8.3.1), neighbour entries for ARP
suppression (``extern_learn``, ``noarp``) and the bridge port's
``neigh_suppress`` flag.

Everything here is a thin, typed layer: the decisions live in
``state.py``; this module only turns netlink messages into small tuples
and back.  Dumps and notifications go through pyroute2; the requests that
program entries are encoded by netlink.py and sent in batches.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import socket
from typing import NamedTuple

from .netlink import (
    AF_BRIDGE,
    NLM_F_APPEND,
    NLM_F_CREATE,
    NLM_F_REPLACE,
    RTM_DELNEIGH,
    RTM_NEWNEIGH,
    NetlinkWriter,
    describe,
    neigh_request,
)

log = logging.getLogger("bgpevpn.vtep.kernel")

# linux/neighbour.h
NTF_SELF = 0x02
NTF_MASTER = 0x04
NTF_EXT_LEARNED = 0x10
NUD_INCOMPLETE = 0x01
NUD_REACHABLE = 0x02
NUD_STALE = 0x04
NUD_DELAY = 0x08
NUD_PROBE = 0x10
NUD_FAILED = 0x20
NUD_NOARP = 0x40
NUD_PERMANENT = 0x80
#: neighbour states that hold a usable MAC (linux/neighbour.h NUD_VALID)
NUD_VALID = NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
FLOOD_MAC = "00:00:00:00:00:00"

# linux/rtnetlink.h multicast groups
RTMGRP_LINK = 0x1
RTMGRP_NEIGH = 0x4


class Link(NamedTuple):
    """A network device: ``kind`` is ``vxlan``, ``bridge``, ``veth``...;
    ``vni`` and ``local`` only for VXLAN devices; ``master`` the ifindex of
    the bridge it is enslaved to (0 when none)."""
    index: int
    name: str
    kind: str | None
    master: int
    up: bool
    vni: int | None = None
    local: str | None = None
    deleted: bool = False


class FdbEntry(NamedTuple):
    """A bridge FDB entry (AF_BRIDGE neighbour): on ``ifindex``; ``master``
    set when it is the bridge's own entry (not the port device's);
    ``dst`` the remote VTEP of a VXLAN device entry."""
    ifindex: int
    mac: str
    dst: str | None
    master: int
    state: int
    flags: int
    vlan: int | None = None
    deleted: bool = False

    @property
    def permanent(self) -> bool:
        """The bridge's or a port's own address (``permanent``), not a host."""
        return bool(self.state & NUD_PERMANENT)

    @property
    def static(self) -> bool:
        """Added by an administrator (``bridge fdb add ... static``): sticky."""
        return bool(self.state & NUD_NOARP) and not self.state & NUD_PERMANENT

    @property
    def extern_learn(self) -> bool:
        return bool(self.flags & NTF_EXT_LEARNED)


class Neighbour(NamedTuple):
    """An ARP/ND entry: ``ip`` is at ``mac`` on device ``ifindex``."""
    ifindex: int
    ip: str
    mac: str | None
    state: int
    flags: int
    deleted: bool = False

    @property
    def valid(self) -> bool:
        return self.mac is not None and bool(self.state & NUD_VALID)

    @property
    def extern_learn(self) -> bool:
        return bool(self.flags & NTF_EXT_LEARNED)


class Resync(NamedTuple):
    """The kernel dropped notifications (ENOBUFS): re-read everything."""
    reason: str


def _link(msg, deleted=False) -> Link:
    info = msg.get_attr("IFLA_LINKINFO")
    kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
    vni = local = None
    if kind == "vxlan":
        data = info.get_attr("IFLA_INFO_DATA")
        if data is not None:
            vni = data.get_attr("IFLA_VXLAN_ID")
            local = data.get_attr("IFLA_VXLAN_LOCAL") or data.get_attr("IFLA_VXLAN_LOCAL6")
    flags = msg.get("flags", 0)
    return Link(msg["index"], msg.get_attr("IFLA_IFNAME"), kind, msg.get_attr("IFLA_MASTER") or 0,
                bool(flags & 1), vni, local, deleted)


def _fdb(msg, deleted=False) -> FdbEntry:
    master = msg.get_attr("NDA_MASTER") or 0
    return FdbEntry(msg["ifindex"], (msg.get_attr("NDA_LLADDR") or "").lower(),
                    msg.get_attr("NDA_DST"), master, msg["state"], msg["flags"],
                    msg.get_attr("NDA_VLAN"), deleted)


def _neigh(msg, deleted=False) -> Neighbour:
    mac = msg.get_attr("NDA_LLADDR")
    return Neighbour(msg["ifindex"], msg.get_attr("NDA_DST"), mac.lower() if mac else None,
                     msg["state"], msg["flags"], deleted)


def parse_event(msg):
    """A netlink notification as Link / FdbEntry / Neighbour, or None."""
    ev = msg.get("event")
    if ev in ("RTM_NEWLINK", "RTM_DELLINK"):
        if msg.get("family") == AF_BRIDGE:
            # the bridge's own port notifications (STP state, flags): partial
            # link messages without the device kind; the full one also comes
            return None
        return _link(msg, ev == "RTM_DELLINK")
    if ev in ("RTM_NEWNEIGH", "RTM_DELNEIGH"):
        deleted = ev == "RTM_DELNEIGH"
        fam = msg.get("family")
        if fam == AF_BRIDGE:
            return _fdb(msg, deleted)
        if fam in (socket.AF_INET, socket.AF_INET6):
            return _neigh(msg, deleted)
    return None


class Kernel:
    """rtnetlink in the current network namespace: one socket for requests,
    one for notifications."""

    def __init__(self, rcvbuf: int = 32 << 20):
        self.rcvbuf = rcvbuf
        self._req = None
        self._mon = None
        self._writer = None
        self.requests = 0          # netlink requests sent (status / benchmarks)

    async def open(self) -> None:
        try:
            from pyroute2 import AsyncIPRoute
        except ImportError:   # pragma: no cover - depends on the installation
            raise RuntimeError("bgpevpn vtep needs pyroute2 (pip install 'bgpevpn[vtep]')") \
                from None
        self._req = AsyncIPRoute()
        self._writer = NetlinkWriter()
        # a burst of 100,000 FDB notifications is ~10 MB: a big receive buffer
        # makes an ENOBUFS (then a full resync) unlikely
        self._mon = AsyncIPRoute(rcvbuf=self.rcvbuf)
        await self._mon.bind(groups=RTMGRP_LINK | RTMGRP_NEIGH)
        try:
            # SO_RCVBUF is capped at net.core.rmem_max (208 KiB to 4 MiB: a few
            # thousand notifications); with CAP_NET_ADMIN the cap can be passed
            self._mon.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, self.rcvbuf)
        except OSError:
            log.info("netlink receive buffer left at the system maximum (net.core.rmem_max)")

    async def close(self) -> None:
        for s in (self._mon, self._req):
            if s is not None:
                try:
                    s.close()
                except Exception:   # noqa: BLE001 - closing anyway
                    pass
        if self._writer is not None:
            self._writer.close()
        self._mon = self._req = self._writer = None

    # -- reading --------------------------------------------------------------------
    async def links(self) -> list:
        return [_link(m) async for m in await self._req.link("dump")]

    async def fdb(self) -> list:
        return [_fdb(m) async for m in await self._req.fdb("dump")]

    async def neighbours(self) -> list:
        out = []
        for fam in (socket.AF_INET, socket.AF_INET6):
            out += [_neigh(m) async for m in await self._req.neigh("dump", family=fam)]
        return [n for n in out if n.ip is not None]

    async def events(self):
        """Notifications as they come (Link, FdbEntry, Neighbour), and a
        ``Resync`` when the kernel had to drop some."""
        while True:
            try:
                async for msg in self._mon.get():
                    ev = parse_event(msg)
                    if ev is not None:
                        yield ev
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                yield Resync("netlink notifications lost (ENOBUFS)")
            except asyncio.CancelledError:
                raise

    # -- programming -------------------------------------------------------------------
    # Each returns the Request (netlink.py) for ``submit``; the agent sends many
    # at once.  Flags as iproute2's ``bridge fdb`` / ``ip neigh`` set them.

    @staticmethod
    def remote_mac(vxlan: int, mac: str, vtep: str):
        """``bridge fdb replace MAC dev VXLAN dst VTEP self extern_learn``."""
        return neigh_request(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, AF_BRIDGE, vxlan,
                             NUD_PERMANENT | NUD_NOARP, NTF_SELF | NTF_EXT_LEARNED, mac, vtep,
                             f"remote MAC {mac} -> {vtep}")

    @staticmethod
    def remote_mac_delete(vxlan: int, mac: str):
        return neigh_request(RTM_DELNEIGH, 0, AF_BRIDGE, vxlan, NUD_PERMANENT | NUD_NOARP,
                             NTF_SELF, mac, None, f"delete remote MAC {mac}", missing_ok=True)

    @staticmethod
    def steer(vxlan: int, mac: str):
        """``bridge fdb replace MAC dev VXLAN master extern_learn``: the bridge
        forwards MAC to the VXLAN port at once (a MAC that moved away from a
        local port, which the bridge would otherwise keep until it ages out)."""
        return neigh_request(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, AF_BRIDGE, vxlan,
                             NUD_REACHABLE, NTF_MASTER | NTF_EXT_LEARNED, mac, None,
                             f"bridge entry of {mac} to the VXLAN port")

    @staticmethod
    def bridge_entry_delete(port: int, mac: str):
        return neigh_request(RTM_DELNEIGH, 0, AF_BRIDGE, port, 0, NTF_MASTER, mac, None,
                             f"delete bridge entry {mac}", missing_ok=True)

    @staticmethod
    def flood(vxlan: int, vtep: str):
        """``bridge fdb append 00:00:00:00:00:00 dev VXLAN dst VTEP self``."""
        return neigh_request(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_APPEND, AF_BRIDGE, vxlan,
                             NUD_PERMANENT | NUD_NOARP, NTF_SELF, FLOOD_MAC, vtep,
                             f"flood entry {vtep}")

    @staticmethod
    def flood_delete(vxlan: int, vtep: str):
        return neigh_request(RTM_DELNEIGH, 0, AF_BRIDGE, vxlan, NUD_PERMANENT | NUD_NOARP,
                             NTF_SELF, FLOOD_MAC, vtep, f"delete flood entry {vtep}",
                             missing_ok=True)

    @staticmethod
    def neighbour(ifindex: int, ip: str, mac: str):
        """``ip neigh replace IP lladdr MAC dev BRIDGE extern_learn nud noarp``."""
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        return neigh_request(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, fam, ifindex,
                             NUD_NOARP, NTF_EXT_LEARNED, mac, ip, f"neighbour {ip} -> {mac}")

    @staticmethod
    def neighbour_delete(ifindex: int, ip: str):
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        return neigh_request(RTM_DELNEIGH, 0, fam, ifindex, 0, 0, None, ip,
                             f"delete neighbour {ip}", missing_ok=True)

    async def submit(self, requests) -> int:
        """Send ``requests`` (in order, pipelined); failures are logged, a
        missing entry is not one for a deletion.  Returns how many failed."""
        if not requests:
            return 0
        self.requests += len(requests)
        failed = 0
        for r, code in zip(requests, await self._writer.submit(requests)):
            if code and not (r.missing_ok and code in (errno.ENOENT, errno.ENODEV,
                                                        errno.ESRCH)):
                failed += 1
                log.warning("kernel: %s failed: %s", r.what, describe(code))
        return failed

    async def set_neigh_suppress(self, port: int, on: bool) -> bool:
        self.requests += 1
        try:
            await self._req.brport("set", index=port, neigh_suppress=int(on))
            return True
        except Exception as e:   # netlink errors carry the errno in .code
            log.warning("kernel: neigh_suppress %s on %s failed: %s", "on" if on else "off",
                        port, e)
            return False


__all__ = ["Kernel", "Link", "FdbEntry", "Neighbour", "Resync", "parse_event", "FLOOD_MAC"]
