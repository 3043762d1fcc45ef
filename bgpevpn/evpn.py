"""What a VTEP programs from EVPN routes: per VNI, the flood list (remote
VTEPs from type 3 routes, RFC 7432 §11 / RFC 8365 §9) and the MAC (and IP)
to VTEP table (type 2 routes, with the RFC 7432 §15 MAC mobility rules).

The VNI of a route is read by its sender's convention, and the result says
which one it was (``how``):

- ``ethernet-tag``: JunOS and VLAN-aware bundles put the VNI in the
  Ethernet tag (RFC 8365 §5.1.2);
- ``label``: FRR/GoBGP put it in the 3-octet label (24 bits, RFC 8365
  §5.1.3), type 3 routes in the PMSI tunnel label (``pmsi-label``);
- ``route-target``: an RFC 8365 §5.1.2.1 auto-derived route target (type VXLAN);
- ``mpls-label``: no VXLAN encapsulation community: a 20-bit MPLS label (RFC 7432).
"""
from __future__ import annotations

import ipaddress

from .attributes import format_next_hop
from .constants import VNI_TUNNEL_TYPES, ExtCommSubtype, ExtCommType, Rfc8365ServiceType
from .values import parse_auto_route_target


def _encapsulation(ext_communities):
    for ec in ext_communities:
        tt = ec.tunnel_type
        if tt is not None:
            return tt
    return None


def _auto_rt_vni(ext_communities):
    for ec in ext_communities:
        if ec.is_route_target and ec[0] == 0:
            info = parse_auto_route_target(ec)
            if info and info["auto"] and info["type"] == Rfc8365ServiceType.VXLAN \
                    and info["vni"]:
                return info["vni"]
    return None


def route_vni(route, attributes) -> tuple:
    """(vni, how) for an EVPN type 1, 2, 3 or 5 route and its attributes;
    (None, reason) when there is none to read."""
    ecs = attributes.ext_communities if attributes is not None else ()
    tag = getattr(route, "ethernet_tag", 0)
    if tag and tag != 0xFFFFFFFF:
        return tag, "ethernet-tag"
    encap = _encapsulation(ecs)
    vxlan = encap is not None and encap in VNI_TUNNEL_TYPES
    if route.route_type == 3:
        pmsi = attributes.pmsi_tunnel if attributes is not None else None
        if pmsi is not None and pmsi.value.label:
            return (pmsi.value.label, "pmsi-label") if vxlan or encap is None \
                else (pmsi.value.label >> 4, "mpls-label")
    elif hasattr(route, "labels") and route.labels:
        raw = route.labels[0]
        if vxlan:
            return raw, "label"
        auto = _auto_rt_vni(ecs)
        if auto is not None:
            return auto, "route-target"
        if encap is None and raw:
            # no encapsulation community: FRR/Quagga VTEPs always send one, so a
            # bare label is read as RFC 7432 says, an MPLS label
            return raw >> 4, "mpls-label"
    auto = _auto_rt_vni(ecs)
    if auto is not None:
        return auto, "route-target"
    return None, "no VNI in route"


def mac_mobility(attributes) -> tuple:
    """(sequence, sticky) from the MAC mobility community (RFC 7432 §7.7)."""
    for ec in (attributes.ext_communities if attributes is not None else ()):
        if ec[0] == ExtCommType.EVPN and ec[1] == ExtCommSubtype.MAC_MOBILITY:
            return ec.mac_mobility_sequence, ec.sticky
    return 0, False


def _ip_key(text):
    try:
        return (0, int(ipaddress.ip_address(text)))
    except ValueError:
        return (1, text)


class EvpnTable:
    """EVPN routes as received (by source), and the views a VTEP programs.

    ``announce(route, attributes, next_hop, source)`` and
    ``withdraw(route, source)`` keep one entry per (source, route key);
    ``vnis()``, ``flood_list(vni)`` and ``mac_table(vni)`` compute the views.
    """

    def __init__(self):
        self._routes: dict = {}   # (source, route key) -> (route, attributes, next hop)

    def __len__(self) -> int:
        return len(self._routes)

    def announce(self, route, attributes, next_hop, source=None) -> None:
        nh = next_hop
        if isinstance(nh, (bytes, bytearray)):
            nh = format_next_hop(bytes(nh))[0]
        self._routes[(source, route.key)] = (route, attributes, nh)

    def withdraw(self, route, source=None) -> bool:
        return self._routes.pop((source, route.key), None) is not None

    def apply_update(self, update, source=None) -> None:
        """An UPDATE's EVPN routes (withdrawn first, RFC 4271 §9)."""
        for r in update.withdrawn:
            if r.afi == 25:
                self.withdraw(getattr(r, "route", r), source)
        mp = update.attributes.mp_reach
        if mp is not None and (mp.afi, mp.safi) == (25, 70):
            for r in mp.routes:
                self.announce(getattr(r, "route", r), update.attributes, mp.next_hop, source)

    def clear_source(self, source) -> None:
        for k in [k for k in self._routes if k[0] == source]:
            del self._routes[k]

    def _entries(self, route_type):
        for (source, _), (route, attrs, nh) in self._routes.items():
            if route.route_type == route_type:
                yield source, route, attrs, nh

    def vnis(self) -> list:
        out = set()
        for t in (2, 3):
            for _, route, attrs, _ in self._entries(t):
                vni, _ = route_vni(route, attrs)
                if vni is not None:
                    out.add(vni)
        return sorted(out)

    def flood_list(self, vni: int) -> list:
        """Remote VTEPs of ``vni`` (what ``bridge fdb`` holds as
        ``00:00:00:00:00:00 dst VTEP``): the PMSI tunnel endpoint of each
        type 3 route (RFC 7432 §11.2), its originator IP otherwise."""
        vteps = {}
        for source, route, attrs, nh in self._entries(3):
            v, how = route_vni(route, attrs)
            if v != vni:
                continue
            pmsi = attrs.pmsi_tunnel if attrs is not None else None
            vtep = (pmsi.endpoint if pmsi is not None else None) or \
                (str(route.originator_ip) if route.originator_ip else nh)
            vteps.setdefault(vtep, {"vtep": vtep, "rd": str(route.rd), "vni_from": how,
                                    "tunnel_type": pmsi.value.tunnel_type if pmsi else None,
                                    "source": source})
        return [vteps[k] for k in sorted(vteps, key=_ip_key)]

    def mac_table(self, vni: int) -> list:
        """MAC (and IP) -> VTEP for ``vni``; where several VTEPs advertise a
        MAC, RFC 7432 §15: sticky wins, then the highest mobility sequence,
        then the lowest VTEP address."""
        cands: dict = {}
        for source, route, attrs, nh in self._entries(2):
            v, how = route_vni(route, attrs)
            if v != vni:
                continue
            seq, sticky = mac_mobility(attrs)
            mac = str(route.mac)
            cands.setdefault(mac, []).append({
                "mac": mac, "ip": str(route.ip) if route.ip is not None else None,
                "vtep": nh, "seq": seq, "sticky": sticky, "rd": str(route.rd),
                "esi": str(route.esi), "vni_from": how, "source": source})
        table = []
        for mac in sorted(cands):
            entries = cands[mac]
            best = min(entries, key=lambda e: (not e["sticky"], -e["seq"], _ip_key(e["vtep"])))
            ips = sorted({e["ip"] for e in entries if e["ip"] is not None and
                          e["vtep"] == best["vtep"]})
            row = dict(best)
            row["ips"] = ips
            row.pop("ip")
            row["paths"] = len(entries)
            table.append(row)
        return table

    def to_dict(self) -> dict:
        return {str(v): {"vni": v, "flood": self.flood_list(v), "macs": self.mac_table(v)}
                for v in self.vnis()}


__all__ = ["EvpnTable", "route_vni", "mac_mobility"]
