"""Neighbour and FDB requests to the kernel, encoded here and sent in batches.

The agent programs thousands of entries at once (a reflector's table after
a start, a rack's MACs); pyroute2 spends ~200 us of Python per request
building it, so the few message shapes the agent writes are encoded here
with ``struct`` (linux/netlink.h, linux/neighbour.h, rtnetlink(7)) and many
go to the kernel in one datagram, their acknowledgements read back by
sequence number.  Reading (dumps, notifications) stays with pyroute2.
"""
from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import struct
from typing import NamedTuple

NETLINK_ROUTE = 0
RTM_NEWNEIGH = 28
RTM_DELNEIGH = 29
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_REPLACE = 0x100
NLM_F_CREATE = 0x400
NLM_F_APPEND = 0x800
NDA_DST = 1
NDA_LLADDR = 2
AF_BRIDGE = 7

_NLMSGHDR = struct.Struct("=IHHII")     # len, type, flags, seq, pid
_NDMSG = struct.Struct("=BBHiHBB")      # family, pad1, pad2, ifindex, state, flags, type
_RTA = struct.Struct("=HH")             # len, type
_ERR = struct.Struct("=i")


class Request(NamedTuple):
    """One neighbour/FDB request without its header's sequence number."""
    mtype: int
    flags: int
    body: bytes
    what: str
    missing_ok: bool = False


def _rta(kind: int, payload: bytes) -> bytes:
    n = _RTA.size + len(payload)
    return _RTA.pack(n, kind) + payload + b"\0" * (-n % 4)


def _mac(text: str) -> bytes:
    return bytes(int(x, 16) for x in text.split(":"))


def neigh_request(mtype: int, nl_flags: int, family: int, ifindex: int, state: int,
                  ntf_flags: int, mac: str | None, dst: str | None, what: str,
                  missing_ok: bool = False) -> Request:
    """RTM_NEWNEIGH / RTM_DELNEIGH (rtnetlink(7) "ndmsg"): an FDB entry with
    ``family`` AF_BRIDGE, an ARP/ND entry with AF_INET/AF_INET6."""
    body = _NDMSG.pack(family, 0, 0, ifindex, state, ntf_flags, 0)
    if mac is not None:
        body += _rta(NDA_LLADDR, _mac(mac))
    if dst is not None:
        body += _rta(NDA_DST, ipaddress.ip_address(dst).packed)
    return Request(mtype, NLM_F_REQUEST | NLM_F_ACK | nl_flags, body, what, missing_ok)


class NetlinkWriter:
    """A NETLINK_ROUTE socket for requests: ``await submit(requests)`` sends
    them in as few datagrams as fit and returns one errno (0 = done) each."""

    #: bytes per datagram (the kernel takes many messages in one)
    chunk = 16 << 10

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        try:   # past net.core.rmem_max with CAP_NET_ADMIN
            self.sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33),
                                 4 << 20)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((0, 0))
        self.sock.setblocking(False)
        self.pid = self.sock.getsockname()[0]
        self.seq = int.from_bytes(os.urandom(2), "big") << 8
        self.sent = 0

    def close(self) -> None:
        self.sock.close()

    async def submit(self, requests) -> list:
        loop = asyncio.get_running_loop()
        results = [0] * len(requests)
        index: dict = {}        # seq -> position in requests, this datagram
        buf = bytearray()
        for i, r in enumerate(requests):
            self.seq = (self.seq + 1) & 0xFFFFFFFF
            index[self.seq] = i
            last = len(buf) + _NLMSGHDR.size + len(r.body) >= self.chunk \
                or i == len(requests) - 1
            # the kernel answers an error whatever the flags, and an ACK only when
            # asked: one per datagram, on its last message, says it is all done
            flags = r.flags if last else r.flags & ~NLM_F_ACK
            buf += _NLMSGHDR.pack(_NLMSGHDR.size + len(r.body), r.mtype, flags, self.seq,
                                  self.pid) + r.body
            if last:
                await loop.sock_sendall(self.sock, bytes(buf))
                self.sent += 1
                buf.clear()
                while not await self._read(loop, index, results, self.seq):
                    pass
                index.clear()
        return results

    async def _read(self, loop, index, results, last_seq) -> bool:
        """Record the errors (and ACKs) of one recv; True once ``last_seq`` answered."""
        data = await loop.sock_recv(self.sock, 1 << 20)
        pos, done = 0, False
        while pos + _NLMSGHDR.size <= len(data):
            length, mtype, _, seq, _ = _NLMSGHDR.unpack_from(data, pos)
            if length < _NLMSGHDR.size:
                break
            if mtype == NLMSG_ERROR and seq in index:
                results[index[seq]] = -_ERR.unpack_from(data, pos + _NLMSGHDR.size)[0]
                done = done or seq == last_seq
            pos += (length + 3) & ~3
        return done


def describe(code: int) -> str:
    return f"{errno.errorcode.get(code, code)} ({os.strerror(code)})"


__all__ = ["NetlinkWriter", "Request", "neigh_request", "describe", "RTM_NEWNEIGH",
           "RTM_DELNEIGH", "NLM_F_CREATE", "NLM_F_REPLACE", "NLM_F_APPEND", "AF_BRIDGE"]
