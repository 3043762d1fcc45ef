"""The BGP decision process: RFC 4271 §9.1.2.2 with RFC 4456 §9 and the
RFC 7432 §15 MAC mobility rules for EVPN type 2 routes.

``preference_key(path)`` turns a path into a tuple that sorts best first,
so choosing the best of several paths is ``min(paths, key=...)``, except
for MED, which RFC 4271 compares only between paths from the same
neighbouring AS (``best_path`` handles that step).
"""
from __future__ import annotations

import ipaddress

from ..constants import AsPathSegmentType

DEFAULT_LOCAL_PREF = 100


def as_path_length(segments) -> int:
    """RFC 4271 §9.1.2.2 a): an AS_SET counts as one; RFC 5065 §5.3:
    confederation segments do not count."""
    n = 0
    for s in segments or ():
        if s.type == AsPathSegmentType.AS_SEQUENCE:
            n += len(s.asns)
        elif s.type == AsPathSegmentType.AS_SET:
            n += 1
    return n


def neighbour_as(segments):
    """The AS the path was learnt from (first AS of the first sequence), for the MED rule."""
    for s in segments or ():
        if s.type == AsPathSegmentType.AS_SEQUENCE and s.asns:
            return s.asns[0]
        if s.type in (AsPathSegmentType.AS_CONFED_SEQUENCE, AsPathSegmentType.AS_CONFED_SET):
            continue
        break
    return None


def _ip_int(text) -> int:
    try:
        return int(ipaddress.ip_address(text))
    except (ValueError, TypeError):
        return 0


def mac_mobility_of(attrs) -> tuple:
    """(sticky, sequence) from the MAC mobility community (RFC 7432 §7.7)."""
    for ec in attrs.ext_communities:
        if ec[0] == 0x06 and ec[1] == 0x00:
            return bool(ec[2] & 1), ec.mac_mobility_sequence
    return False, 0


def preference_key(path) -> tuple:
    """Everything except MED, best first (smaller sorts first)."""
    a = path.attrs
    evpn2 = getattr(path.route, "route_type", 0) == 2 and path.route.afi == 25
    if evpn2:
        sticky, seq = mac_mobility_of(a)
        mobility = (not sticky, -seq)
    else:
        mobility = (False, 0)
    lp = a.local_pref
    origin = a.origin if a.origin is not None else 2
    originator = a.originator_id
    return (
        mobility,                                            # RFC 7432 §15
        -(lp if lp is not None else DEFAULT_LOCAL_PREF),     # a) highest LOCAL_PREF
        as_path_length(a.as_path),                           # a) shortest AS_PATH
        origin,                                              # b) lowest ORIGIN
        0 if path.source.ebgp else 1,                        # d) eBGP over iBGP
        len(a.cluster_list),                                 # RFC 4456 §9: shortest CLUSTER_LIST
        _ip_int(originator) if originator else path.source.router_id_int,  # f) lowest id
        path.source.address_int,                             # g) lowest peer address
    )


def best_path(paths):
    """RFC 4271 §9.1.2.2 over ``paths``: the MED step (c) removes paths
    whose MED is higher than another path's from the same neighbour AS."""
    if len(paths) == 1:
        return paths[0]
    by_as: dict = {}
    for p in paths:
        by_as.setdefault(neighbour_as(p.attrs.as_path), []).append(p)
    survivors = []
    for group in by_as.values():
        meds = [p.attrs.med if p.attrs.med is not None else 0 for p in group]
        low = min(meds)
        survivors += [p for p, m in zip(group, meds) if m == low]
    return min(survivors, key=preference_key)
