"""Baselines that normalise the codec figures for the machine they run on.

Both are plain ``struct``/index loops over one ``bytes`` buffer, written the
way a careful hand-written Python parser would be, and keep nothing:

* ``frame_only``: walks the message headers (marker not compared, length,
  type) and counts messages;
* ``bare_loop``: walks messages, the path attributes of each UPDATE and every
  NLRI inside MP_REACH_NLRI (and the classic NLRI field), with the bounds and
  EVPN type-2 layout checks a decoder cannot skip (RFC 7432 §7.2 lengths), and
  counts the announced routes.  It creates no object per route: the gap
  between it and a decoder is the cost of the decoder's objects and
  generality.

Their figures are what ``check_targets.py`` divides by: a ratio measured in
one run does not depend on how fast the machine is.  Change these loops and
every ratio target changes meaning; bump ``BASELINE_VERSION`` if you do.
"""
from __future__ import annotations

import struct

BASELINE_VERSION = 1

_u16 = struct.Struct("!H").unpack_from


def frame_only(buf) -> int:
    """Messages in ``buf`` (whole messages assumed)."""
    u16 = _u16
    pos = 0
    end = len(buf)
    n = 0
    while pos < end:
        length = u16(buf, pos + 16)[0]
        if length < 19:
            raise ValueError(f"bad length {length} at {pos}")
        pos += length
        n += 1
    if pos != end:
        raise ValueError("truncated message")
    return n


def bare_loop(buf) -> int:
    """Announced routes in ``buf`` (classic NLRI + MP_REACH_NLRI)."""
    u16 = _u16
    pos = 0
    end = len(buf)
    routes = 0
    while pos < end:
        mend = pos + u16(buf, pos + 16)[0]
        if mend > end or mend < pos + 19:
            raise ValueError(f"bad message length at {pos}")
        if buf[pos + 18] == 2:
            p = pos + 19
            p += 2 + u16(buf, p)[0]            # withdrawn routes: skipped
            alen = u16(buf, p)[0]
            p += 2
            aend = p + alen
            if aend > mend:
                raise ValueError("attributes overrun the UPDATE")
            while p < aend:
                flags = buf[p]
                code = buf[p + 1]
                if flags & 0x10:
                    vlen = u16(buf, p + 2)[0]
                    v = p + 4
                else:
                    vlen = buf[p + 2]
                    v = p + 3
                vend = v + vlen
                if vend > aend:
                    raise ValueError("attribute overruns the attributes")
                if code == 14:
                    q = v + 5 + buf[v + 3]     # AFI, SAFI, next hop length, next hop, reserved
                    while q < vend:
                        length = buf[q + 1]
                        nxt = q + 2 + length
                        if nxt > vend:
                            raise ValueError("NLRI overruns MP_REACH_NLRI")
                        if buf[q] == 2:
                            ipl = buf[q + 31]
                            rest = length - 30 - (ipl >> 3)
                            if length < 33 or buf[q + 24] != 48 or \
                                    not (ipl == 0 or ipl == 32 or ipl == 128) or \
                                    not (rest == 3 or rest == 6):
                                raise ValueError("malformed type-2 route")
                        routes += 1
                        q = nxt
                p = vend
            while p < mend:                    # classic IPv4 NLRI
                p += 1 + ((buf[p] + 7) >> 3)
                routes += 1
        pos = mend
    if pos != end:
        raise ValueError("truncated message")
    return routes


def walk_stats(buf) -> dict:
    """Sizes and counts of a stream, for the generator's report (not timed)."""
    pos = 0
    end = len(buf)
    st = {"bytes": end, "messages": 0, "updates": 0, "routes": 0, "type2": 0, "type3": 0,
          "type2_with_ip": 0, "max_message": 0, "max_nlri_per_update": 0}
    sizes = []
    per_update = []
    while pos < end:
        length = _u16(buf, pos + 16)[0]
        mend = pos + length
        st["messages"] += 1
        st["max_message"] = max(st["max_message"], length)
        if buf[pos + 18] == 2:
            st["updates"] += 1
            p = pos + 19
            p += 2 + _u16(buf, p)[0]
            alen = _u16(buf, p)[0]
            p += 2
            aend = p + alen
            n = 0
            while p < aend:
                flags, code = buf[p], buf[p + 1]
                vlen, v = (_u16(buf, p + 2)[0], p + 4) if flags & 0x10 else (buf[p + 2], p + 3)
                if code == 14:
                    q = v + 5 + buf[v + 3]
                    while q < v + vlen:
                        n += 1
                        if buf[q] == 2:
                            st["type2"] += 1
                            st["type2_with_ip"] += buf[q + 31] != 0
                        elif buf[q] == 3:
                            st["type3"] += 1
                        q += 2 + buf[q + 1]
                p = v + vlen
            st["routes"] += n
            if n:
                sizes.append(length)
                per_update.append(n)
            st["max_nlri_per_update"] = max(st["max_nlri_per_update"], n)
        pos = mend
    if per_update:
        big = [n for n in per_update if n > 1]
        st["route_updates"] = len(per_update)
        st["mean_nlri_per_route_update"] = round(sum(per_update) / len(per_update), 1)
        st["mean_nlri_per_type2_update"] = round(sum(big) / len(big), 1) if big else 0
        st["mean_update_size"] = round(sum(sizes) / len(sizes))
    return st


# --- baselines of the RIB and capture benchmarks (added later; same rules) -------------
#
# Like the two above they are plain Python over built-in types, use nothing of
# bgpevpn, and are what check_targets.py divides by for the RIB, reflection and
# pcap targets.  Change them and those ratio targets change meaning: bump
# ``EXTRA_BASELINE_VERSION`` if you do.

EXTRA_BASELINE_VERSION = 1


def dict_insert(keys) -> dict:
    """A plain ``dict`` insert of every key (value: the key): the least a
    table keyed by route can cost per route.  With fresh ``bytes`` keys it
    includes hashing each key once."""
    d = {}
    for k in keys:
        d[k] = k
    return d


def dict_pop(d: dict, keys) -> int:
    """Remove every key of ``keys`` from ``d``; returns how many were there."""
    n = 0
    pop = d.pop
    for k in keys:
        if pop(k, None) is not None:
            n += 1
    return n


_u32le = struct.Struct("<IIII").unpack_from


def pcap_walk(buf, port: int = 179) -> bytes:
    """The payload of every TCP segment to ``port`` in a little-endian
    microsecond pcap of Ethernet/IPv4 frames, joined in file order (no
    reassembly: the capture is assumed in order, without loss or
    retransmission).  Walks the 16-octet record headers and the Ethernet,
    IPv4 and TCP header lengths of every packet, as any reader must."""
    u16 = _u16
    if len(buf) < 24 or buf[:4] != b"\xd4\xc3\xb2\xa1":
        raise ValueError("not a little-endian microsecond pcap")
    pos = 24
    end = len(buf)
    parts = []
    append = parts.append
    while pos + 16 <= end:
        caplen = _u32le(buf, pos)[2]
        f = pos + 16
        pos = f + caplen
        if pos > end:
            raise ValueError("truncated record")
        if u16(buf, f + 12)[0] != 0x0800 or buf[f + 23] != 6:
            continue
        ip = f + 14
        tcp = ip + (buf[ip] & 0x0F) * 4
        ip_end = ip + u16(buf, ip + 2)[0]
        if u16(buf, tcp + 2)[0] != port:
            continue
        data = tcp + (buf[tcp + 12] >> 4) * 4
        if data < ip_end:
            append(buf[data:ip_end])
    return b"".join(parts)
