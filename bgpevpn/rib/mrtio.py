"""Saving a RIB as MRT TABLE_DUMP_V2 (RFC 6396 §4.3, RFC 8050) and loading
it back, so a table can be inspected with bgpdump or bgpkit, or replayed.

Every path of the Adj-RIB-In is written (one RIB entry per source), so
loading the file into an empty ``Rib`` gives the same best paths.
"""
from __future__ import annotations

import socket

from .. import wire
from ..attributes import Attributes
from ..context import Context
from ..mrt import MrtReader, MrtWriter, RibDumpEntry, RibGeneric, RibRecord
from .rib import Source


def dump_mrt(rib, path_or_file, families=None, time: int = 0, collector_id: str = "0.0.0.0",
             view_name: str = "") -> int:
    """Write every path of ``rib`` (optionally only ``families``); returns the
    number of MRT records written."""
    entries = []
    for source, fams in rib.adj_in.items():
        for fam, routes in fams.items():
            if families is not None and fam not in families:
                continue
            for route, path in routes.items():
                nh = path.next_hop
                attrs = [a for a in path.attrs.items if a.code not in (14, 15)]
                entries.append(RibDumpEntry(route, Attributes(attrs), source.address,
                                            source.asn, source.router_id, _nh(nh, fam)))
    if hasattr(path_or_file, "write"):
        return MrtWriter(path_or_file).dump_rib(entries, time, collector_id, view_name)
    with MrtWriter.open(path_or_file) as w:
        return w.dump_rib(entries, time, collector_id, view_name)


def load_mrt(rib, path_or_file) -> int:
    """Add the paths of a TABLE_DUMP_V2 file to ``rib``, one ``Source`` per
    peer of its PEER_INDEX_TABLE; returns the number of paths loaded."""
    sources: dict = {}
    n = 0
    for rec in MrtReader(path_or_file):
        if not isinstance(rec, (RibRecord, RibGeneric)):
            continue
        routes = rec.routes if isinstance(rec, RibGeneric) else wire.decode_nlri(
            rec.nlri, 0, len(rec.nlri), rec.afi, 1, Context())
        if not routes:
            continue
        route = routes[0]
        fam = (rec.afi, rec.safi)
        for entry in rec.entries:
            peer = entry.peer
            key = (peer.address, peer.asn, peer.bgp_id) if peer is not None else ("0.0.0.0", 0,
                                                                                   "0.0.0.0")
            src = sources.get(key)
            if src is None:
                src = sources[key] = Source(f"mrt:{key[0]}", key[0], key[2], key[1])
            attrs = entry.attributes
            mp = attrs.mp_reach
            nh = bytes(mp.next_hop) if mp is not None else (
                socket.inet_aton(attrs.next_hop) if attrs.next_hop else None)
            rib.update(src, fam, [route], (), attrs, nh)
            n += 1
    return n


def _nh(nh, family):
    if isinstance(nh, (bytes, bytearray)):
        if len(nh) == 4 and family == (1, 1):
            return socket.inet_ntoa(bytes(nh))
        return bytes(nh)
    return nh
