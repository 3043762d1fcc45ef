"""The EVPN routes the interop tests announce, and field-by-field checks."""
from __future__ import annotations

from .agentctl import route_key

AS = 65000
VNI = 100
RT = "65000:100"
OUR_RD = "203.0.113.1:2"      # an RD is only a name: no traffic goes to 203.0.113.1
EXT = [f"target:{RT}", "encapsulation:vxlan"]
PEER_EXT = sorted(EXT)


def our_type2(n: int) -> list:
    """``n`` type-2 routes of ours: even ones MAC only, odd ones MAC+IP
    (10.1.2.0/23, never used by the peer's own hosts in 10.1.1.0/24)."""
    out = []
    for i in range(n):
        spec = {"type": 2, "rd": OUR_RD, "mac": f"02:00:00:01:{i >> 8:02x}:{i & 0xFF:02x}",
                "labels": [VNI], "ethernet_tag": 0}
        spec["ip"] = f"10.1.{2 + (i >> 8)}.{i & 0xFF}" if i % 2 else None
        out.append(spec)
    return out


def our_type3(originator: str) -> dict:
    return {"type": 3, "rd": OUR_RD, "originator_ip": originator, "ethernet_tag": 0}


def type2_attrs() -> dict:
    return {"origin": 0, "local_pref": 100, "ext_communities": list(EXT)}


def type3_attrs(endpoint: str) -> dict:
    a = type2_attrs()
    a["pmsi"] = {"flags": 0, "type": 6, "label": VNI, "endpoint": endpoint}
    return a


def spec_key(spec: dict) -> tuple:
    if spec["type"] == 2:
        return (2, spec["rd"], spec.get("ethernet_tag", 0), spec["mac"], spec.get("ip"))
    return (3, spec["rd"], spec.get("ethernet_tag", 0), spec["originator_ip"])


def diff_fields(actual: dict, expected: dict, where: str) -> list:
    """Mismatches of ``expected``'s fields in ``actual`` (as text lines)."""
    out = []
    for k, v in expected.items():
        if actual.get(k) != v:
            out.append(f"{where}: {k} = {actual.get(k)!r}, expected {v!r}")
    return out


def assert_tables_equal(actual: dict, expected: dict, what: str) -> None:
    """``actual`` and ``expected`` map route keys to field dicts: same keys,
    and every expected field equal."""
    problems = []
    missing = sorted(set(expected) - set(actual), key=repr)
    extra = sorted(set(actual) - set(expected), key=repr)
    if missing:
        problems.append(f"{len(missing)} routes missing, e.g. {missing[:3]}")
    if extra:
        problems.append(f"{len(extra)} unexpected routes, e.g. {extra[:3]}")
    for k in sorted(set(actual) & set(expected), key=repr):
        problems += diff_fields(actual[k], expected[k], repr(k))
    assert not problems, f"{what}:\n" + "\n".join(problems[:40])


def our_rib_view(rib: dict) -> dict:
    """Our agent's RIB entries reduced to comparable fields."""
    out = {}
    for k, e in rib.items():
        a = e["attributes"]
        f = {"route_type": e["route_type"], "rd": e["rd"], "ethernet_tag": e["ethernet_tag"],
             "next_hop": e["next_hop"], "ext_communities": sorted(a.get("extended_communities", [])),
             "origin": a.get("origin"), "local_pref": a.get("local_pref"),
             "as_path": a.get("as_path"), "stale": e["stale"]}
        if e["route_type"] == 2:
            f.update(mac=e["mac"], ip=e["ip"], labels=e["labels"], esi=e["esi"])
        elif e["route_type"] == 3:
            f.update(originator_ip=e["originator_ip"], pmsi=a.get("pmsi_tunnel"))
        out[k] = f
    return out


__all__ = [
    "AS",
    "EXT",
    "OUR_RD",
    "PEER_EXT",
    "RT",
    "VNI",
    "assert_tables_equal",
    "diff_fields",
    "our_rib_view",
    "our_type2",
    "our_type3",
    "route_key",
    "spec_key",
    "type2_attrs",
    "type3_attrs",
]
