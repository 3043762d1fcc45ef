"""Columnar decode of EVPN routes, for million-route work.

``decode_columns`` (in both codec twins) walks a buffer of UPDATEs and fills
one typed array per field instead of creating one object per route.  Row
``i`` describes one EVPN route announced or withdrawn in the buffer; its
wire bytes stay in ``buffer`` at ``offset[i]``.
"""
from __future__ import annotations

from array import array

from .routes import EVPN_ROUTE_CLASSES, RawEvpnRoute

#: label2 / label1 value meaning "this route has no such label"
NO_LABEL = 0xFFFFFFFF
#: attr_index of a withdrawn route
WITHDRAWN = -1

COLUMN_TYPECODES = {
    "route_type": "B",    # EVPN route type
    "offset": "Q",        # offset of the route's type octet in ``buffer``
    "path_id": "I",       # RFC 7911 path identifier (0 without ADD-PATH)
    "rd": "Q",            # the 8 RD octets as a big-endian integer (0 when the type has none)
    "ethernet_tag": "I",  # types 1, 2, 3, 5, 6, 7, 8 (0 otherwise)
    "mac": "Q",           # type 2: the MAC as a 48-bit integer (0 otherwise)
    "ip_at": "B",         # where the IP starts, counted from ``offset`` (type 2 IP, type 3/4
                          # originator, type 5 prefix); 0 = no IP
    "ip_len": "B",        # its length in octets: 0, 4 or 16
    "label1": "I",        # raw 3-octet label (VNI for VXLAN), NO_LABEL when the type has none
    "label2": "I",        # type 2 second label, NO_LABEL when absent
    "attr_index": "i",    # index into ``attribute_sets``; WITHDRAWN (-1) for withdrawals
}


#: itemsize of each typecode (``array(code).itemsize``: native sizes, the
#: same on every platform we build for)
ITEMSIZES = {code: array(code).itemsize for code in set(COLUMN_TYPECODES.values())}
#: each column starts on a multiple of this many octets of the storage
COLUMN_ALIGN = 64


def column_layout(capacity: int):
    """Where each column starts in a storage of ``capacity`` rows, and the
    storage's size: ``({name: start}, size)``, the names in storage order.
    Wider columns first (so every column is aligned to its item size), in
    ``COLUMN_TYPECODES`` order among equals; both twins place the columns
    this way."""
    starts = {}
    at = 0
    for name in sorted(COLUMN_TYPECODES, key=lambda n: -ITEMSIZES[COLUMN_TYPECODES[n]]):
        starts[name] = at
        at += -(-capacity * ITEMSIZES[COLUMN_TYPECODES[name]] // COLUMN_ALIGN) * COLUMN_ALIGN
    return starts, at


def new_column_arrays() -> dict:
    """An empty ``array.array`` per column, to append rows to and hand to
    ``EvpnColumns.set_columns``."""
    return {name: array(code) for name, code in COLUMN_TYPECODES.items()}


def _rebuild(cls, buffer, arrays, attribute_sets, messages, other_routes):
    """EvpnColumns.__reduce__'s counterpart."""
    cols = cls(buffer)
    cols.set_columns(arrays)
    cols.attribute_sets = attribute_sets
    cols.messages = messages
    cols.other_routes = other_routes
    return cols


class EvpnColumns:
    """The columns named in ``COLUMN_TYPECODES``, each a ``memoryview`` of
    its typecode (``format``) over one storage block shared by all of them
    (``numpy.asarray(cols.mac)`` works without a copy), plus:

    ``attribute_sets``: list of ``(Attributes, next_hop_bytes)``, one per
    distinct attribute set and next hop (interned across UPDATEs);
    ``buffer``: the decoded bytes; ``messages``: count per message type;
    ``other_routes``: count of non-EVPN routes per (afi, safi) (not in the columns).

    One block rather than one array per column: a million-row decode writes
    47 MB of fresh memory, and on Linux eleven separate allocations get
    most of their first-touch faults as 4 KiB pages (each starts anywhere
    in a 2 MiB page), one block nearly only huge pages (docs/performance.md).
    """
    __slots__ = tuple(COLUMN_TYPECODES) + ("attribute_sets", "buffer", "messages",
                                             "other_routes", "_storage")

    def __init__(self, buffer: bytes):
        self.set_columns({name: () for name in COLUMN_TYPECODES})
        self.attribute_sets = []
        self.buffer = buffer
        self.messages = {}
        self.other_routes = {}

    def set_columns(self, values) -> None:
        """Columns holding ``values[name]`` (sequences of equal length: the
        Python twin builds ``array.array``s, then places them here)."""
        rows = len(values["route_type"])
        starts, size = column_layout(rows)
        storage = bytearray(size)
        for name, start in starts.items():
            data = array(COLUMN_TYPECODES[name], values[name])
            if len(data) != rows:
                raise ValueError(f"column {name} has {len(data)} rows, route_type {rows}")
            storage[start:start + len(data) * data.itemsize] = data.tobytes()
        self.view_storage(storage, rows, rows)

    def view_storage(self, storage, capacity: int, rows: int) -> None:
        """Columns of ``rows`` rows over ``storage`` (a writable buffer laid
        out by ``column_layout(capacity)``), which they keep alive."""
        starts, size = column_layout(capacity)
        whole = memoryview(storage)
        if whole.nbytes < size or rows > capacity:
            raise ValueError(f"a storage of {whole.nbytes} octets cannot hold {rows} rows "
                             f"laid out for {capacity}")
        for name, start in starts.items():
            code = COLUMN_TYPECODES[name]
            setattr(self, name, whole[start:start + rows * ITEMSIZES[code]].cast(code))
        self._storage = storage

    def __len__(self) -> int:
        return len(self.route_type)

    def columns(self) -> dict:
        return {name: getattr(self, name) for name in COLUMN_TYPECODES}

    def ip(self, i: int):
        """The IP address octets of row ``i`` (b"" when it has none)."""
        at = self.ip_at[i]
        if not at:
            return b""
        start = self.offset[i] + at
        return self.buffer[start:start + self.ip_len[i]]

    def route(self, i: int):
        """The route object of row ``i`` (created on demand)."""
        off = self.offset[i]
        buf = self.buffer
        end = off + 2 + buf[off + 1]
        cls = EVPN_ROUTE_CLASSES.get(buf[off], RawEvpnRoute)
        return bytes.__new__(cls, buf[off:end])

    def __eq__(self, other):
        if not isinstance(other, EvpnColumns):
            return NotImplemented
        return (self.columns() == other.columns() and self.messages == other.messages
                and self.other_routes == other.other_routes
                and [(a.key, nh) for a, nh in self.attribute_sets]
                == [(a.key, nh) for a, nh in other.attribute_sets])

    def __reduce__(self):
        # memoryviews do not pickle: the columns go as array.arrays, whose
        # pickles say their machine format (portable across byte orders)
        return (_rebuild, (type(self), self.buffer,
                           {n: array(COLUMN_TYPECODES[n], v) for n, v in self.columns().items()},
                           self.attribute_sets, self.messages, self.other_routes))


def row_of_route(buf: bytes, off: int):
    """(rd, ethernet_tag, mac, ip_at, ip_len, label1, label2) of the EVPN
    route at ``off`` (already validated by the codec): the reference the
    columnar decoders follow (RFC 7432 §7, RFC 9136 §3.1, RFC 9251 §9)."""
    rtype = buf[off]
    length = buf[off + 1]
    b = off + 2
    has_rd = 1 <= rtype <= 8 or (rtype in (9, 10) and length >= 8)
    rd = int.from_bytes(buf[b:b + 8], "big") if has_rd else 0
    tag = mac = ip_off = ip_len = 0
    l1 = l2 = NO_LABEL
    if rtype == 1:
        tag = int.from_bytes(buf[b + 18:b + 22], "big")
        l1 = int.from_bytes(buf[b + 22:b + 25], "big")
    elif rtype == 2:
        tag = int.from_bytes(buf[b + 18:b + 22], "big")
        mac = int.from_bytes(buf[b + 23:b + 29], "big")
        ip_len = buf[b + 29] >> 3
        ip_off = 32 if ip_len else 0
        p = b + 30 + ip_len
        l1 = int.from_bytes(buf[p:p + 3], "big")
        if length - 30 - ip_len == 6:
            l2 = int.from_bytes(buf[p + 3:p + 6], "big")
    elif rtype == 3:
        tag = int.from_bytes(buf[b + 8:b + 12], "big")
        ip_len = buf[b + 12] >> 3
        ip_off = 15
    elif rtype == 4:
        ip_len = buf[b + 18] >> 3
        ip_off = 21
    elif rtype == 5:
        tag = int.from_bytes(buf[b + 18:b + 22], "big")
        ip_len = 4 if length == 34 else 16
        ip_off = 25
        l1 = int.from_bytes(buf[b + length - 3:b + length], "big")
    elif rtype in (6, 7, 8):
        tag_at = b + (8 if rtype == 6 else 18)
        tag = int.from_bytes(buf[tag_at:tag_at + 4], "big")
    return rd, tag, mac, ip_off, ip_len, l1, l2
