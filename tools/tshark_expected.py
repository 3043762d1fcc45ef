#!/usr/bin/env python3
"""Write tests/expected/<capture>.jsonl from Wireshark's BGP dissector (tshark).

The expected decodes of the real captures in pcaps/ must not come from our own
decoder.  This tool runs Debian's tshark on every plain-BGP capture (not the
BMP ones, not the malformed-* ones) and converts Wireshark's dissection tree
into objects in the vocabulary of docs/json-schema.md, one JSON line per BGP
message in capture order:

    tshark -n -r FILE -o tcp.desegment_tcp_streams:TRUE -o bgp.desegment:TRUE \
           -Y bgp -T pdml            (structure: field names, values, offsets)
    tshark ... -T json -x            (the bytes of each BGP message, "bgp_raw")

PDML gives every field Wireshark recognised with its offset and size; the
second run gives the bytes of each whole message, so a field's exact octets
(a 3-octet label, an extended community, an unknown attribute's value) can be
read where Wireshark delimited them.  Nothing is parsed here that Wireshark
did not delimit; where Wireshark does not decode something (or decodes it
with an expert error), the key is left out and the reason is recorded in the
line's ``tshark_notes`` (or ``tshark_error`` for expert errors / malformed).

Keys that are not schema keys: ``frame``, ``src``, ``dst``, ``tshark_error``,
``tshark_notes``.  tests/test_pcap_expected.py ignores them when comparing.

Usage:  python tools/tshark_expected.py [CAPTURE ...]   (default: all plain-BGP
captures in pcaps/); --check compares instead of writing.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PCAPS = os.path.join(ROOT, "pcaps")
EXPECTED = os.path.join(ROOT, "tests", "expected")

TSHARK_PREFS = ["-o", "tcp.desegment_tcp_streams:TRUE", "-o", "bgp.desegment:TRUE"]
NOT_PLAIN_PREFIXES = ("bmp-", "frr10-bmp", "junos-vmx-bmp", "malformed-")

SEV_ERROR = 0x00800000  # PI_ERROR in epan/proto.h (PDML shows it as 8388608)

META_KEYS = ("frame", "src", "dst", "tshark_error", "tshark_notes")

# --- schema vocabulary (docs/json-schema.md) ------------------------------------------

AFI_NAMES = {1: "ipv4", 2: "ipv6", 25: "l2vpn"}
SAFI_NAMES = {1: "unicast", 2: "multicast", 4: "labeled-unicast", 70: "evpn", 128: "mpls-vpn",
              132: "rtc", 133: "flowspec", 134: "flowspec-vpn"}
MSG_TYPES = {1: "OPEN", 2: "UPDATE", 3: "NOTIFICATION", 4: "KEEPALIVE", 5: "ROUTE-REFRESH"}
CAP_NAMES = {1: "multiprotocol", 2: "route-refresh", 5: "extended-nexthop",
             6: "extended-message", 9: "role", 64: "graceful-restart", 65: "four-octet-as",
             69: "add-path", 70: "enhanced-route-refresh", 71: "long-lived-graceful-restart",
             73: "fqdn", 128: "route-refresh-cisco"}
ADD_PATH_MODES = {1: "receive", 2: "send", 3: "both"}
ORIGINS = {0: "igp", 1: "egp", 2: "incomplete"}
SEGMENT_TYPES = {1: "as-set", 2: "as-sequence", 3: "confed-sequence", 4: "confed-set"}
RR_SUBTYPES = {0: "normal", 1: "borr", 2: "eorr"}
PMSI_TYPE_NAMES = {6: "ingress-replication"}
# Attribute codes the schema gives a key of their own; any other code goes to "unknown".
SCHEMA_ATTR_CODES = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 22, 26, 32, 35}
# NOTIFICATION names the schema spells out (json-schema.md, NOTIFICATION table).
NOTIFICATION_CODE_NAMES = {6: "cease"}
NOTIFICATION_SUBCODE_NAMES = {(6, 2): "administrative-shutdown"}
# RFC 9012 tunnel types whose schema spelling is certain (json-schema.md names these two).
ENCAP_NAMES = {8: "vxlan", 10: "mpls"}


def afi_name(v: int):
    return AFI_NAMES.get(v, v)


def safi_name(v: int):
    return SAFI_NAMES.get(v, v)


def family_str(afi: int, safi: int) -> str:
    return f"{afi_name(afi)}/{safi_name(safi)}"


class Uncertain(Exception):
    """tshark does not tell this value reliably: leave the key out (reason recorded)."""


# --- running tshark -----------------------------------------------------------------------

def tshark_version() -> str:
    out = subprocess.run(["tshark", "--version"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0].strip()


def _tshark(path: str, *args: str) -> str:
    cmd = ["tshark", "-n", "-r", path, *TSHARK_PREFS, "-Y", "bgp", *args]
    res = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {res.stderr.strip()}")
    return res.stdout


def _pairs(pairs):
    return pairs  # keep duplicate keys (tshark's JSON repeats them) and their order


def raw_messages(path: str) -> dict:
    """frame number -> [(pos, len, bytes)] of each "bgp" protocol item, in order."""
    doc = json.loads(_tshark(path, "-T", "json", "-x"), object_pairs_hook=_pairs)
    out = {}
    for pkt in doc:
        source = dict(pkt)["_source"]
        layers = dict(source)["layers"]
        frame = None
        msgs = []
        for key, val in layers:
            if key == "frame":
                frame = int(dict(val)["frame.number"])
            elif key == "bgp_raw":
                msgs.append((int(val[1]), int(val[2]), bytes.fromhex(val[0])))
        out[frame] = msgs
    return out


# --- the PDML tree ------------------------------------------------------------------------

class Node:
    """A PDML <field>/<proto> with access to the bytes it covers."""

    __slots__ = ("el", "msg")

    def __init__(self, el, msg):
        self.el = el
        self.msg = msg

    @property
    def name(self) -> str:
        return self.el.get("name") or ""

    @property
    def show(self) -> str:
        return self.el.get("show")

    @property
    def pos(self) -> int:
        return int(self.el.get("pos"))

    @property
    def size(self) -> int:
        return int(self.el.get("size"))

    def int(self) -> int:
        s = self.show
        return int(s, 16) if s.startswith("0x") else int(s)

    def raw(self) -> bytes:
        """The octets of this field, cut from the message tshark framed."""
        return self.msg.octets(self.pos, self.size)

    def children(self):
        return [Node(c, self.msg) for c in self.el]

    def kids(self, name: str):
        return [Node(c, self.msg) for c in self.el if c.get("name") == name]

    def kid(self, name: str):
        for c in self.el:
            if c.get("name") == name:
                return Node(c, self.msg)
        return None

    def need(self, name: str):
        k = self.kid(name)
        if k is None:
            raise Uncertain(f"tshark gives no {name}")
        return k

    def find_all(self, name: str):
        return [Node(c, self.msg) for c in self.el.iter("field") if c.get("name") == name]


class Message:
    def __init__(self, proto_el, pos: int, data: bytes):
        self.el = proto_el
        self.base = pos
        self.data = data

    def octets(self, pos: int, size: int) -> bytes:
        start = pos - self.base
        if start < 0 or start + size > len(self.data):
            raise Uncertain(f"field at {pos}+{size} lies outside the message")
        return self.data[start:start + size]

    @property
    def root(self) -> Node:
        return Node(self.el, self)


def expert_errors(el) -> list:
    """Expert infos of severity Error and malformed-packet markers inside el."""
    errs = []
    for f in el.iter():
        if f.get("name") == "_ws.expert":
            sev = msg = None
            for c in f:
                if c.get("name") == "_ws.expert.severity":
                    sev = int(c.get("show"))
                elif c.get("name") == "_ws.expert.message":
                    msg = c.get("show")
            if sev is not None and sev >= SEV_ERROR:
                errs.append(msg or f.get("showname"))
        elif f.tag == "proto" and f.get("name") == "_ws.malformed" and f is not el:
            errs.append("Malformed Packet")
    # keep order, drop repeats
    seen, out = set(), []
    for e in errs:
        if e not in seen:
            seen.add(e)
            out.append(e)
    return out


# --- value conversion -----------------------------------------------------------------------

def rd_str(raw: bytes, tshark_text: str | None = None) -> str:
    """RFC 4364 §4.2 RD in the schema's spelling; checked against tshark's own text."""
    if len(raw) != 8:
        raise Uncertain(f"RD of {len(raw)} octets")
    t = int.from_bytes(raw[:2], "big")
    if t == 0:
        s = f"{int.from_bytes(raw[2:4], 'big')}:{int.from_bytes(raw[4:], 'big')}"
    elif t == 1:
        s = f"{ipaddress.IPv4Address(raw[2:6])}:{int.from_bytes(raw[6:], 'big')}"
    elif t == 2:
        s = f"{int.from_bytes(raw[2:6], 'big')}:{int.from_bytes(raw[6:], 'big')}"
    else:
        return "raw:" + raw.hex()
    if tshark_text is not None and s != tshark_text:
        raise Uncertain(f"RD {s} disagrees with tshark's {tshark_text!r}")
    return s


def addr(node: Node) -> str:
    """An address field as the schema spells it (compressed IPv6, dotted quad)."""
    return str(ipaddress.ip_address(node.show))


def mac(node: Node) -> str:
    raw = node.raw()
    if len(raw) != 6:
        raise Uncertain("MAC not 6 octets")
    s = ":".join(f"{b:02x}" for b in raw)
    if node.show.lower() != s:
        raise Uncertain(f"MAC {s} disagrees with tshark's {node.show}")
    return s


def label_raw(node: Node) -> int:
    """The raw 24-bit label field (VNI for VXLAN, label << 4 | TC | S for MPLS).

    tshark shows bgp.evpn.nlri.mpls_ls1/2 as the 20-bit MPLS label (raw >> 4) and
    bgp.evpn.nlri.vni as the 24-bit value; both cover the same 3 octets, which are
    read here whole."""
    raw = node.raw()
    if len(raw) != 3:
        raise Uncertain(f"label field {node.name} of {len(raw)} octets")
    v = int.from_bytes(raw, "big")
    shown = node.int()
    if node.name in ("bgp.evpn.nlri.mpls_ls1", "bgp.evpn.nlri.mpls_ls2") and shown != v >> 4:
        raise Uncertain(f"label {node.name}: tshark shows {shown}, raw {v:#08x}")
    if node.name == "bgp.evpn.nlri.vni" and shown != v:
        raise Uncertain(f"VNI: tshark shows {shown}, raw {v:#08x}")
    return v


def prefix_route(wrapper: Node, afi: int, safi: int, prefix_field: str) -> dict:
    plen = wrapper.need("bgp.prefix_length").int()
    p = wrapper.need(prefix_field)
    r = {"afi": afi_name(afi), "safi": safi_name(safi), "prefix": f"{addr(p)}/{plen}"}
    pid = wrapper.kid("bgp.nlri_path_id")
    if pid is not None:
        r["path_id"] = pid.int()
    return r


def prefix_wrappers(container: Node) -> list:
    """The per-prefix subtrees (tshark gives them no field name)."""
    return [c for c in container.children() if c.name == ""]


def covering_wrappers(container: Node) -> list:
    """The per-prefix subtrees, checked to cover the whole field."""
    wrappers = prefix_wrappers(container)
    if sum(w.size for w in wrappers) != container.size:
        raise Uncertain(f"prefixes do not cover {container.name}")
    return wrappers


# --- EVPN ---------------------------------------------------------------------------------------

EVPN_LABEL_FIELDS = ("bgp.evpn.nlri.mpls_ls1", "bgp.evpn.nlri.mpls_ls2", "bgp.evpn.nlri.vni")


def evpn_route(n: Node, notes: list) -> dict:
    rt = n.need("bgp.evpn.nlri.rt").int()
    rd_node = n.need("bgp.evpn.nlri.rd")
    rd_text = None
    sn = rd_node.el.get("showname") or ""
    if "(" in sn:
        rd_text = sn[sn.index("(") + 1:sn.rindex(")")]
    r = {"afi": "l2vpn", "safi": "evpn", "route_type": rt, "rd": rd_str(rd_node.raw(), rd_text)}

    def esi():
        e = n.need("bgp.evpn.nlri.esi")
        raw = e.raw()
        if len(raw) != 10:
            raise Uncertain("ESI not 10 octets")
        return ":".join(f"{b:02x}" for b in raw)

    def ip_or_none(fields=("bgp.evpn.nlri.ip.addr", "bgp.evpn.nlri.ipv6.addr")):
        for f in fields:
            k = n.kid(f)
            if k is not None:
                return addr(k)
        return None

    def labels():
        out = []
        for c in n.children():
            if c.name in EVPN_LABEL_FIELDS:
                out.append(label_raw(c))
            elif c.name == "bgp.update.path_attribute.mpls_label":
                # RT5: one 3-octet label field, shown by tshark as an MPLS stack
                raw = c.raw()
                if len(raw) != 3:
                    raise Uncertain(f"RT5 label stack of {len(raw)} octets")
                out.append(int.from_bytes(raw, "big"))
        if not out:
            raise Uncertain("tshark shows no label field")
        return out

    fields = {}
    if rt == 1:
        fields = {"esi": esi, "ethernet_tag": lambda: n.need("bgp.evpn.nlri.etag").int(),
                  "labels": labels}
    elif rt == 2:
        def ip():
            iplen = n.need("bgp.evpn.nlri.iplen").int()
            v = ip_or_none()
            if (iplen == 0) != (v is None):
                raise Uncertain(f"IP length {iplen} but address {v}")
            return v
        fields = {"esi": esi, "ethernet_tag": lambda: n.need("bgp.evpn.nlri.etag").int(),
                  "mac": lambda: mac(n.need("bgp.evpn.nlri.mac_addr")), "ip": ip,
                  "labels": labels}
    elif rt == 3:
        def orig():
            v = ip_or_none()
            if v is None:
                raise Uncertain("no originator address")
            return v
        fields = {"ethernet_tag": lambda: n.need("bgp.evpn.nlri.etag").int(),
                  "originator_ip": orig}
    elif rt == 4:
        def orig4():
            v = ip_or_none()
            if v is None:
                raise Uncertain("no originator address")
            return v
        fields = {"esi": esi, "originator_ip": orig4}
    elif rt == 5:
        def prefix():
            plen = n.need("bgp.evpn.nlri.prefix_len").int()
            v = ip_or_none()
            if v is None:
                raise Uncertain("no prefix address")
            return f"{v}/{plen}"

        def gateway():
            return ip_or_none(("bgp.evpn.nlri.ipv4.gtw_addr", "bgp.evpn.nlri.ipv6.gtw_addr"))
        fields = {"esi": esi, "ethernet_tag": lambda: n.need("bgp.evpn.nlri.etag").int(),
                  "prefix": prefix, "gateway": gateway, "labels": labels}
    else:
        notes.append(f"EVPN route type {rt}: only route_type and rd converted")
    for key, fn in fields.items():
        try:
            r[key] = fn()
        except Uncertain as exc:
            notes.append(f"EVPN RT{rt} {key} left out: {exc}")
    return r


# --- extended communities -------------------------------------------------------------------------

def ext_community(n: Node) -> str:
    raw = n.raw()
    if len(raw) != 8:
        raise Uncertain(f"extended community of {len(raw)} octets")
    t = n.need("bgp.ext_com.type").int()
    st_node = next((c for c in n.children() if c.name.startswith("bgp.ext_com.stype_")), None)
    if st_node is None:
        raise Uncertain("tshark shows no subtype")
    st = st_node.int()
    if t != raw[0] or st != raw[1]:
        raise Uncertain("type/subtype disagree with the octets")
    if t in (0x00, 0x01, 0x02) and st in (0x02, 0x03):
        kind = "target" if st == 0x02 else "origin"
        if t == 0x00:
            g, l = n.need("bgp.ext_com.value_as2").int(), n.need("bgp.ext_com.value_an4").int()
        elif t == 0x01:
            g, l = addr(n.need("bgp.ext_com.value_IP4")), n.need("bgp.ext_com.value_an2").int()
        else:
            g, l = n.need("bgp.ext_com.value_as4").int(), n.need("bgp.ext_com.value_an2").int()
        return f"{kind}:{g}:{l}"
    if t == 0x03 and st == 0x0C:
        tt = n.need("bgp.ext_com.tunnel_type").int()
        if tt not in ENCAP_NAMES:
            raise Uncertain(f"encapsulation {tt}: schema name not certain")
        return f"encapsulation:{ENCAP_NAMES[tt]}"
    if t == 0x03 and st == 0x0D:
        return "default-gateway"
    if t == 0x06 and st in (0x00, 0x01, 0x02, 0x03, 0x04, 0x06, 0x08):
        raise Uncertain(f"EVPN extended community 0x06/{st:#04x} not converted by this tool")
    return "raw:" + raw.hex()


# --- capabilities -------------------------------------------------------------------------------------

def capability(c: Node, notes: list) -> dict:
    code = c.need("bgp.cap.type").int()
    length = c.need("bgp.cap.length").int()
    if c.size != 2 + length:
        raise Uncertain(f"capability {code}: item size {c.size} != 2 + {length}")
    value = c.raw()[2:]
    if code not in CAP_NAMES:
        return {"code": code, "name": "unknown", "data": value.hex()}
    d = {"code": code, "name": CAP_NAMES[code]}
    if code == 71 and length == 0:
        d["families"] = []
        return d
    if c.kid("bgp.cap.unknown") is not None:
        notes.append(f"capability {code} ({CAP_NAMES[code]}): tshark 4.0 does not decode "
                     f"its value; fields left out")
        return d
    if code == 1:
        d["afi"] = afi_name(c.need("bgp.cap.mp.afi").int())
        d["safi"] = safi_name(c.need("bgp.cap.mp.safi").int())
    elif code == 5:
        afis, safis, nhs = (c.kids("bgp.cap.enh.afi"), c.kids("bgp.cap.enh.safi"),
                            c.kids("bgp.cap.enh.nhafi"))
        if not (len(afis) == len(safis) == len(nhs)) or len(afis) * 6 != length:
            raise Uncertain("extended-nexthop tuples do not add up")
        d["tuples"] = [{"afi": afi_name(a.int()), "safi": safi_name(s.int()),
                        "nexthop_afi": afi_name(h.int())} for a, s, h in zip(afis, safis, nhs)]
    elif code == 64:
        timers = c.need("bgp.cap.gr.timers")
        tv = int.from_bytes(timers.raw(), "big")
        d["restart_flags"] = tv >> 12
        d["restart_time"] = tv & 0x0FFF
        if timers.need("bgp.cap.gr.timers.restart_time").int() != d["restart_time"]:
            raise Uncertain("GR restart time disagrees with tshark")
        afis, safis, flags = (c.kids("bgp.cap.gr.afi"), c.kids("bgp.cap.gr.safi"),
                              c.kids("bgp.cap.gr.flag"))
        if not (len(afis) == len(safis) == len(flags)) or 2 + 4 * len(afis) != length:
            raise Uncertain("graceful-restart families do not add up")
        d["families"] = [{"afi": afi_name(a.int()), "safi": safi_name(s.int()),
                          "flags": int.from_bytes(f.raw(), "big")}
                         for a, s, f in zip(afis, safis, flags)]
    elif code == 65:
        d["as"] = c.need("bgp.cap.4as").int()
    elif code == 69:
        afis, safis, modes = (c.kids("bgp.cap.ap.afi"), c.kids("bgp.cap.ap.safi"),
                              c.kids("bgp.cap.ap.sendreceive"))
        if not (len(afis) == len(safis) == len(modes)) or 4 * len(afis) != length:
            raise Uncertain("add-path families do not add up")
        d["families"] = [{"afi": afi_name(a.int()), "safi": safi_name(s.int()),
                          "send_receive": ADD_PATH_MODES.get(m.int(), m.int())}
                         for a, s, m in zip(afis, safis, modes)]
    elif code == 73:
        h = c.need("bgp.cap.orf.fqdn.hostname")
        dn = c.need("bgp.cap.orf.fqdn.domain_name")
        d["hostname"] = h.raw().decode("utf-8")
        d["domain"] = dn.raw().decode("utf-8")
    elif code in (2, 6, 70, 128):
        if length != 0:
            raise Uncertain(f"capability {code} with {length} value octets")
    else:  # 9, 71: tshark 4.0 decodes neither (handled by bgp.cap.unknown above)
        notes.append(f"capability {code}: value not converted")
    return d


# --- messages --------------------------------------------------------------------------------------

def conv_open(m: Node, d: dict, notes: list):
    d["version"] = m.need("bgp.open.version").int()
    my_as_2 = m.need("bgp.open.myas").int()
    d["my_as_2"] = my_as_2
    d["hold_time"] = m.need("bgp.open.holdtime").int()
    d["bgp_id"] = addr(m.need("bgp.open.identifier"))
    caps, params = [], []
    opt = m.kid("bgp.open.opt")
    if opt is not None:
        for p in opt.children():
            if p.name != "bgp.open.opt.param":
                raise Uncertain(f"unexpected item {p.name!r} among the optional parameters")
            ptype = p.need("bgp.open.opt.param.type").int()
            plen = p.need("bgp.open.opt.param.len").int()
            if p.size != 2 + plen:
                raise Uncertain(f"optional parameter {ptype}: size {p.size} != 2 + {plen}")
            if ptype == 2:
                for c in p.kids("bgp.cap"):
                    caps.append(capability(c, notes))
            else:
                params.append({"type": ptype, "data": p.raw()[2:].hex()})
    # RFC 9072 §2: the extended format is marked by Non-Ext OP Len = 255 (and type 255);
    # any other length byte means the RFC 4271 format.  tshark 4.0 does not know RFC
    # 9072 (it flags such OPENs with errors), so only the negative is stated here.
    if m.need("bgp.open.opt.len").int() != 255:
        d["extended_parameters"] = False
    d["capabilities"] = caps
    if params:
        d["parameters"] = params
    four = [c for c in caps if c["code"] == 65 and "as" in c]
    d["my_as"] = four[0]["as"] if four else my_as_2


class Session:
    """What the capture's own OPENs (as tshark decoded them) say about one direction."""

    def __init__(self):
        self.opens = {}  # (src, dst) -> OPEN dict

    def _pair(self, src, dst):
        return self.opens.get((src, dst)), self.opens.get((dst, src))

    def four_octet(self, src, dst) -> bool:
        mine, other = self._pair(src, dst)
        if mine is None:
            return True  # bgpevpn.Context() default, what the test uses before an OPEN
        def has(o):
            return any(c["code"] == 65 for c in o["capabilities"])
        return has(mine) and (other is None or has(other))

    def add_path(self, src, dst) -> set:
        mine, other = self._pair(src, dst)
        if mine is None:
            return set()

        def modes(o):
            out = {}
            for c in o["capabilities"]:
                if c["code"] == 69:
                    for f in c.get("families", []):
                        m = f["send_receive"]
                        out[(f["afi"], f["safi"])] = {"receive": 1, "send": 2, "both": 3}.get(m, m)
            return out
        s = modes(mine)
        r = modes(other) if other is not None else None
        return {fam for fam, m in s.items()
                if isinstance(m, int) and m & 2 and (r is None or (r.get(fam, 0) & 1))}


def conv_update(m: Node, d: dict, notes: list, four_octet: bool, add_path: set):
    attrs = {}
    mp_reach, mp_unreach = [], []
    lists_ok = {"withdrawn": True, "announced": True}
    classic_withdrawn = []
    wd = m.kid("bgp.update.withdrawn_routes")
    if wd is not None:
        for w in covering_wrappers(wd):
            classic_withdrawn.append(prefix_route(w, 1, 1, "bgp.withdrawn_prefix"))
    pa = m.kid("bgp.update.path_attributes")
    attr_items = pa.kids("bgp.update.path_attribute") if pa is not None else []
    codes_seen = []
    unknown = []
    for a in attr_items:
        code = a.need("bgp.update.path_attribute.type_code").int()
        flags = a.need("bgp.update.path_attribute.flags").int()
        alen = a.need("bgp.update.path_attribute.length").int()
        hdr = 4 if flags & 0x10 else 3
        if a.size != hdr + alen:
            raise Uncertain(f"attribute {code}: item size {a.size} != {hdr} + {alen}")
        value = a.raw()[hdr:]
        codes_seen.append(code)
        try:
            if code == 14:
                mp_reach.append(mp_attr(a, True, notes))
            elif code == 15:
                mp_unreach.append(mp_attr(a, False, notes))
            elif code not in SCHEMA_ATTR_CODES:
                unknown.append({"code": code, "flags": flags, "data": value.hex()})
            else:
                key, val = path_attribute(a, code, value, notes, four_octet)
                if key is not None:
                    attrs[key] = val
        except Uncertain as exc:
            notes.append(f"attribute {code} left out: {exc}")
            if code in (14, 15):  # its routes are unknown, so the whole list is
                lists_ok["announced" if code == 14 else "withdrawn"] = False
    if unknown:
        attrs["unknown"] = unknown
    nlri = []
    nl = m.kid("bgp.update.nlri")
    if nl is not None:
        for w in covering_wrappers(nl):
            nlri.append(prefix_route(w, 1, 1, "bgp.nlri_prefix"))

    # next hops: the classic NEXT_HOP for the NLRI field, the MP_REACH next hop otherwise
    for r in nlri:
        if "next_hop" in attrs:
            r["next_hop"] = attrs["next_hop"]
    withdrawn = classic_withdrawn + [r for mp in mp_unreach for r in mp["routes"]]
    announced = nlri + [r for mp in mp_reach for r in mp["routes"]]
    # ADD-PATH: tshark guesses path ids heuristically; our decoder follows the OPENs.
    for key, routes in (("withdrawn", withdrawn), ("announced", announced)):
        for r in routes:
            fam = (r["afi"], r["safi"])
            if "prefix" in r and r.get("safi") == "unicast" and r.get("afi") in ("ipv4", "ipv6"):
                has = "path_id" in r
                want = fam in add_path
                if has != want:
                    lists_ok[key] = False
                    notes.append(f"{key} left out: tshark {'found' if has else 'found no'} "
                                 f"ADD-PATH path ids for {fam[0]}/{fam[1]}, the capture's OPENs "
                                 f"say {'yes' if want else 'no'}")
                    break
    if lists_ok["withdrawn"]:
        d["withdrawn"] = withdrawn
    if lists_ok["announced"]:
        d["announced"] = announced
    d["attributes"] = attrs
    # RFC 4724 §2: End-of-RIB is an UPDATE with no routes and no attributes (IPv4
    # unicast) or with only an empty MP_UNREACH_NLRI (other families).
    eor, known = None, True
    if not attr_items and not classic_withdrawn and nl is None and wd is None:
        eor = "ipv4/unicast"
    elif (codes_seen == [15] and not classic_withdrawn and nl is None
          and mp_unreach and mp_unreach[0]["empty"]):
        if (mp_unreach[0]["afi"], mp_unreach[0]["safi"]) == (1, 1):
            # RFC 4724 §2 defines the IPv4-unicast marker as the empty UPDATE only;
            # whether an empty MP_UNREACH for 1/1 counts is a reading, not a fact.
            notes.append("end_of_rib left out: empty MP_UNREACH_NLRI for ipv4/unicast")
            known = False
        else:
            eor = family_str(mp_unreach[0]["afi"], mp_unreach[0]["safi"])
    elif len(mp_unreach) != codes_seen.count(15):
        known = False  # an MP_UNREACH tshark could not give might have been a marker
    if known:
        d["end_of_rib"] = eor


def mp_attr(a: Node, reach: bool, notes: list) -> dict:
    pfx = "bgp.update.path_attribute.mp_reach_nlri" if reach else \
        "bgp.update.path_attribute.mp_unreach_nlri"
    afi = a.need(pfx + ".afi").int()
    safi = a.need(pfx + ".safi").int()
    out = {"afi": afi, "safi": safi, "routes": [], "empty": True}
    nh = {}
    if reach:
        nhn = a.need(pfx + ".next_hop")
        v4 = nhn.kids(pfx + ".next_hop.ipv4")
        v6 = nhn.kids(pfx + ".next_hop.ipv6")
        ll = nhn.kids(pfx + ".next_hop.ipv6.link_local")
        if len(v4) + len(v6) != 1 or len(ll) > 1:
            raise Uncertain(f"next hop {nhn.show!r} not one address for tshark")
        nh["next_hop"] = addr((v4 or v6)[0])
        if ll:
            nh["next_hop_link_local"] = addr(ll[0])
        snpa = a.need(pfx + ".nbr_snpa").int()
        if snpa:
            raise Uncertain("SNPAs present")
    container = a.kid(pfx)
    if container is None or container.size == 0:
        return out
    out["empty"] = False
    routes = out["routes"]
    if (afi, safi) in ((1, 1), (2, 1)):
        field = ("bgp.mp_reach_nlri_ipv%d_prefix" if reach else "bgp.mp_unreach_nlri_ipv%d_prefix") \
            % (4 if afi == 1 else 6)
        for w in covering_wrappers(container):
            routes.append(prefix_route(w, afi, safi, field))
    elif (afi, safi) == (25, 70):
        items = container.kids("bgp.evpn.nlri")
        if sum(i.size for i in items) != container.size:
            raise Uncertain("EVPN routes do not cover the NLRI field")
        for i in items:
            routes.append(evpn_route(i, notes))
    else:
        routes.append({"afi": afi_name(afi), "safi": safi_name(safi),
                       "raw": container.raw().hex()})
    for r in routes:
        r.update(nh)
    return out


def path_attribute(a: Node, code: int, value: bytes, notes: list, four_octet: bool):
    P = "bgp.update.path_attribute."
    if code == 1:
        v = a.need(P + "origin").int()
        return "origin", ORIGINS.get(v, v)
    if code in (2, 17):
        segs = []
        widths = set()
        for s in a.kids(P + "as_path_segment"):
            t = s.need(P + "as_path_segment.type").int()
            as2, as4 = s.kids(P + "as_path_segment.as2"), s.kids(P + "as_path_segment.as4")
            if as2:
                widths.add(2)
            if as4:
                widths.add(4)
            n = s.need(P + "as_path_segment.length").int()
            asns = [x.int() for x in s.children() if x.name in (P + "as_path_segment.as2",
                                                                 P + "as_path_segment.as4")]
            if n != len(asns):
                raise Uncertain("segment length disagrees with the ASNs shown")
            segs.append({"type": SEGMENT_TYPES.get(t, t), "asns": asns})
        if sum(s.size for s in a.kids(P + "as_path_segment")) != len(value):
            raise Uncertain("segments do not cover the attribute")
        if code == 2 and widths and widths != ({4} if four_octet else {2}):
            raise Uncertain(f"tshark read {'/'.join(map(str, sorted(widths)))}-octet ASNs, the "
                            f"capture's OPENs give a {'4' if four_octet else '2'}-octet session")
        if code == 17 and widths - {4}:
            raise Uncertain("AS4_PATH with 2-octet ASNs")
        return ("as_path" if code == 2 else "as4_path"), segs
    if code == 3:
        return "next_hop", addr(a.need(P + "next_hop"))
    if code == 4:
        return "med", a.need(P + "multi_exit_disc").int()
    if code == 5:
        return "local_pref", a.need(P + "local_pref").int()
    if code == 6:
        if value:
            raise Uncertain("ATOMIC_AGGREGATE with a value")
        return "atomic_aggregate", True
    if code in (7, 18):
        if code == 7 and len(value) != (8 if four_octet else 6):
            raise Uncertain("AGGREGATOR length does not fit the session's AS size")
        return ("aggregator" if code == 7 else "as4_aggregator"), {
            "as": a.need(P + "aggregator_as").int(),
            "address": addr(a.need(P + "aggregator_origin"))}
    if code == 8:
        out = []
        items = a.find_all(P + "community")
        if len(items) * 4 != len(value):
            raise Uncertain("communities do not cover the attribute")
        for c in items:
            raw = c.raw()
            hi, lo = int.from_bytes(raw[:2], "big"), int.from_bytes(raw[2:], "big")
            ca, cv = c.kid(P + "community_as"), c.kid(P + "community_value")
            if ca is not None and (ca.int(), cv.int()) != (hi, lo):
                raise Uncertain("community disagrees with tshark")
            out.append(f"{hi}:{lo}")
        return "communities", out
    if code == 9:
        return "originator_id", addr(a.need(P + "originator_id"))
    if code == 10:
        ids = a.find_all("bgp.path_attribute.cluster_id")
        if len(ids) * 4 != len(value):
            raise Uncertain("cluster ids do not cover the attribute")
        return "cluster_list", [addr(i) for i in ids]
    if code == 16:
        items = a.find_all("bgp.ext_community")
        if len(items) * 8 != len(value):
            raise Uncertain("extended communities do not cover the attribute")
        return "extended_communities", [ext_community(i) for i in items]
    if code == 22:
        d = {"flags": a.need(P + "pmsi.tunnel.flags").int(),
             "type": a.need(P + "pmsi.tunnel.type").int()}
        if d["type"] in PMSI_TYPE_NAMES:
            d["type_name"] = PMSI_TYPE_NAMES[d["type"]]
        vstart = a.pos + a.size - len(value)  # after flags, code and length
        lab = [c for c in a.children() if c.pos == vstart + 2 and c.size == 3]
        if len(lab) != 1:
            notes.append("PMSI label left out: tshark shows no 3-octet label field")
        else:
            d["label"] = int.from_bytes(lab[0].raw(), "big")
            if lab[0].raw() != value[2:5]:
                raise Uncertain("PMSI label position")
        ep = a.find_all(P + "pmsi.ingress_rep_ip")
        if d["type"] == 6 and len(ep) == 1:
            d["endpoint"] = addr(ep[0])
        else:
            notes.append("PMSI endpoint left out")
        return "pmsi_tunnel", d
    if code == 26:
        types = a.find_all("bgp.update.attribute.aigp.type")
        metrics = a.find_all("bgp.update.attribute.aigp.accu_igp_metric")
        if len(types) != 1 or types[0].int() != 1 or len(metrics) != 1:
            raise Uncertain("AIGP other than one type-1 TLV")
        return "aigp", metrics[0].int()
    if code == 32:
        out = []
        items = a.kids("bgp.large_communities")
        if len(items) * 12 != len(value):
            raise Uncertain("large communities do not cover the attribute")
        for c in items:
            out.append(":".join(str(c.need("bgp.large_communities." + k).int())
                                for k in ("ga", "ldp1", "ldp2")))
        return "large_communities", out
    if code == 35:
        if a.kid("bgp.update.path_attributes.unknown") is not None:
            raise Uncertain("tshark 4.0 does not decode OTC (attribute 35)")
        raise Uncertain("OTC not converted")
    raise Uncertain(f"attribute {code} not converted")


def conv_notification(m: Node, d: dict, notes: list, data: bytes):
    d["code"] = m.need("bgp.notify.major_error").int()
    sub = next((c for c in m.children() if c.name.startswith("bgp.notify.minor_error")), None)
    if sub is None:
        raise Uncertain("tshark shows no subcode")
    d["subcode"] = sub.int()
    # names only where docs/json-schema.md spells them out; the others are left out
    if d["code"] in NOTIFICATION_CODE_NAMES:
        d["code_name"] = NOTIFICATION_CODE_NAMES[d["code"]]
    if (d["code"], d["subcode"]) in NOTIFICATION_SUBCODE_NAMES:
        d["subcode_name"] = NOTIFICATION_SUBCODE_NAMES[(d["code"], d["subcode"])]
    d["data"] = data[21:].hex()
    comm = m.kid("bgp.notify.communication")
    clen = m.kid("bgp.notify.communication_length")
    if comm is not None and clen is not None and clen.int() > 0:
        d["shutdown_message"] = comm.raw().decode("utf-8")
    if d["code"] == 6 and d["subcode"] == 9:
        notes.append("hard-reset inner NOTIFICATION: tshark 4.0 does not decode it; left out")


def conv_route_refresh(m: Node, d: dict, notes: list, data: bytes):
    d["afi"] = afi_name(m.need("bgp.route_refresh.afi").int())
    d["safi"] = safi_name(m.need("bgp.route_refresh.safi").int())
    st = m.need("bgp.route_refresh.subtype").int()
    d["subtype"] = RR_SUBTYPES.get(st, st)
    if len(data) > 23:
        d["data"] = data[23:].hex()


def convert_file(path: str) -> list:
    raws = raw_messages(path)
    root = ET.fromstring(_tshark(path, "-T", "pdml"))
    session = Session()
    out = []
    for pkt in root.findall("packet"):
        protos = list(pkt)
        geninfo = next(p for p in protos if p.get("name") == "geninfo")
        frame = int(geninfo.find("field[@name='num']").get("show"))
        ip = [p for p in protos if p.get("name") in ("ip", "ipv6")]
        tcp = [p for p in protos if p.get("name") == "tcp"]
        if len(ip) != 1 or len(tcp) != 1:
            raise RuntimeError(f"{path} frame {frame}: not one IP and one TCP layer")
        ipname = ip[0].get("name")
        sa = ip[0].find(f"field[@name='{ipname}.src']").get("show")
        da = ip[0].find(f"field[@name='{ipname}.dst']").get("show")
        sp = tcp[0].find("field[@name='tcp.srcport']").get("show")
        dp = tcp[0].find("field[@name='tcp.dstport']").get("show")
        fmt = (lambda a, p: f"[{a}]:{p}") if ipname == "ipv6" else (lambda a, p: f"{a}:{p}")
        src, dst = fmt(sa, sp), fmt(da, dp)
        bgp_idx = [i for i, p in enumerate(protos) if p.get("name") == "bgp"]
        rawlist = raws.get(frame, [])
        if len(rawlist) != len(bgp_idx):
            raise RuntimeError(f"{path} frame {frame}: {len(bgp_idx)} bgp items in PDML, "
                               f"{len(rawlist)} in JSON")
        for k, i in enumerate(bgp_idx):
            el = protos[i]
            pos, size, data = rawlist[k]
            if (pos, size) != (int(el.get("pos")), int(el.get("size"))) or len(data) != size:
                raise RuntimeError(f"{path} frame {frame}: PDML/JSON disagree on message {k}")
            errs = expert_errors(el)
            # a malformed-packet marker right after this message belongs to it
            nxt = protos[i + 1] if i + 1 < len(protos) else None
            if nxt is not None and nxt.get("name") == "_ws.malformed":
                errs += [e for e in (expert_errors(nxt) or ["Malformed Packet"]) if e not in errs]
            msg = Message(el, pos, data)
            out.append(convert_message(msg, frame, src, dst, errs, session))
    return out


def convert_message(msg: Message, frame: int, src: str, dst: str, errs: list,
                    session: Session) -> dict:
    m = msg.root
    d = {"frame": frame, "src": src, "dst": dst}
    notes: list = []
    t = m.need("bgp.type").int()
    d["type"] = MSG_TYPES.get(t, "UNKNOWN")
    d["length"] = m.need("bgp.length").int()
    if d["type"] == "UNKNOWN":
        d["type_code"] = t
    if errs:
        # Wireshark itself flagged this message: only what precedes the body is kept.
        d["tshark_error"] = "; ".join(errs)
        return d
    body = {}
    try:
        if t == 1:
            conv_open(m, body, notes)
        elif t == 2:
            conv_update(m, body, notes, session.four_octet(src, dst), session.add_path(src, dst))
        elif t == 3:
            conv_notification(m, body, notes, msg.data)
        elif t == 5:
            conv_route_refresh(m, body, notes, msg.data)
        elif t != 4:
            body["data"] = msg.data[19:].hex()
    except Uncertain as exc:
        notes.append(f"message body left out: {exc}")
        body = {}
    d.update(body)
    if t == 1 and "capabilities" in body:
        session.opens[(src, dst)] = body
    if notes:
        d["tshark_notes"] = notes
    return d


def plain_captures(folder: str) -> list:
    return sorted(f for f in os.listdir(folder)
                  if f.endswith((".pcap", ".pcapng")) and not f.startswith(NOT_PLAIN_PREFIXES))


def dump(objs: list) -> str:
    return "".join(json.dumps(o, separators=(", ", ": ")) + "\n" for o in objs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("captures", nargs="*", help="capture file names in pcaps/ (default: all plain)")
    ap.add_argument("--check", action="store_true",
                    help="report files that differ from what would be written; write nothing")
    args = ap.parse_args(argv)
    names = args.captures or plain_captures(PCAPS)
    os.makedirs(EXPECTED, exist_ok=True)
    print(f"# {tshark_version()}", file=sys.stderr)
    status = 0
    for name in names:
        name = os.path.basename(name)
        objs = convert_file(os.path.join(PCAPS, name))
        text = dump(objs)
        target = os.path.join(EXPECTED, name + ".jsonl")
        errors = sum(1 for o in objs if "tshark_error" in o)
        noted = sum(1 for o in objs if "tshark_notes" in o)
        if args.check:
            old = None
            if os.path.exists(target):
                with open(target, encoding="utf-8") as fh:
                    old = fh.read()
            if old != text:
                print(f"DIFFERS {target}", file=sys.stderr)
                status = 1
            continue
        with open(target, "w", encoding="utf-8") as fh:
            fh.write(text)
        print(f"{name}: {len(objs)} messages, {errors} tshark_error, {noted} with notes",
              file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
