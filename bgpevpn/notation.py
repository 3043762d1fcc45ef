"""Route notations of the routers users read every day, both ways.

- FRR (``show bgp l2vpn evpn``): ``[2]:[0]:[48]:[50:54:33:00:00:0a]:[32]:[10.0.0.1]``,
  printed under its RD (``Route Distinguisher: 203.0.113.2:100``);
- GoBGP (``gobgp global rib -a evpn``): ``[type:macadv][rd:203.0.113.2:100][esi:single-homed]
  [etag:0][mac:50:54:33:00:00:0a][ip:<nil>][labels:[100]]``;
- JunOS (``show route table bgp.evpn.0``): ``2:203.0.113.2:100::0::50:54:33:00:00:0a/304 MAC/IP``.

``format_route(route, style)`` renders a route; ``parse_route_key(text)``
reads any of the three (and our plain JSON keys) into the RIB-key fields
(route type, RD, Ethernet tag, MAC, IP / prefix, ESI where it is part of the
key), and ``route_matches(route, key)`` compares a decoded route with it, so
a capture can be matched against a router's CLI output.
"""
from __future__ import annotations

import ipaddress
import re

from .values import Esi, Mac, RouteDistinguisher

STYLES = ("plain", "frr", "gobgp", "junos")
_ZERO_ESI = "00:00:00:00:00:00:00:00:00:00"


def _d(route) -> dict:
    return route.to_dict()


def _iplen(ip) -> int:
    if ip is None:
        return 0
    return 32 if ipaddress.ip_address(ip).version == 4 else 128


# --- FRR ------------------------------------------------------------------------

def format_frr(route, with_rd: bool = False) -> str:
    """FRR's prefix2str for EVPN (lib/prefix.c); ``with_rd`` prefixes the RD
    the way ``show bgp l2vpn evpn route json`` keys it (``RD [prefix]``)."""
    d = _d(route)
    if d.get("safi") != "evpn":
        return d.get("prefix") or d.get("raw", "")
    t = d["route_type"]
    if t == 2:
        s = f"[2]:[{d['ethernet_tag']}]:[48]:[{d['mac']}]"
        if d["ip"] is not None:
            s += f":[{_iplen(d['ip'])}]:[{d['ip']}]"
    elif t == 3:
        s = f"[3]:[{d['ethernet_tag']}]:[{_iplen(d['originator_ip'])}]:[{d['originator_ip']}]"
    elif t == 1:
        s = f"[1]:[{d['ethernet_tag']}]:[{d['esi']}]:[32]:[0.0.0.0]"
    elif t == 4:
        s = f"[4]:[{d['esi']}]:[{_iplen(d['originator_ip'])}]:[{d['originator_ip']}]"
    elif t == 5:
        addr, plen = d["prefix"].split("/")
        s = f"[5]:[{d['ethernet_tag']}]:[{plen}]:[{addr}]"
    else:
        s = f"[{t}]:[{d.get('raw', '')}]"
    return f"{d['rd']} {s}" if with_rd else s


# --- GoBGP ----------------------------------------------------------------------

def _gobgp_esi(esi: str) -> str:
    return "single-homed" if esi == _ZERO_ESI else esi


def format_gobgp(route) -> str:
    """GoBGP's String() of its EVPN NLRI types (pkg/packet/bgp)."""
    d = _d(route)
    if d.get("safi") != "evpn":
        return d.get("prefix") or d.get("raw", "")
    t = d["route_type"]
    rd = d["rd"]
    if t == 2:
        ip = d["ip"] if d["ip"] is not None else "<nil>"
        labels = " ".join(map(str, d["labels"]))
        return (f"[type:macadv][rd:{rd}][esi:{_gobgp_esi(d['esi'])}][etag:{d['ethernet_tag']}]"
                f"[mac:{d['mac']}][ip:{ip}][labels:[{labels}]]")
    if t == 3:
        return f"[type:multicast][rd:{rd}][etag:{d['ethernet_tag']}][ip:{d['originator_ip']}]"
    if t == 1:
        return (f"[type:A-D][rd:{rd}][esi:{_gobgp_esi(d['esi'])}][etag:{d['ethernet_tag']}]"
                f"[label:{d['labels'][0]}]")
    if t == 4:
        return f"[type:esi][rd:{rd}][esi:{_gobgp_esi(d['esi'])}][ip:{d['originator_ip']}]"
    if t == 5:
        return (f"[type:Prefix][rd:{rd}][esi:{_gobgp_esi(d['esi'])}][etag:{d['ethernet_tag']}]"
                f"[prefix:{d['prefix']}][gw:{d['gateway']}][label:{d['labels'][0]}]")
    return f"[type:{t}][rd:{rd}][raw:{d.get('raw', '')}]"


# --- JunOS ----------------------------------------------------------------------

#: JunOS prints the NLRI length in bits after the slash, per type.
def format_junos(route) -> str:
    """JunOS ``bgp.evpn.0`` route names (type:RD::fields/bits name)."""
    d = _d(route)
    if d.get("safi") != "evpn":
        return d.get("prefix") or d.get("raw", "")
    t = d["route_type"]
    rd = d["rd"]
    bits = len(bytes(getattr(route, "route", route))) * 8 - 16
    if t == 2:
        s = f"2:{rd}::{d['ethernet_tag']}::{d['mac']}"
        if d["ip"] is not None:
            s += f"::{d['ip']}"
        return f"{s}/304 MAC/IP"
    if t == 3:
        return f"3:{rd}::{d['ethernet_tag']}::{d['originator_ip']}/248 IM"
    if t == 1:
        name = "AD/ESI" if d["ethernet_tag"] == 0xFFFFFFFF else "AD/EVI"
        return f"1:{rd}::{d['esi'].replace(':', '')}::{d['ethernet_tag']}/192 {name}"
    if t == 4:
        return f"4:{rd}::{d['esi'].replace(':', '')}::{d['originator_ip']}/296 ES"
    if t == 5:
        addr, plen = d["prefix"].split("/")
        return f"5:{rd}::{d['ethernet_tag']}::{addr}::{plen}/248"
    return f"{t}:{rd}::{d.get('raw', '')}/{bits}"


def format_route(route, style: str = "plain") -> str:
    if style == "frr":
        return format_frr(route, with_rd=True)
    if style == "gobgp":
        return format_gobgp(route)
    if style == "junos":
        return format_junos(route)
    from .show import format_route as plain
    return plain(route)


# --- parsing ----------------------------------------------------------------------

class NotationError(ValueError):
    """The text is not a route in any notation we read."""


_GOBGP_FIELD = re.compile(r"\[([a-z]+):([^\[\]]*(?:\[[^\]]*\])?)\]")
_GOBGP_TYPES = {"A-D": 1, "macadv": 2, "multicast": 3, "esi": 4, "Prefix": 5}


def _norm_mac(text: str) -> str:
    return str(Mac(text))


def _norm_esi(text: str) -> str:
    t = text.strip()
    if t in ("single-homed", "0", ""):
        return _ZERO_ESI
    if ":" not in t and len(t) == 20:
        t = ":".join(t[i:i + 2] for i in range(0, 20, 2))
    return str(Esi(t))


def _norm_ip(text):
    if text in (None, "", "<nil>", "-", "null", "None"):
        return None
    return str(ipaddress.ip_address(text))


def _norm_rd(text: str) -> str:
    return str(RouteDistinguisher(text.strip()))


def parse_route_key(text: str) -> dict:
    """The RIB-key fields of an EVPN route written in FRR, GoBGP or JunOS
    notation: ``{"route_type", "rd", "ethernet_tag", "mac", "ip", "esi",
    "originator_ip", "prefix"}`` (only those the notation carries; FRR's
    needs the RD given before the bracketed part, as in its JSON keys)."""
    t = text.strip()
    try:
        if t.startswith("[type:"):
            return _parse_gobgp(t)
        m = re.match(r"^(?:(\S+)\s+)?(\[\d+\]:.*)$", t)
        if m:
            return _parse_frr(m.group(2), m.group(1))
        if re.match(r"^\d+:", t):
            return _parse_junos(t)
    except (ValueError, KeyError, IndexError) as e:
        raise NotationError(f"cannot read route {text!r}: {e}") from None
    raise NotationError(f"not an FRR, GoBGP or JunOS EVPN route: {text!r}")


def _parse_gobgp(t: str) -> dict:
    f = {k: v for k, v in _GOBGP_FIELD.findall(t)}
    rtype = _GOBGP_TYPES[f["type"]]
    out = {"route_type": rtype, "rd": _norm_rd(f["rd"])}
    if "etag" in f:
        out["ethernet_tag"] = int(f["etag"])
    if rtype in (1, 4):
        out["esi"] = _norm_esi(f["esi"])
    if rtype == 2:
        out["mac"] = _norm_mac(f["mac"])
        out["ip"] = _norm_ip(f.get("ip"))
    if rtype in (3, 4):
        out["originator_ip"] = _norm_ip(f.get("ip"))
    if rtype == 5:
        out["prefix"] = str(ipaddress.ip_network(f["prefix"], strict=False))
    return out


def _parse_frr(t: str, rd) -> dict:
    parts = re.findall(r"\[([^\]]*)\]", t)
    rtype = int(parts[0])
    out = {"route_type": rtype}
    if rd:
        out["rd"] = _norm_rd(rd)
    if rtype == 2:
        out["ethernet_tag"] = int(parts[1])
        out["mac"] = _norm_mac(parts[3])
        out["ip"] = _norm_ip(parts[5]) if len(parts) >= 6 else None
    elif rtype == 3:
        out["ethernet_tag"] = int(parts[1])
        out["originator_ip"] = _norm_ip(parts[3])
    elif rtype == 1:
        out["ethernet_tag"] = int(parts[1])
        out["esi"] = _norm_esi(parts[2])
    elif rtype == 4:
        out["esi"] = _norm_esi(parts[1])
        out["originator_ip"] = _norm_ip(parts[3])
    elif rtype == 5:
        out["ethernet_tag"] = int(parts[1])
        out["prefix"] = str(ipaddress.ip_network(f"{parts[3]}/{parts[2]}", strict=False))
    return out


def _parse_junos(t: str) -> dict:
    body = t.split()[0]
    body, _, _bits = body.rpartition("/")
    fields = body.split("::")
    head = fields[0]
    rtype_s, _, rd = head.partition(":")
    rtype = int(rtype_s)
    out = {"route_type": rtype, "rd": _norm_rd(rd)}
    if rtype == 2:
        out["ethernet_tag"] = int(fields[1])
        out["mac"] = _norm_mac(fields[2])
        out["ip"] = _norm_ip(fields[3]) if len(fields) > 3 else None
    elif rtype == 3:
        out["ethernet_tag"] = int(fields[1])
        out["originator_ip"] = _norm_ip(fields[2])
    elif rtype == 1:
        out["esi"] = _norm_esi(fields[1])
        out["ethernet_tag"] = int(fields[2])
    elif rtype == 4:
        out["esi"] = _norm_esi(fields[1])
        out["originator_ip"] = _norm_ip(fields[2])
    elif rtype == 5:
        out["ethernet_tag"] = int(fields[1])
        out["prefix"] = str(ipaddress.ip_network(f"{fields[2]}/{fields[3]}", strict=False))
    return out


def route_matches(route, key: dict) -> bool:
    """True when the decoded ``route`` has every field of ``key`` (from
    ``parse_route_key``)."""
    d = route.to_dict()
    if d.get("safi") != "evpn":
        return False
    for k, v in key.items():
        got = d.get(k)
        if k == "prefix" and got is not None:
            got = str(ipaddress.ip_network(got, strict=False))
        if got != v:
            return False
    return True


__all__ = ["STYLES", "format_route", "format_frr", "format_gobgp", "format_junos",
           "parse_route_key", "route_matches", "NotationError"]
