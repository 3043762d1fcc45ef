"""The ``bgpevpn vtep`` configuration (TOML) and how RDs and RTs are derived.

::

    [bgp]
    asn = 65000
    router_id = "203.0.113.3"
    source = "203.0.113.3"         # the VTEP address (VXLAN local, next hop); default router_id
    hold_time = 90
    connect_retry = 30             # seconds between connection attempts
    graceful_restart = true        # RFC 4724: peers keep our routes while we restart
    restart_time = 120

    [[peers]]                      # route reflectors (or any EVPN peers)
    address = "203.0.113.254"
    peer_as = 65000                # default: asn (iBGP)
    mode = "both"                  # active | passive | both
    md5 = "secret"                 # optional (RFC 2385)

    [evpn]
    advertise_all_vni = true       # every VXLAN device enslaved to a bridge, like FRR
    rt = "frr"                     # auto RT AS:VNI (FRR), or "rfc8365" (RFC 8365 §5.1.2.1)
    arp_suppression = false        # MAC+IP routes from the bridge's neighbours; neighbour entries
    keep_state = false             # on stop: keep the kernel entries (and our routes: graceful restart)
    state_file = "/run/bgpevpn-vtep.state"   # what we installed, to clean up after a crash

    [[vnis]]                       # per VNI settings, or VNIs to serve without advertise_all_vni
    vni = 100
    device = "vxlan100"            # default: the VXLAN device with this VNI
    bridge = "bv100"               # default: the bridge that device is in
    rd = "203.0.113.3:100"         # default: router-id:index, like FRR
    route_targets = ["65000:100"]  # import and export (default: auto)
    import_rts = ["65000:100"]     # or each on its own
    export_rts = ["65000:100"]
    arp_suppression = true

    [status]
    socket = "/run/bgpevpn-vtep.sock"
"""
from __future__ import annotations

import ipaddress

from ..daemon import bgp_section, peer_entry, read_toml
from ..values import ExtCommunity, RouteDistinguisher, auto_route_target


class ConfigError(ValueError):
    pass


RT_STYLES = ("frr", "rfc8365")


def load_config(path: str) -> dict:
    return validate_config(read_toml(path, ConfigError))


def _rt(text, where) -> ExtCommunity:
    t = str(text)
    try:
        return ExtCommunity(t if t.startswith("target:") else "target:" + t)
    except ValueError as e:
        raise ConfigError(f"{where}: bad route target {text!r}: {e}") from None


def validate_config(cfg: dict) -> dict:
    """Check ``cfg`` and fill in the defaults; raises ConfigError with the place."""
    bgp = bgp_section(cfg, ConfigError)
    try:
        bgp.setdefault("source", bgp["router_id"])
        ipaddress.ip_address(bgp["source"])
    except ValueError as e:
        raise ConfigError(f"[bgp]: {e}") from None
    if not isinstance(bgp["asn"], int) or not 1 <= bgp["asn"] <= 0xFFFFFFFF:
        raise ConfigError("[bgp] asn must be 1..4294967295")
    _number(bgp, "[bgp]", "hold_time", 0, 65535, int)
    _number(bgp, "[bgp]", "port", 1, 65535, int)
    _number(bgp, "[bgp]", "restart_time", 0, 4095, int)
    _number(bgp, "[bgp]", "connect_retry", 0.1, 86400)
    _flag(bgp, "[bgp]", "graceful_restart")
    if bgp.get("hold_time") in (1, 2):
        raise ConfigError("[bgp] hold_time is 0 or at least 3 (RFC 4271 §4.2)")
    peers = cfg.setdefault("peers", [])
    if not peers:
        raise ConfigError("at least one [[peers]] entry (a route reflector) is needed")
    for p in peers:
        peer_entry(p, "peers", ConfigError)
        where = f"[[peers]] {p['address']}"
        _number(p, where, "peer_as", 1, 0xFFFFFFFF, int)
        _number(p, where, "port", 1, 65535, int)
        for k in ("md5", "local_address"):
            if k in p and not isinstance(p[k], str):
                raise ConfigError(f"{where}: {k} must be a string")
    evpn = cfg.setdefault("evpn", {})
    for k in ("advertise_all_vni", "arp_suppression", "keep_state"):
        _flag(evpn, "[evpn]", k)
    _number(evpn, "[evpn]", "sync_timeout", 0, 86400)
    if "state_file" in evpn and not isinstance(evpn["state_file"], str):
        raise ConfigError("[evpn] state_file must be a path")
    evpn.setdefault("advertise_all_vni", not cfg.get("vnis"))
    if evpn.setdefault("rt", "frr") not in RT_STYLES:
        raise ConfigError(f"[evpn] rt is one of {', '.join(RT_STYLES)}")
    seen = set()
    for v in cfg.setdefault("vnis", []):
        vni = v.get("vni")
        if not isinstance(vni, int) or not 1 <= vni <= 0xFFFFFF:
            raise ConfigError(f"[[vnis]]: vni must be 1..16777215, not {vni!r}")
        if vni in seen:
            raise ConfigError(f"[[vnis]]: VNI {vni} twice")
        seen.add(vni)
        where = f"[[vnis]] {vni}"
        _flag(v, where, "arp_suppression")
        for k in ("device", "bridge"):
            if k in v and not (isinstance(v[k], str) and v[k]):
                raise ConfigError(f"{where}: {k} must be an interface name")
        if "rd" in v:
            try:
                RouteDistinguisher(v["rd"])
            except ValueError as e:
                raise ConfigError(f"{where}: bad rd {v['rd']!r}: {e}") from None
        both = v.get("route_targets")
        for key in ("import_rts", "export_rts"):
            rts = v.get(key, both)
            if rts is not None:
                v["_" + key] = tuple(_rt(t, where) for t in rts)
    return cfg


def _number(section: dict, where: str, key: str, lo, hi, kind=(int, float)) -> None:
    if key not in section:
        return
    v = section[key]
    if isinstance(v, bool) or not isinstance(v, kind) or not lo <= v <= hi:
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"{where} {key} must be {what} in {lo}..{hi}, not {v!r}")


def _flag(section: dict, where: str, key: str) -> None:
    if key in section and not isinstance(section[key], bool):
        raise ConfigError(f"{where} {key} must be true or false, not {section[key]!r}")


def auto_rts(asn: int, vni: int, style: str) -> tuple:
    """The route target FRR derives (``AS:VNI``, RFC 4360 type 0x0002, the
    low 16 bits of a 4-octet AS) or the RFC 8365 §5.1.2.1 one
    (``AS:268435456+VNI`` for VXLAN, also with the low 16 bits)."""
    # FRR (bgp_evpn.c form_auto_rt) takes the low 16 bits of the AS whatever its
    # size, with the VNI as the 4-octet local part: always a type 0x0002 RT
    if style == "rfc8365":
        return (auto_route_target(asn & 0xFFFF, vni),)
    return (ExtCommunity.route_target(asn & 0xFFFF, vni),)


def default_import_rts(asn: int, vni: int, style: str) -> tuple:
    """What a VNI imports unless told: its own auto RT and the other
    convention's, so FRR-style and RFC 8365 (JunOS) senders both match."""
    out = list(auto_rts(asn, vni, style))
    for other in RT_STYLES:
        for rt in auto_rts(asn, vni, other):
            if rt not in out:
                out.append(rt)
    return tuple(out)


__all__ = ["ConfigError", "load_config", "validate_config", "auto_rts", "default_import_rts"]
