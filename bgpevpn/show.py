"""Text renderings of messages and routes (the plain notation of
``bgpevpn decode``); JSON is ``message.to_dict()``."""
from __future__ import annotations

from .attributes import format_next_hop


def format_route(route) -> str:
    """One route in the plain notation: the fields of its to_dict()."""
    d = route.to_dict()
    if d.get("afi") == "l2vpn" and d.get("safi") == "evpn":
        fields = [f"[{d['route_type']}]", f"rd {d.get('rd')}"]
        for k in ("esi", "ethernet_tag", "mac", "ip", "prefix", "gateway", "originator_ip",
                  "source", "group", "flags", "path_id", "raw"):
            if k in d:
                v = d[k]
                if k == "esi" and v == "00:00:00:00:00:00:00:00:00:00":
                    v = "0"
                fields.append(f"{k.replace('_', '-')} {v if v is not None else '-'}")
        if "labels" in d:
            fields.append("labels " + ",".join(map(str, d["labels"])))
        return "evpn " + " ".join(fields)
    if "prefix" in d:
        pid = f" path-id {d['path_id']}" if "path_id" in d else ""
        return f"{d['afi']}/{d['safi']} {d['prefix']}{pid}"
    return f"{d['afi']}/{d['safi']} raw {d.get('raw')}"


def _attrs_line(attrs: dict) -> str:
    out = []
    for k, v in attrs.items():
        if k == "as_path" or k == "as4_path":
            segs = []
            for s in v:
                asns = " ".join(map(str, s["asns"]))
                segs.append({"as-set": "{%s}", "confed-sequence": "(%s)",
                             "confed-set": "[%s]"}.get(s["type"], "%s") % asns)
            v = " ".join(segs) or "(empty)"
        elif isinstance(v, list):
            v = " ".join(str(x) for x in v)
        elif isinstance(v, dict):
            v = " ".join(f"{a}={b}" for a, b in v.items())
        out.append(f"{k.replace('_', '-')} {v}")
    return ", ".join(out)


def format_message(msg, style: str = "plain", keep=None) -> str:
    """A one-line summary, then one indented line per route for UPDATEs, in
    the notation ``style`` (plain, frr, gobgp, junos; see ``notation``);
    ``keep(route)`` selects the routes shown."""
    d = msg.to_dict()
    t = d["type"]
    head = f"{t} len={d['length']}"
    if t == "OPEN":
        caps = " ".join(c["name"] if c["name"] != "unknown" else f"cap-{c['code']}"
                        for c in d["capabilities"])
        return (f"{head} version={d['version']} as={d['my_as']} hold={d['hold_time']} "
                f"id={d['bgp_id']} caps: {caps}")
    if t == "NOTIFICATION":
        text = f"{head} {d['code']}/{d['subcode']} {d['code_name']}/{d['subcode_name']}"
        if "shutdown_message" in d:
            text += f' "{d["shutdown_message"]}"'
        elif d["data"]:
            text += f" data={d['data']}"
        return text
    if t == "ROUTE-REFRESH":
        return f"{head} {d['afi']}/{d['safi']} subtype={d['subtype']}"
    if t == "UPDATE":
        if d["end_of_rib"]:
            return f"{head} End-of-RIB {d['end_of_rib']}"
        lines = [f"{head} announce={len(d['announced'])} withdraw={len(d['withdrawn'])}"
                 + (f" | {_attrs_line(d['attributes'])}" if d["attributes"] else "")]
        render = format_route
        if style != "plain":
            from .notation import format_route as styled

            def render(r):
                return styled(r, style)
        for r in msg.withdrawn:
            if keep is None or keep(r):
                lines.append("  - " + render(r))
        for r in msg.announced:
            if keep is None or keep(r):
                nh, ll = msg.next_hop_of(r)
                lines.append("  + " + render(r) + f" nh {nh}" + (f",{ll}" if ll else ""))
        return "\n".join(lines)
    if t == "UNKNOWN":
        return f"{head} type={d['type_code']} data={d['data']}"
    return head


__all__ = ["format_route", "format_message", "format_next_hop"]
