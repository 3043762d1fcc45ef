"""BGP message objects (RFC 4271 §4, RFC 2918, RFC 7313).

Each has ``type`` (its JSON name), ``type_code``, ``length`` (from the
header, 0 until encoded), ``to_dict()`` (docs/json-schema.md) and
``encode(context)`` giving the wire bytes.  Decoded messages keep what they
need to re-encode byte-for-byte.
"""
from __future__ import annotations

import struct

from .constants import (ADD_PATH_MODE_NAMES, CAPABILITY_NAMES, ERROR_CODE_NAMES,
                        ERROR_SUBCODE_NAMES, ROLE_NAMES, ROUTE_REFRESH_SUBTYPE_NAMES,
                        AttrType, CapabilityCode, ErrorCode, MessageType, afi_name,
                        family_name, safi_name)
from .attributes import Attributes, format_next_hop
from .context import DEFAULT_CONTEXT
from .values import _Checked

_U16 = _Checked("!H", "2 octets")
_U32 = _Checked("!I", "4 octets")


class Message:
    """Common base of the message classes."""
    __slots__ = ("length",)
    type_code = 0
    type = "UNKNOWN"

    def encode(self, context=None) -> bytes:
        from . import wire
        return wire.encode_message(self, context or DEFAULT_CONTEXT)

    def _head(self) -> dict:
        return {"type": self.type, "length": self.length}

    def __eq__(self, other):
        if type(self) is not type(other):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # messages are mutable containers of routes


# --- OPEN ---------------------------------------------------------------------

class Capability:
    """One capability (RFC 5492 §4): ``code`` and its raw ``data``; the
    properties decode the fields of the codes this library knows."""
    __slots__ = ("code", "data")

    def __init__(self, code: int, data: bytes = b""):
        self.code, self.data = int(code), bytes(data)

    name = property(lambda self: CAPABILITY_NAMES.get(self.code, "unknown"))

    # constructors ---------------------------------------------------
    @classmethod
    def multiprotocol(cls, afi: int, safi: int):
        """RFC 4760 §8."""
        return cls(1, _U16.pack(afi) + bytes([0, safi]))

    @classmethod
    def route_refresh(cls):
        return cls(2)

    @classmethod
    def extended_nexthop(cls, tuples):
        """RFC 8950 §3: (NLRI AFI, NLRI SAFI, next hop AFI) tuples."""
        return cls(5, b"".join(_U16.pack(a) + _U16.pack(s) + _U16.pack(n) for a, s, n in tuples))

    @classmethod
    def extended_message(cls):
        return cls(6)

    @classmethod
    def role(cls, role: int):
        return cls(9, bytes([role]))

    @classmethod
    def graceful_restart(cls, restart_time: int, families=(), restart_flags: int = 0):
        """RFC 4724 §3: families are (afi, safi, flags)."""
        head = _U16.pack(((restart_flags & 0xF) << 12) | (restart_time & 0xFFF))
        return cls(64, head + b"".join(_U16.pack(a) + bytes([s, f]) for a, s, f in families))

    @classmethod
    def four_octet_as(cls, asn: int):
        return cls(65, _U32.pack(asn))

    @classmethod
    def add_path(cls, families):
        """RFC 7911 §4: families are (afi, safi, 1 receive | 2 send | 3 both)."""
        return cls(69, b"".join(_U16.pack(a) + bytes([s, m]) for a, s, m in families))

    @classmethod
    def enhanced_route_refresh(cls):
        return cls(70)

    @classmethod
    def long_lived_graceful_restart(cls, families):
        """RFC 9494 §3: families are (afi, safi, flags, stale time)."""
        return cls(71, b"".join(_U16.pack(a) + bytes([s, f]) + t.to_bytes(3, "big")
                                for a, s, f, t in families))

    @classmethod
    def fqdn(cls, hostname: str, domain: str = ""):
        h, d = hostname.encode(), domain.encode()
        return cls(73, bytes([len(h)]) + h + bytes([len(d)]) + d)

    # views ----------------------------------------------------------
    @property
    def families(self) -> tuple:
        """Per-family entries of MP (afi, safi), ADD-PATH (afi, safi, mode),
        GR (afi, safi, flags), LLGR (afi, safi, flags, stale time); () if
        malformed or not applicable."""
        f = self.fields()
        if f.get("malformed"):
            return ()
        if self.code == CapabilityCode.MULTIPROTOCOL:
            return ((f["_afi"], f["_safi"]),)
        if self.code in (CapabilityCode.ADD_PATH, CapabilityCode.GRACEFUL_RESTART,
                         CapabilityCode.LONG_LIVED_GRACEFUL_RESTART):
            return tuple(f["_families"])
        return ()

    @property
    def asn(self):
        if self.code == CapabilityCode.FOUR_OCTET_AS and len(self.data) == 4:
            return _U32.unpack(self.data)[0]
        return None

    def fields(self) -> dict:
        """Decoded fields; ``{"malformed": True}`` when the value does not
        parse under its code (RFC 5492 leaves that to the receiver)."""
        d, c, n = self.data, self.code, len(self.data)
        try:
            if c == CapabilityCode.MULTIPROTOCOL:
                if n != 4:
                    raise ValueError
                afi, safi = _U16.unpack_from(d)[0], d[3]
                return {"afi": afi_name(afi), "safi": safi_name(safi), "_afi": afi, "_safi": safi}
            if c in (CapabilityCode.ROUTE_REFRESH, CapabilityCode.EXTENDED_MESSAGE,
                     CapabilityCode.ENHANCED_ROUTE_REFRESH, CapabilityCode.ROUTE_REFRESH_CISCO):
                if n:
                    raise ValueError
                return {}
            if c == CapabilityCode.EXTENDED_NEXTHOP:
                if n % 6:
                    raise ValueError
                return {"tuples": [{"afi": afi_name(_U16.unpack_from(d, i)[0]),
                                    "safi": safi_name(_U16.unpack_from(d, i + 2)[0]),
                                    "nexthop_afi": afi_name(_U16.unpack_from(d, i + 4)[0])}
                                   for i in range(0, n, 6)]}
            if c == CapabilityCode.ROLE:
                if n != 1:
                    raise ValueError
                return {"role": ROLE_NAMES.get(d[0], d[0])}
            if c == CapabilityCode.GRACEFUL_RESTART:
                if n < 2 or (n - 2) % 4:
                    raise ValueError
                head = _U16.unpack_from(d)[0]
                fams = [(_U16.unpack_from(d, i)[0], d[i + 2], d[i + 3]) for i in range(2, n, 4)]
                return {"restart_flags": head >> 12, "restart_time": head & 0xFFF,
                        "families": [{"afi": afi_name(a), "safi": safi_name(s), "flags": f}
                                     for a, s, f in fams], "_families": fams}
            if c == CapabilityCode.FOUR_OCTET_AS:
                if n != 4:
                    raise ValueError
                return {"as": _U32.unpack(d)[0]}
            if c == CapabilityCode.ADD_PATH:
                if n % 4:
                    raise ValueError
                fams = [(_U16.unpack_from(d, i)[0], d[i + 2], d[i + 3]) for i in range(0, n, 4)]
                return {"families": [{"afi": afi_name(a), "safi": safi_name(s),
                                      "send_receive": ADD_PATH_MODE_NAMES.get(m, m)}
                                     for a, s, m in fams], "_families": fams}
            if c == CapabilityCode.LONG_LIVED_GRACEFUL_RESTART:
                if n % 7:
                    raise ValueError
                fams = [(_U16.unpack_from(d, i)[0], d[i + 2], d[i + 3],
                         int.from_bytes(d[i + 4:i + 7], "big")) for i in range(0, n, 7)]
                return {"families": [{"afi": afi_name(a), "safi": safi_name(s), "flags": f,
                                      "stale_time": t} for a, s, f, t in fams],
                        "_families": fams}
            if c == CapabilityCode.FQDN:
                hl = d[0]
                host = d[1:1 + hl]
                dl = d[1 + hl]
                dom = d[2 + hl:2 + hl + dl]
                if 2 + hl + dl != n:
                    raise ValueError
                return {"hostname": host.decode("utf-8", "replace"),
                        "domain": dom.decode("utf-8", "replace")}
        except (ValueError, IndexError, struct.error):
            return {"malformed": True, "data": d.hex()}
        return {"data": d.hex()}

    def to_dict(self) -> dict:
        out = {"code": self.code, "name": self.name}
        out.update((k, v) for k, v in self.fields().items() if not k.startswith("_"))
        return out

    def __eq__(self, other):
        if not isinstance(other, Capability):
            return NotImplemented
        return (self.code, self.data) == (other.code, other.data)

    def __hash__(self):
        return hash((self.code, self.data))

    def __repr__(self) -> str:
        f = {k: v for k, v in self.fields().items() if not k.startswith("_")}
        return f"Capability({self.name}{', ' + repr(f) if f else ''})"


class Open(Message):
    """RFC 4271 §4.2 with RFC 5492 capabilities and RFC 9072 extended
    optional parameters.  ``parameters`` is the list of (type, data) optional
    parameters as on the wire; ``capabilities`` is derived from it."""
    __slots__ = ("version", "my_as", "hold_time", "bgp_id", "parameters",
                 "extended_parameters", "capabilities")
    type_code = MessageType.OPEN
    type = "OPEN"

    def __init__(self, my_as: int, hold_time: int, bgp_id: str, capabilities=(),
                 version: int = 4, parameters=None, extended_parameters: bool = False,
                 length: int = 0):
        self.version = version
        self.my_as = my_as              # the 2-octet header field as on the wire
        self.hold_time = hold_time
        self.bgp_id = bgp_id
        self.extended_parameters = extended_parameters
        if parameters is None:
            # one optional parameter per capability, as FRR and JunOS send them
            parameters = [(2, bytes([c.code, len(c.data)]) + c.data) for c in capabilities]
        self.parameters = list(parameters)
        self.capabilities = list(capabilities)
        self.length = length

    @classmethod
    def build(cls, asn: int, hold_time: int, bgp_id: str, capabilities=()):
        """An OPEN for ``asn``: the header carries AS_TRANS when ``asn`` needs
        4 octets (RFC 6793 §4.1), and a four-octet-as capability is added if
        the list has none."""
        caps = list(capabilities)
        if not any(c.code == CapabilityCode.FOUR_OCTET_AS for c in caps):
            caps.append(Capability.four_octet_as(asn))
        return cls(asn if asn <= 0xFFFF else 23456, hold_time, bgp_id, caps)

    @property
    def asn(self) -> int:
        """The speaker's AS: from the four-octet-as capability when present."""
        for c in self.capabilities:
            if c.code == CapabilityCode.FOUR_OCTET_AS and c.asn is not None:
                return c.asn
        return self.my_as

    def capability(self, code):
        for c in self.capabilities:
            if c.code == code:
                return c
        return None

    @property
    def families(self) -> list:
        return [f for c in self.capabilities if c.code == CapabilityCode.MULTIPROTOCOL
                for f in c.families]

    def to_dict(self) -> dict:
        d = self._head()
        d.update(version=self.version, my_as=self.asn, my_as_2=self.my_as,
                 hold_time=self.hold_time, bgp_id=self.bgp_id,
                 extended_parameters=self.extended_parameters,
                 capabilities=[c.to_dict() for c in self.capabilities])
        other = [{"type": t, "data": v.hex()} for t, v in self.parameters if t != 2]
        if other:
            d["parameters"] = other
        return d

    def __repr__(self) -> str:
        return (f"Open(as={self.asn}, hold_time={self.hold_time}, bgp_id={self.bgp_id}, "
                f"capabilities={self.capabilities!r})")


# --- UPDATE -------------------------------------------------------------------

class Update(Message):
    """RFC 4271 §4.3 / RFC 4760.  ``withdrawn_routes`` and ``nlri`` are the
    classic IPv4 fields; MP_REACH/MP_UNREACH live in ``attributes``.
    ``announced`` and ``withdrawn`` give all routes, classic first."""
    __slots__ = ("withdrawn_routes", "attributes", "nlri", "malformed")
    type_code = MessageType.UPDATE
    type = "UPDATE"

    def __init__(self, withdrawn_routes=(), attributes=None, nlri=(), length: int = 0,
                 malformed=()):
        self.withdrawn_routes = list(withdrawn_routes)
        self.attributes = attributes if isinstance(attributes, Attributes) \
            else Attributes(attributes or ())
        self.nlri = list(nlri)
        self.length = length
        #: (attribute code, BGPError) pairs the decoder left out (RFC 7606)
        self.malformed = list(malformed)

    @property
    def announced(self) -> list:
        mp = self.attributes.mp_reach
        return self.nlri + mp.routes if mp is not None else self.nlri

    @property
    def withdrawn(self) -> list:
        mp = self.attributes.mp_unreach
        return self.withdrawn_routes + mp.routes if mp is not None else self.withdrawn_routes

    @property
    def end_of_rib(self):
        """(afi, safi) when this UPDATE is an End-of-RIB marker (RFC 4724 §2), else None."""
        if self.withdrawn_routes or self.nlri:
            return None
        items = self.attributes.items
        if not items:
            return (1, 1)
        if len(items) == 1 and items[0].code == AttrType.MP_UNREACH_NLRI \
                and not items[0].value.routes:
            return (items[0].value.afi, items[0].value.safi)
        return None

    def next_hop_of(self, route):
        """(address, link-local or None) the route was announced with."""
        mp = self.attributes.mp_reach
        if mp is not None and route.family == (mp.afi, mp.safi) and route not in self.nlri:
            return format_next_hop(mp.next_hop)
        nh = self.attributes.next_hop
        return (nh, None)

    def to_dict(self) -> dict:
        d = self._head()
        withdrawn = [r.to_dict() for r in self.withdrawn]
        announced = []
        nh = self.attributes.next_hop
        for r in self.nlri:
            rd = r.to_dict()
            rd["next_hop"] = nh
            announced.append(rd)
        mp = self.attributes.mp_reach
        if mp is not None:
            mnh, ll = format_next_hop(mp.next_hop)
            for r in mp.routes:
                rd = r.to_dict()
                rd["next_hop"] = mnh
                if ll is not None:
                    rd["next_hop_link_local"] = ll
                announced.append(rd)
        d["withdrawn"] = withdrawn
        d["announced"] = announced
        d["attributes"] = self.attributes.to_dict()
        eor = self.end_of_rib
        d["end_of_rib"] = family_name(*eor) if eor else None
        return d

    def __repr__(self) -> str:
        return (f"Update(announced={len(self.announced)}, withdrawn={len(self.withdrawn)}, "
                f"attributes={[a.name for a in self.attributes]})")


# --- NOTIFICATION -------------------------------------------------------------

class Notification(Message):
    """RFC 4271 §4.5; RFC 9003 shutdown communication (Cease 2 and 4);
    RFC 8538 hard reset (Cease 9) carrying an inner code/subcode/data."""
    __slots__ = ("code", "subcode", "data")
    type_code = MessageType.NOTIFICATION
    type = "NOTIFICATION"

    def __init__(self, code: int, subcode: int, data: bytes = b"", length: int = 0):
        self.code, self.subcode, self.data, self.length = code, subcode, bytes(data), length

    @classmethod
    def shutdown(cls, message: str = "", subcode: int = 2):
        """Cease / administrative shutdown (2) or reset (4) with an RFC 9003 message."""
        raw = message.encode("utf-8")
        if len(raw) > 255:
            raise ValueError("RFC 9003 limits the shutdown communication to 255 octets")
        return cls(ErrorCode.CEASE, subcode, bytes([len(raw)]) + raw if raw else b"")

    @classmethod
    def from_error(cls, err):
        return cls(err.code, err.subcode, err.data)

    code_name = property(lambda self: ERROR_CODE_NAMES.get(self.code))
    subcode_name = property(lambda self: ERROR_SUBCODE_NAMES.get(self.code, {}).get(self.subcode))

    @property
    def shutdown_message(self):
        """RFC 9003 §2: length octet then UTF-8; None when absent or inconsistent."""
        if self.code != ErrorCode.CEASE or self.subcode not in (2, 4) or not self.data:
            return None
        n = self.data[0]
        if 1 + n > len(self.data):
            return None
        return self.data[1:1 + n].decode("utf-8", "replace")

    @property
    def inner(self):
        """RFC 8538 §3: the NOTIFICATION a Hard Reset stands for."""
        if self.code == ErrorCode.CEASE and self.subcode == 9 and len(self.data) >= 2:
            return Notification(self.data[0], self.data[1], self.data[2:])
        return None

    def _codes(self) -> dict:
        return {"code": self.code, "subcode": self.subcode, "code_name": self.code_name,
                "subcode_name": self.subcode_name, "data": self.data.hex()}

    def to_dict(self) -> dict:
        d = self._head()
        d.update(self._codes())
        msg = self.shutdown_message
        if msg is not None:
            d["shutdown_message"] = msg
        inner = self.inner
        if inner is not None:
            d["inner"] = inner._codes()
            m2 = inner.shutdown_message
            if m2 is not None:
                d["inner"]["shutdown_message"] = m2
        return d

    def __repr__(self) -> str:
        return f"Notification({self.code}/{self.subcode} {self.code_name}/{self.subcode_name})"


class Keepalive(Message):
    """RFC 4271 §4.4: the header alone."""
    __slots__ = ()
    type_code = MessageType.KEEPALIVE
    type = "KEEPALIVE"

    def __init__(self, length: int = 0):
        self.length = length

    def to_dict(self) -> dict:
        return self._head()

    def __repr__(self) -> str:
        return "Keepalive()"


class RouteRefresh(Message):
    """RFC 2918 §3 with the RFC 7313 §3.2 subtype; ``data`` holds what
    follows the fixed part (ORF entries, RFC 5291)."""
    __slots__ = ("afi", "safi", "subtype", "data")
    type_code = MessageType.ROUTE_REFRESH
    type = "ROUTE-REFRESH"

    def __init__(self, afi: int, safi: int, subtype: int = 0, data: bytes = b"",
                 length: int = 0):
        self.afi, self.safi, self.subtype, self.data = afi, safi, subtype, bytes(data)
        self.length = length

    def to_dict(self) -> dict:
        d = self._head()
        d.update(afi=afi_name(self.afi), safi=safi_name(self.safi),
                 subtype=ROUTE_REFRESH_SUBTYPE_NAMES.get(self.subtype, self.subtype))
        if self.data:
            d["data"] = self.data.hex()
        return d

    def __repr__(self) -> str:
        return f"RouteRefresh({family_name(self.afi, self.safi)}, subtype={self.subtype})"


class UnknownMessage(Message):
    """A message type this library does not know, kept whole (the session
    answers it with NOTIFICATION 1/3, RFC 4271 §6.1)."""
    __slots__ = ("type_code", "data")
    type = "UNKNOWN"

    def __init__(self, type_code: int, data: bytes = b"", length: int = 0):
        self.type_code, self.data, self.length = type_code, bytes(data), length

    def to_dict(self) -> dict:
        d = self._head()
        d.update(type_code=self.type_code, data=self.data.hex())
        return d

    def __repr__(self) -> str:
        return f"UnknownMessage(type={self.type_code}, {len(self.data)} octets)"


