# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, embedsignature=True
"""The C twin of ``_wire_py``: the same functions, names, result classes and
exceptions, for the hot path (framing, UPDATE walk, MP_REACH/MP_UNREACH,
prefixes, EVPN routes, communities, PMSI, AS_PATH, packing UPDATEs, columnar
decode).  What is not hot (OPEN, NOTIFICATION, rare attributes, single
message encoders) is taken from ``_wire_py`` itself, so it is the same code.

Bounds: the module is compiled with ``boundscheck(False)``; every index into
a wire buffer is preceded by an explicit length check against the end of
the structure it belongs to (the comments name which), exactly as in
``_wire_py``.  ``differential`` tests prove both twins agree.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from cpython.object cimport PyTypeObject
from cpython.list cimport PyList_GET_SIZE, PyList_GET_ITEM
from cpython.dict cimport PyDict_SetDefault
from cpython cimport array
from cpython.mem cimport PyMem_Realloc, PyMem_Free
from cpython.bytearray cimport PyByteArray_FromStringAndSize, PyByteArray_AS_STRING
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t
from libc.string cimport memcpy, memcmp, strlen
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from cpython.long cimport PyLong_AsLongLongAndOverflow

import gc as _gc
import socket as _socket

from . import _wire_py as _py
from .attributes import (ClusterList, Communities, ExtCommunities, LocalPref, Med,
                         MpReachNlri, MpUnreachNlri, NextHop, Origin, OriginatorId,
                         PmsiTunnel, UnknownAttribute, AsPath, As4Path, AsPathSegment,
                         AtomicAggregate, Otc, PmsiTunnelValue)
from .attributes import Attributes as _Attributes
from .columns import (COLUMN_TYPECODES, ITEMSIZES, EvpnColumns, WITHDRAWN, NO_LABEL,
                      column_layout, new_column_arrays)
from .constants import ATTR_DEFAULT_FLAGS, AttrType, ErrorAction
from .context import DEFAULT_CONTEXT, Context
from .errors import BGPError, MessageHeaderError, UpdateMessageError, ValueParseError
from .messages import Keepalive, Notification, UnknownMessage, Update
from .routes import (EVPN_ROUTE_CLASSES, AddPathEvpnRoute, Ipv4Prefix, Ipv4PrefixAddPath,
                     Ipv6Prefix, Ipv6PrefixAddPath, MacIpRoute, RawEvpnRoute, RawNlri)
from .values import ExtCommunity

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #pragma GCC diagnostic push
    #pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    #endif
    /* A bytes-subclass instance holding n octets copied from data: what
       bytes.__new__(cls, data[:n]) gives, without the temporary bytes. */
    static PyObject *bgpevpn_new_packed(PyTypeObject *t, const char *data, Py_ssize_t n) {
        PyObject *o;
        if (PyType_IS_GC(t)) {
            /* Heap types are always GC types, but a packed route holds no
               references (no __dict__, empty __slots__): it can never be in a
               cycle, so it is allocated without being tracked (a million
               tracked routes would make every collection walk them) and
               without the zero-fill tp_alloc does; the basic size of a bytes
               object already holds the NUL it ends with. */
            o = (PyObject *)PyObject_GC_NewVar(PyVarObject, t, n);
            if (o == NULL) return NULL;
        } else if (t->tp_alloc == PyType_GenericAlloc && t->tp_free == PyObject_Free) {
            /* a class without GC header but without the route slab: the
               same allocation, without the zero-fill */
            o = (PyObject *)PyObject_NewVar(PyVarObject, t, n);
            if (o == NULL) return NULL;
        } else {
            /* the route classes (bgpevpn/_routemem_c.pyx): their own
               tp_alloc, which skips the zero-fill on never-used memory */
            o = t->tp_alloc(t, n);
            if (o == NULL) return NULL;
        }
        memcpy(PyBytes_AS_STRING(o), data, (size_t)n);
        PyBytes_AS_STRING(o)[n] = 0;
        ((PyBytesObject *)o)->ob_shash = -1;
        return o;
    }
    #if defined(__GNUC__) || defined(__clang__)
    #pragma GCC diagnostic pop
    #endif
    """
    object new_packed "bgpevpn_new_packed"(PyTypeObject *t, const char *data, Py_ssize_t n)

cdef extern from *:
    """
    #if defined(__linux__)
    #include <sys/mman.h>
    #endif
    /* Ask for transparent huge pages over the whole 2 MiB pages inside
       [p, p + n): a column of a million rows is written once, front to back,
       right after it is allocated, and first-touch faults of 4 KiB pages
       cost more than the writes themselves (a hint only: nothing changes
       where THP is off or the call fails). */
    static void bgpevpn_advise_huge(void *p, size_t n) {
    #if defined(__linux__) && defined(MADV_HUGEPAGE)
        const size_t huge = (size_t)1 << 21;
        uintptr_t a = ((uintptr_t)p + huge - 1) & ~(uintptr_t)(huge - 1);
        uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)(huge - 1);
        if (e > a) (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
    #else
        (void)p; (void)n;
    #endif
    }
    /* Give back the whole 4 KiB pages inside [p, p + n), room the columns
       did not use (inside huge pages the first touch filled): they read as
       zeros if touched again. */
    static void bgpevpn_release_unused(void *p, size_t n) {
    #if defined(__linux__) && defined(MADV_DONTNEED)
        const size_t page = 4096;
        uintptr_t a = ((uintptr_t)p + page - 1) & ~(uintptr_t)(page - 1);
        uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)(page - 1);
        if (e > a) (void)madvise((void *)a, e - a, MADV_DONTNEED);
    #else
        (void)p; (void)n;
    #endif
    }
    """
    void advise_huge "bgpevpn_advise_huge"(void *p, size_t n) nogil
    void release_unused "bgpevpn_release_unused"(void *p, size_t n) nogil

cdef extern from *:
    """
    /* object.__new__(t) for a class without __new__, and a slot set through
       its member descriptor (what `obj.name = v` does, without the lookup). */
    static PyObject *bgpevpn_new_object(PyTypeObject *t) { return t->tp_alloc(t, 0); }
    static int bgpevpn_set_slot(PyObject *d, PyObject *o, PyObject *v) {
        return Py_TYPE(d)->tp_descr_set(d, o, v);
    }
    """
    object new_object "bgpevpn_new_object"(type t)
    int set_slot "bgpevpn_set_slot"(object d, object o, object v) except -1

cdef extern from *:
    """
    #if defined(_WIN32)
    #include <ws2tcpip.h>
    #else
    #include <arpa/inet.h>
    #endif
    /* Borrowed looks into a list the caller holds (no Python code runs
       while they are used). */
    #define bgpevpn_item(l, i) PyList_GET_ITEM((l), (i))
    #define bgpevpn_item_type(l, i) ((PyObject *)Py_TYPE(PyList_GET_ITEM((l), (i))))
    #define bgpevpn_item_size(l, i) Py_SIZE(PyList_GET_ITEM((l), (i)))
    #define bgpevpn_item_data(l, i) PyBytes_AS_STRING(PyList_GET_ITEM((l), (i)))
    #if PY_VERSION_HEX < 0x030C0000
    #define bgpevpn_is_ascii(o) (PyUnicode_READY(o) == 0 && PyUnicode_IS_ASCII(o))
    #else
    #define bgpevpn_is_ascii(o) PyUnicode_IS_ASCII(o)
    #endif
    """
    int c_inet_pton "inet_pton"(int af, const char *src, void *dst) nogil
    void *list_item "bgpevpn_item"(list l, Py_ssize_t i)
    void *list_item_type "bgpevpn_item_type"(list l, Py_ssize_t i)
    Py_ssize_t list_item_size "bgpevpn_item_size"(list l, Py_ssize_t i)
    const char *list_item_data "bgpevpn_item_data"(list l, Py_ssize_t i)
    bint is_ascii "bgpevpn_is_ascii"(str o)

IMPLEMENTATION = "c"

# --- shared with the Python twin (not hot) ---------------------------------------
check_range = _py.check_range
decode_open = _py.decode_open
decode_capabilities = _py.decode_capabilities
decode_route_refresh = _py.decode_route_refresh
encode_header = _py.encode_header
encode_message = _py.encode_message
encode_open_body = _py.encode_open_body
encode_update_body = _py.encode_update_body
end_of_rib = _py.end_of_rib
ATTR_ERROR_ACTION = _py.ATTR_ERROR_ACTION
FAMILY_IPV4_UNICAST = _py.FAMILY_IPV4_UNICAST
FAMILY_IPV6_UNICAST = _py.FAMILY_IPV6_UNICAST
FAMILY_EVPN = _py.FAMILY_EVPN
_PY_PARSERS = _py._ATTR_PARSERS
# the same, as lists indexed by the attribute code (0..255)
cdef list _PARSER_BY_CODE = [_PY_PARSERS.get(c) for c in range(256)]
cdef list _FLAGS_BY_CODE = [ATTR_DEFAULT_FLAGS.get(c, 0) for c in range(256)]

TAW = ErrorAction.TREAT_AS_WITHDRAW
DISCARD = ErrorAction.ATTRIBUTE_DISCARD
AFI_SAFI_DISABLE = ErrorAction.AFI_SAFI_DISABLE
RESET = ErrorAction.SESSION_RESET

cdef bytes MARKER = b"\xff" * 16
cdef enum:
    NO_LABEL_C = 0xFFFFFFFF
cdef extern from *:
    """
    #define BGPEVPN_MAC_MASK ((uint64_t)0xFFFFFFFFFFFFULL)
    """
    const uint64_t MAC_MASK "BGPEVPN_MAC_MASK"
#: buffers at least this large are decoded with the garbage collector paused
cdef Py_ssize_t _GC_PAUSE_BYTES = 1 << 16
cdef int HEADER_LEN = 19
_ntop = _socket.inet_ntop
_AF_INET = _socket.AF_INET

cdef PyTypeObject *T_MACIP = <PyTypeObject *>MacIpRoute
cdef PyTypeObject *T_V4 = <PyTypeObject *>Ipv4Prefix
cdef PyTypeObject *T_V4P = <PyTypeObject *>Ipv4PrefixAddPath
cdef PyTypeObject *T_V6 = <PyTypeObject *>Ipv6Prefix
cdef PyTypeObject *T_V6P = <PyTypeObject *>Ipv6PrefixAddPath
cdef PyTypeObject *T_EC = <PyTypeObject *>ExtCommunity
cdef object C_TYPE1 = EVPN_ROUTE_CLASSES[1]
cdef object C_TYPE3 = EVPN_ROUTE_CLASSES[3]
cdef object C_TYPE4 = EVPN_ROUTE_CLASSES[4]
cdef object C_TYPE5 = EVPN_ROUTE_CLASSES[5]


cdef extern from *:
    """
    /* Big-endian reads of exactly 2, 4 or 8 octets at p (unaligned). */
    #if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    static inline uint32_t bgpevpn_be16(const uint8_t *p) { uint16_t v; __builtin_memcpy(&v, p, 2); return __builtin_bswap16(v); }
    static inline uint32_t bgpevpn_be32(const uint8_t *p) { uint32_t v; __builtin_memcpy(&v, p, 4); return __builtin_bswap32(v); }
    static inline uint64_t bgpevpn_be64(const uint8_t *p) { uint64_t v; __builtin_memcpy(&v, p, 8); return __builtin_bswap64(v); }
    #else
    static inline uint32_t bgpevpn_be16(const uint8_t *p) { return ((uint32_t)p[0] << 8) | p[1]; }
    static inline uint32_t bgpevpn_be32(const uint8_t *p) {
        return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]; }
    static inline uint64_t bgpevpn_be64(const uint8_t *p) {
        return ((uint64_t)bgpevpn_be32(p) << 32) | bgpevpn_be32(p + 4); }
    #endif
    """
    uint32_t rd16 "bgpevpn_be16"(const uint8_t *p) noexcept nogil
    uint32_t rd32 "bgpevpn_be32"(const uint8_t *p) noexcept nogil
    uint64_t rd64 "bgpevpn_be64"(const uint8_t *p) noexcept nogil


cdef inline uint32_t rd24(const uint8_t *p) noexcept nogil:
    return (rd16(p) << 8) | p[2]


cdef inline const uint8_t *_ptr(bytes buf):
    return <const uint8_t *>PyBytes_AS_STRING(buf)


cdef inline bytes _slice(const uint8_t *p, Py_ssize_t a, Py_ssize_t e):
    """b[a:e] of the buffer p points into (0 <= a <= e <= len(b))."""
    return PyBytes_FromStringAndSize(<const char *>(p + a), e - a)


cdef inline bytes _as_bytes(data):
    return data if type(data) is bytes else bytes(data)


# --- framing ---------------------------------------------------------------------------

def check_header(buf, Py_ssize_t pos, Py_ssize_t max_len):
    """RFC 4271 §4.1/§6.1 (see ``_wire_py.check_header``)."""
    cdef bytes b = _as_bytes(buf)
    cdef Py_ssize_t length
    cdef int mtype
    if pos < 0 or PyBytes_GET_SIZE(b) - pos < HEADER_LEN:
        raise MessageHeaderError(2, "message header is truncated", offset=pos)
    return _check_header(b, _ptr(b), pos, max_len)


cdef tuple _check_header(bytes b, const uint8_t *p, Py_ssize_t pos, Py_ssize_t max_len):
    # caller checked that 19 octets are present at pos
    cdef Py_ssize_t length
    cdef int mtype, minimum
    if memcmp(p + pos, PyBytes_AS_STRING(MARKER), 16) != 0:
        raise MessageHeaderError(1, "marker is not all ones", offset=pos)
    length = rd16(p + pos + 16)
    mtype = p[pos + 18]
    if length < HEADER_LEN or length > max_len:
        raise MessageHeaderError(2, f"message length {length} outside 19..{max_len}",
                                 b[pos + 16:pos + 18], offset=pos)
    minimum = 29 if mtype == 1 else 23 if mtype == 2 else 21 if mtype == 3 else \
        19 if mtype == 4 else 23 if mtype == 5 else 0
    if mtype == 1 and length > 4096:
        # RFC 8654 §4: OPEN (and KEEPALIVE) are never extended messages
        raise MessageHeaderError(2, f"OPEN of {length} octets (OPEN is never extended)",
                                 b[pos + 16:pos + 18], offset=pos)
    if minimum and (length < minimum or (mtype == 4 and length != 19)):
        raise MessageHeaderError(2, f"{length} octets is not a valid length for message type "
                                 f"{mtype}", b[pos + 16:pos + 18], offset=pos)
    return length, mtype


def split_messages(buf, Py_ssize_t pos=0, Py_ssize_t max_len=4096):
    """Frame whole messages (see ``_wire_py.split_messages``)."""
    cdef bytes b = _as_bytes(buf)
    check_range(b, pos)
    cdef const uint8_t *p = _ptr(b)
    cdef Py_ssize_t end = PyBytes_GET_SIZE(b), length
    cdef list out = []
    while end - pos >= HEADER_LEN:
        length = _check_header(b, p, pos, max_len)[0]
        if end - pos < length:
            break
        out.append((pos, pos + length))
        pos += length
    return out, pos


def decode_messages(data, context=None):
    """Decode a buffer holding whole messages (see ``_wire_py.decode_messages``)."""
    ctx = context or DEFAULT_CONTEXT
    cdef bytes buf = _as_bytes(data)
    frames, pos = split_messages(buf, 0, ctx.max_message_length)
    if pos != PyBytes_GET_SIZE(buf):
        raise MessageHeaderError(2, f"{PyBytes_GET_SIZE(buf) - pos} octets after the last whole "
                                 "message (truncated message)", offset=pos)
    if PyBytes_GET_SIZE(buf) < _GC_PAUSE_BYTES:
        return [decode_frame(buf, s, e, ctx) for s, e in frames]
    # Bulk decode: the routes created here are untracked, but every
    # allocation still counts towards the next collection, and collections
    # would repeatedly walk the lists being filled.  Pause the collector for
    # the duration of this call only.
    was_enabled = _gc.isenabled()
    _gc.disable()
    try:
        return [decode_frame(buf, s, e, ctx) for s, e in frames]
    finally:
        if was_enabled:
            _gc.enable()


def decode_message(data, context=None):
    """Decode exactly one whole message."""
    ctx = context or DEFAULT_CONTEXT
    cdef bytes buf = _as_bytes(data)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(buf)
    if n < HEADER_LEN:
        raise MessageHeaderError(2, f"{n} octets is shorter than a BGP header", offset=0)
    length = _check_header(buf, _ptr(buf), 0, ctx.max_message_length)[0]
    if length != n:
        raise MessageHeaderError(2, f"length field {length} but {n} octets given",
                                 buf[16:18], offset=0)
    return decode_frame(buf, 0, length, ctx)


def decode_frame(buf, Py_ssize_t start, Py_ssize_t end, ctx):
    """Decode the framed message buf[start:end] (header already checked)."""
    cdef bytes b = _as_bytes(buf)
    cdef const uint8_t *p = _ptr(b)
    if start < 0 or end > PyBytes_GET_SIZE(b) or end - start < HEADER_LEN:
        raise MessageHeaderError(2, "message header is truncated", offset=start)
    cdef int mtype = p[start + 18]
    cdef Py_ssize_t length = end - start
    cdef Py_ssize_t pos = start + HEADER_LEN
    try:
        if mtype == 2:
            return decode_update(b, pos, end, ctx, length)
        if mtype == 4:
            return Keepalive(length)
        if mtype == 1:
            return decode_open(b, pos, end, length)
        if mtype == 3:
            return Notification(p[pos], p[pos + 1], b[pos + 2:end], length)
        if mtype == 5:
            return decode_route_refresh(b, pos, end, length)
        return UnknownMessage(mtype, b[pos:end], length)
    except BGPError as e:
        if e.offset is None:
            e.offset = start
        raise


class MessageReader(_py.MessageReader):
    """Incremental framing for a byte stream (see ``_wire_py.MessageReader``),
    decoding with this twin."""

    def _drain(self):
        while len(self._buf) >= HEADER_LEN:
            ctx = self.context
            head = bytes(self._buf[:HEADER_LEN])
            try:
                length, _ = check_header(head, 0, ctx.max_message_length)
            except BGPError as e:
                e.offset = self.offset
                raise
            if len(self._buf) < length:
                return
            frame = bytes(self._buf[:length])
            del self._buf[:length]
            start = self.offset
            self.offset += length
            try:
                yield decode_frame(frame, 0, length, ctx)
            except BGPError as e:
                e.offset = start + (e.offset or 0)
                raise


# --- UPDATE ----------------------------------------------------------------------------

def decode_update(buf, Py_ssize_t pos, Py_ssize_t end, ctx, Py_ssize_t length=0):
    """RFC 4271 §4.3 with RFC 7606 error handling (see ``_wire_py.decode_update``)."""
    cdef bytes b = _as_bytes(buf)
    check_range(b, pos, end)
    if end - pos < 4:
        raise UpdateMessageError(1, "UPDATE body shorter than 4 octets", action=RESET)
    return _decode_update(b, _ptr(b), pos, end, ctx, length, None)


cdef object _decode_update(bytes b, const uint8_t *p, Py_ssize_t pos, Py_ssize_t end, ctx,
                           Py_ssize_t length, list spans):
    # spans is None for objects; a list for the columnar path, which then gets
    # the EVPN NLRI ranges instead of route objects (see _mp_reach)
    cdef Py_ssize_t wlen, alen
    wlen = rd16(p + pos)
    pos += 2
    if pos + wlen + 2 > end:
        raise UpdateMessageError(1, f"withdrawn routes length {wlen} overruns the UPDATE",
                                 action=RESET)
    add_path = ctx.add_path
    cdef bint ap4 = FAMILY_IPV4_UNICAST in add_path
    withdrawn = _prefixes(b, p, pos, pos + wlen, 4, ap4, RESET)
    pos += wlen
    alen = rd16(p + pos)
    pos += 2
    if pos + alen > end:
        raise UpdateMessageError(1, f"total path attribute length {alen} overruns the UPDATE",
                                 action=RESET)
    items, errors = _attributes(b, p, pos, pos + alen, ctx, spans)
    nlri = _prefixes(b, p, pos + alen, end, 4, ap4, RESET)
    update = Update(withdrawn, _attributes_object(items), nlri, length)
    attrs = update.attributes
    mp = attrs.mp_reach
    if nlri or (mp is not None and (mp.routes or _announces(spans))):
        missing = [c for c in (AttrType.ORIGIN, AttrType.AS_PATH) if c not in attrs]
        if nlri and AttrType.NEXT_HOP not in attrs:
            missing.append(AttrType.NEXT_HOP)
        for code in missing:
            if not any(c == code for c, _ in errors):
                errors.append((code, UpdateMessageError(
                    3, f"missing well-known attribute {AttrType(code).name}", bytes([code]),
                    TAW)))
    if errors:
        worst = max(errors, key=lambda ce: ce[1].action)[1]
        update.malformed = errors
        worst.update = update
        raise worst
    return update


cdef bint _announces(list spans):
    if spans is None:
        return False
    for kind, start, end, nh in spans:
        if kind == 0 and start < end:
            return True
    return False


def decode_attributes(buf, Py_ssize_t pos, Py_ssize_t end, ctx):
    """Walk the path attributes in buf[pos:end] (see ``_wire_py.decode_attributes``)."""
    cdef bytes b = _as_bytes(buf)
    check_range(b, pos, end)
    return _attributes(b, _ptr(b), pos, end, ctx, None)


cdef tuple _attributes(bytes b, const uint8_t *p, Py_ssize_t pos, Py_ssize_t end, ctx,
                       list spans):
    cdef list items = []
    cdef list errors = []
    cdef uint64_t seen_lo = 0, seen_hi = 0, seen_bit
    cdef set seen_other = set()
    cdef int flags, code, hdr
    cdef Py_ssize_t alen, vstart, vend
    cdef bint dup
    while pos < end:
        # RFC 7606 §4: an attribute that does not fit in the Total Attribute
        # Length is treat-as-withdraw; the NLRI is still found from that length
        if end - pos < 3 or (p[pos] & 0x10 and end - pos < 4):
            errors.append((0, UpdateMessageError(1, "attribute header is truncated",
                                                 b[pos:end], TAW)))
            break
        flags = p[pos]
        code = p[pos + 1]
        if flags & 0x10:
            alen = rd16(p + pos + 2)
            hdr = 4
        else:
            alen = p[pos + 2]
            hdr = 3
        vstart = pos + hdr
        vend = vstart + alen
        if vend > end:
            errors.append((code, UpdateMessageError(
                1, f"attribute {code} of length {alen} overruns the path attributes",
                b[pos:end], TAW)))
            break
        pos = vend
        if code < 64:
            seen_bit = (<uint64_t>1) << code
            dup = (seen_lo & seen_bit) != 0
            seen_lo |= seen_bit
        else:
            dup = code in seen_other
            seen_other.add(code)
        if dup:
            if code == 14 or code == 15:
                raise UpdateMessageError(1, f"attribute {code} appears twice", action=RESET)
            errors.append((code, UpdateMessageError(
                1, f"attribute {code} appears twice; the first is kept",
                b[vstart - hdr:vend], DISCARD)))
            continue
        parser = <object>PyList_GET_ITEM(_PARSER_BY_CODE, code)
        if parser is None:
            if not flags & 0x80:
                raise UpdateMessageError(2, f"unrecognized well-known attribute {code}",
                                         b[vstart - hdr:vend], RESET)
            items.append(UnknownAttribute(code, b[vstart:vend], flags))
            continue
        if (flags & 0xC0) != (<int>(<object>PyList_GET_ITEM(_FLAGS_BY_CODE, code)) & 0xC0):
            mp = code == 14 or code == 15
            # an MP attribute whose AFI/SAFI cannot be read leaves no family to disable
            action = RESET if mp and vend - vstart < 3 else ATTR_ERROR_ACTION[code]
            err = UpdateMessageError(
                4, f"attribute {AttrType(code).name} has flags 0x{flags:02x}",
                b[vstart - hdr:vend], action,
                family=(rd16(p + vstart), p[vstart + 2]) if mp and action != RESET else None)
            if action == RESET:
                raise err
            errors.append((code, err))
            continue
        try:
            items.append(_parse_attribute(b, p, code, vstart, vend, flags, ctx, parser, spans))
        except UpdateMessageError as e:
            if e.action == RESET:
                raise
            errors.append((code, e))
    return items, errors


# --- attribute objects without their Python __init__ ----------------------------------
# The decoder builds the attribute objects (and Attributes) by setting their
# slots directly, to the values their __init__ would set: checked at import
# against the constructors (_check_fast_objects); a mismatch (a class that
# changed) turns this off and the constructors are called instead.

from .attributes import PathAttribute as _PathAttribute, MpReachValue, MpUnreachValue

cdef object _D_VALUE = _PathAttribute.__dict__["value"]
cdef object _D_FLAGS = _PathAttribute.__dict__["flags"]
cdef object _D_RAW = _PathAttribute.__dict__["raw"]
cdef object _D_FOUR = AsPath.__dict__["four_octet"]
cdef object _D_ITEMS = _Attributes.__dict__["items"]
cdef object _D_BY_CODE = _Attributes.__dict__["_by_code"]
cdef object _D_KEY = _Attributes.__dict__["_key"]
cdef type T_MP_REACH = MpReachNlri, T_MP_UNREACH = MpUnreachNlri, T_ATTRIBUTES = _Attributes
cdef type T_MP_REACH_VALUE = MpReachValue, T_MP_UNREACH_VALUE = MpUnreachValue
cdef bint _FAST_OBJECTS = False


cdef object _attr(type cls, value, flags, raw):
    """cls(value, flags, raw) for the attribute classes whose __init__ only
    stores them (value already in its final form)."""
    if not _FAST_OBJECTS:
        return cls(value, flags, raw)
    o = new_object(cls)
    set_slot(_D_VALUE, o, value)
    set_slot(_D_FLAGS, o, flags)
    set_slot(_D_RAW, o, raw)
    return o


cdef object _as_path_empty(flags, four_octet):
    if not _FAST_OBJECTS:
        return AsPath((), flags, b"", four_octet)
    o = _attr(T_AS_PATH, (), flags, b"")
    set_slot(_D_FOUR, o, four_octet)
    return o


cdef object _pmsi(int fl, int tt, uint32_t label, bytes tid, flags, bytes raw):
    if not _FAST_OBJECTS:
        return PmsiTunnel((fl, tt, label, tid), flags, raw)
    return _attr(T_PMSI, tuple.__new__(T_PMSI_VALUE, (fl, tt, label, tid)), flags, raw)


cdef object _mp_reach_attr(int afi, int safi, bytes nh, list routes, int reserved, flags):
    if not _FAST_OBJECTS:
        return MpReachNlri((afi, safi, nh, routes, reserved), flags)
    return _attr(T_MP_REACH, tuple.__new__(T_MP_REACH_VALUE, (afi, safi, nh, routes, reserved)),
                 flags, None)


cdef object _mp_unreach_attr(int afi, int safi, list routes, flags):
    if not _FAST_OBJECTS:
        return _mp_unreach_attr(afi, safi, routes, flags)
    return _attr(T_MP_UNREACH, tuple.__new__(T_MP_UNREACH_VALUE, (afi, safi, routes)), flags,
                 None)


cdef object _attributes_object(list items):
    """Attributes(items)."""
    if not _FAST_OBJECTS:
        return _Attributes(items)
    cdef dict by_code = {}
    cdef tuple t = tuple(items)
    for a in t:
        PyDict_SetDefault(by_code, a.code, a)
    o = new_object(T_ATTRIBUTES)
    set_slot(_D_ITEMS, o, t)
    set_slot(_D_BY_CODE, o, by_code)
    set_slot(_D_KEY, o, None)
    return o


def fast_objects_enabled():
    """Whether attribute objects are built by setting their slots (see
    _check_fast_objects); False means the classes changed and the decoder
    calls their constructors."""
    return _FAST_OBJECTS


def _slots_of(obj):
    out = {}
    for cls in type(obj).__mro__:
        for name in cls.__dict__.get("__slots__", ()):
            out[name] = getattr(obj, name, "<unset>")
    return type(obj), hasattr(obj, "__dict__"), out


def _check_fast_objects():
    """The fast constructors give what the classes' own do (else: off)."""
    global _FAST_OBJECTS
    ec = (ExtCommunity(b"\x00\x02\xfd\xe8\x00\x00\x00d"),)
    cases = [
        (lambda: _attr(T_ORIGIN, 1, 0x40, b"\x01"), lambda: Origin(1, 0x40, b"\x01")),
        (lambda: _attr(T_NEXT_HOP, "1.2.3.4", 0x40, b"\x01\x02\x03\x04"),
         lambda: NextHop("1.2.3.4", 0x40, b"\x01\x02\x03\x04")),
        (lambda: _attr(T_MED, 7, 0x80, b"\x00\x00\x00\x07"),
         lambda: Med(7, 0x80, b"\x00\x00\x00\x07")),
        (lambda: _attr(T_LOCAL_PREF, 7, 0x40, b"\x00\x00\x00\x07"),
         lambda: LocalPref(7, 0x40, b"\x00\x00\x00\x07")),
        (lambda: _attr(T_ORIGINATOR, "1.2.3.4", 0x80, b"\x01\x02\x03\x04"),
         lambda: OriginatorId("1.2.3.4", 0x80, b"\x01\x02\x03\x04")),
        (lambda: _attr(T_EXT_COMMS, ec, 0xC0, bytes(ec[0])),
         lambda: ExtCommunities(ec, 0xC0, bytes(ec[0]))),
        (lambda: _as_path_empty(0x40, False), lambda: AsPath((), 0x40, b"", False)),
        (lambda: _pmsi(0, 6, 100, b"\x01\x02\x03\x04", 0xC0, b"\x00\x06\x00\x00\x64"),
         lambda: PmsiTunnel((0, 6, 100, b"\x01\x02\x03\x04"), 0xC0, b"\x00\x06\x00\x00\x64")),
        (lambda: _mp_reach_attr(25, 70, b"\x01\x02\x03\x04", [], 0, 0x90),
         lambda: MpReachNlri((25, 70, b"\x01\x02\x03\x04", [], 0), 0x90)),
        (lambda: _mp_unreach_attr(25, 70, [], 0x90), lambda: MpUnreachNlri((25, 70, []), 0x90)),
    ]
    items = [Origin(0, 0x40, b"\x00"), LocalPref(1, 0x40, b"\x00\x00\x00\x01"),
             Origin(1, 0x40, b"\x01")]
    cases.append((lambda: _attributes_object(items), lambda: _Attributes(items)))
    _FAST_OBJECTS = True
    try:
        ok = True
        for fast, ref in cases:
            a, b = fast(), ref()
            ta, da, sa = _slots_of(a)
            tb, db, sb = _slots_of(b)
            if ta is not tb or da or db or sa != sb or \
                    any(type(sa[k]) is not type(sb[k]) for k in sa):
                ok = False
    except Exception:
        ok = False
    _FAST_OBJECTS = ok


cdef object _parse_attribute(bytes b, const uint8_t *p, int code, Py_ssize_t vstart,
                             Py_ssize_t vend, int flags, ctx, parser, list spans):
    """The hot attributes in C; the others through the Python twin's parser."""
    cdef Py_ssize_t n = vend - vstart, q
    cdef list ecs
    cdef bytes raw
    if code == 1 and n == 1 and p[vstart] <= 2:
        return _attr(T_ORIGIN, p[vstart], flags, _slice(p, vstart, vend))
    if code == 3 and n == 4:
        raw = _slice(p, vstart, vend)
        return _attr(T_NEXT_HOP, _ntop(_AF_INET, raw), flags, raw)
    if code == 4 and n == 4:
        return _attr(T_MED, rd32(p + vstart), flags, _slice(p, vstart, vend))
    if code == 5 and n == 4:
        return _attr(T_LOCAL_PREF, rd32(p + vstart), flags, _slice(p, vstart, vend))
    if code == 9 and n == 4:
        raw = _slice(p, vstart, vend)
        return _attr(T_ORIGINATOR, _ntop(_AF_INET, raw), flags, raw)
    if code == 16 and n != 0 and n % 8 == 0:
        ecs = []
        q = vstart
        while q < vend:
            ecs.append(new_packed(T_EC, <const char *>(p + q), 8))
            q += 8
        return _attr(T_EXT_COMMS, tuple(ecs), flags, _slice(p, vstart, vend))
    if code == 22 and n >= 5:
        return _pmsi(p[vstart], p[vstart + 1], rd24(p + vstart + 2), _slice(p, vstart + 5, vend),
                     flags, _slice(p, vstart, vend))
    if code == 14:
        return _mp_reach(b, p, vstart, vend, flags, ctx, spans)
    if code == 15:
        return _mp_unreach(b, p, vstart, vend, flags, ctx, spans)
    if code == 2 and n == 0:
        return _as_path_empty(flags, ctx.four_octet_as)
    # everything else, and every malformed case, through the reference parser
    return parser(b, vstart, vend, flags, ctx)


def parse_mp_reach(buf, Py_ssize_t vstart, Py_ssize_t vend, flags, ctx):
    """RFC 4760 §3 (see ``_wire_py.parse_mp_reach``)."""
    cdef bytes b = _as_bytes(buf)
    check_range(b, vstart, vend)
    return _mp_reach(b, _ptr(b), vstart, vend, flags, ctx, None)


cdef object _mp_reach(bytes b, const uint8_t *p, Py_ssize_t vstart, Py_ssize_t vend, flags,
                      ctx, list spans):
    cdef int afi, safi, nh_len
    cdef Py_ssize_t q
    if vend - vstart < 3:
        raise UpdateMessageError(9, "MP_REACH_NLRI shorter than 5 octets", b[vstart:vend], RESET)
    afi = rd16(p + vstart)
    safi = p[vstart + 2]
    try:
        if vend - vstart < 5:
            raise UpdateMessageError(9, "MP_REACH_NLRI shorter than 5 octets", b[vstart:vend],
                                     AFI_SAFI_DISABLE)
        nh_len = p[vstart + 3]
        q = vstart + 4 + nh_len
        if q + 1 > vend:
            raise UpdateMessageError(9, f"MP_REACH_NLRI next hop length {nh_len} overruns the "
                                     "attribute", b[vstart:vend], AFI_SAFI_DISABLE)
        if not (((afi == 25 and safi == 70) or (afi == 1 and safi == 1))
                and (nh_len == 4 or nh_len == 16 or nh_len == 32)):
            _py._check_next_hop((afi, safi), nh_len, b, vstart, vend)
        if spans is not None and afi == 25 and safi == 70:
            # columnar path: validate, remember where the routes are, make no objects
            spans.append((0, q + 1, vend, _slice(p, vstart + 4, q)))
            routes = []
        else:
            routes = _nlri(b, p, q + 1, vend, afi, safi, ctx)
    except UpdateMessageError as e:
        e.family = (afi, safi)
        raise
    return _mp_reach_attr(afi, safi, _slice(p, vstart + 4, q), routes, p[q], flags)


def parse_mp_unreach(buf, Py_ssize_t vstart, Py_ssize_t vend, flags, ctx):
    """RFC 4760 §4 (see ``_wire_py.parse_mp_unreach``)."""
    cdef bytes b = _as_bytes(buf)
    check_range(b, vstart, vend)
    return _mp_unreach(b, _ptr(b), vstart, vend, flags, ctx, None)


cdef object _mp_unreach(bytes b, const uint8_t *p, Py_ssize_t vstart, Py_ssize_t vend, flags,
                        ctx, list spans):
    if vend - vstart < 3:
        raise UpdateMessageError(9, "MP_UNREACH_NLRI shorter than 3 octets", b[vstart:vend],
                                 RESET)
    cdef int afi = rd16(p + vstart), safi = p[vstart + 2]
    try:
        if spans is not None and afi == 25 and safi == 70:
            spans.append((1, vstart + 3, vend, None))
            return _mp_unreach_attr(afi, safi, [], flags)
        routes = _nlri(b, p, vstart + 3, vend, afi, safi, ctx)
    except UpdateMessageError as e:
        e.family = (afi, safi)
        raise
    return _mp_unreach_attr(afi, safi, routes, flags)


# --- NLRI -------------------------------------------------------------------------------

def decode_nlri(buf, Py_ssize_t pos, Py_ssize_t end, int afi, int safi, ctx):
    """The NLRI of an MP attribute, by family (see ``_wire_py.decode_nlri``)."""
    cdef bytes b = _as_bytes(buf)
    check_range(b, pos, end)
    return _nlri(b, _ptr(b), pos, end, afi, safi, ctx)


cdef list _nlri(bytes b, const uint8_t *p, Py_ssize_t pos, Py_ssize_t end, int afi, int safi,
                ctx):
    cdef tuple family = (afi, safi)
    cdef bint add_path = family in ctx.add_path
    if afi == 25 and safi == 70:
        if add_path:
            return _py._decode_evpn_nlri_add_path(b, pos, end)
        return _evpn(b, p, pos, end)
    if afi == 1 and safi == 1:
        return _prefixes(b, p, pos, end, 4, add_path, AFI_SAFI_DISABLE)
    if afi == 2 and safi == 1:
        return _prefixes(b, p, pos, end, 16, add_path, AFI_SAFI_DISABLE)
    return [RawNlri(afi, safi, b[pos:end])] if pos < end else []


def decode_prefixes(buf, Py_ssize_t pos, Py_ssize_t end, int addr_len, bint add_path, action):
    """RFC 4271 §4.3 prefixes (see ``_wire_py.decode_prefixes``)."""
    cdef bytes b = _as_bytes(buf)
    check_range(b, pos, end)
    return _prefixes(b, _ptr(b), pos, end, addr_len, add_path, action)


cdef list _prefixes(bytes b, const uint8_t *p, Py_ssize_t pos, Py_ssize_t end, int addr_len,
                    bint add_path, action):
    cdef PyTypeObject *t = (T_V4P if add_path else T_V4) if addr_len == 4 \
        else (T_V6P if add_path else T_V6)
    cdef int maxbits = addr_len * 8
    cdef int hdr = 5 if add_path else 1
    cdef int plen
    cdef Py_ssize_t nxt
    cdef list out = []
    while pos < end:
        if end - pos < hdr:
            raise UpdateMessageError(10, "prefix is truncated", b[pos:end], action)
        plen = p[pos + hdr - 1]
        if plen > maxbits:
            raise UpdateMessageError(10, f"prefix length {plen} exceeds {maxbits}",
                                     b[pos:end], action)
        nxt = pos + hdr + ((plen + 7) >> 3)
        if nxt > end:
            raise UpdateMessageError(10, "prefix overruns its field", b[pos:end], action)
        out.append(new_packed(t, <const char *>(p + pos), nxt - pos))
        pos = nxt
    return out


def evpn_route_class(buf, Py_ssize_t pos, Py_ssize_t length):
    """The class of the EVPN route whose body is buf[pos:pos+length] (see
    ``_wire_py.evpn_route_class``)."""
    cdef bytes b = _as_bytes(buf)
    check_range(b, max(pos - 2, 0) if pos >= 2 else -1, pos + length)
    return _route_class(_ptr(b), pos, length)


cdef object _route_class(const uint8_t *p, Py_ssize_t pos, Py_ssize_t length):
    # every index below is < pos + length, checked against the length first
    cdef int rtype = p[pos - 2], ipl, rest, k
    cdef Py_ssize_t q, end
    if rtype == 2:
        if length < 33 or p[pos + 22] != 48:
            return None
        ipl = p[pos + 29]
        if ipl != 0 and ipl != 32 and ipl != 128:
            return None
        rest = length - 30 - (ipl >> 3)
        return MacIpRoute if rest == 3 or rest == 6 else None
    if rtype == 3:
        if length < 13:
            return None
        ipl = p[pos + 12]
        return C_TYPE3 if (ipl == 32 or ipl == 128) and length == 13 + (ipl >> 3) else None
    if rtype == 1:
        return C_TYPE1 if length == 25 else None
    if rtype == 4:
        if length < 19:
            return None
        ipl = p[pos + 18]
        return C_TYPE4 if (ipl == 32 or ipl == 128) and length == 19 + (ipl >> 3) else None
    if rtype == 5:
        if length == 34:
            return C_TYPE5 if p[pos + 22] <= 32 else None
        if length == 58:
            return C_TYPE5 if p[pos + 22] <= 128 else None
        return None
    if 6 <= rtype <= 8:
        q = pos + (12 if rtype == 6 else 22)
        end = pos + length
        for k in range(3):
            if q >= end:
                return None
            ipl = p[q]
            if ipl != 0 and ipl != 32 and ipl != 128:
                return None
            q += 1 + (ipl >> 3)
        q += 6 if rtype == 8 else 1
        return EVPN_ROUTE_CLASSES[rtype] if q == end else None
    if rtype == 9 or rtype == 10:
        return RawEvpnRoute if length >= 8 else None
    return RawEvpnRoute


def decode_evpn_nlri(buf, Py_ssize_t pos, Py_ssize_t end, bint add_path=False):
    """RFC 7432 §7 routes (see ``_wire_py.decode_evpn_nlri``)."""
    cdef bytes b = _as_bytes(buf)
    check_range(b, pos, end)
    if add_path:
        return _py._decode_evpn_nlri_add_path(b, pos, end)
    return _evpn(b, _ptr(b), pos, end)


cdef list _evpn(bytes b, const uint8_t *p, Py_ssize_t pos, Py_ssize_t end):
    cdef list out = []
    cdef Py_ssize_t length, nxt
    cdef int ipl, rest
    while pos < end:
        if end - pos < 2:
            raise UpdateMessageError(10, "EVPN route header is truncated", b[pos:end],
                                     AFI_SAFI_DISABLE)
        length = p[pos + 1]
        nxt = pos + 2 + length
        if nxt > end:
            raise UpdateMessageError(10, f"EVPN route of length {length} overruns the NLRI",
                                     b[pos:end], AFI_SAFI_DISABLE)
        # type 2 inline: length >= 33 makes offsets 24 and 31 lie inside the route
        if p[pos] == 2 and length >= 33 and p[pos + 24] == 48:
            ipl = p[pos + 31]
            rest = length - 30 - (ipl >> 3)
            if (ipl == 0 or ipl == 32 or ipl == 128) and (rest == 3 or rest == 6):
                out.append(new_packed(T_MACIP, <const char *>(p + pos), nxt - pos))
                pos = nxt
                continue
        cls = _route_class(p, pos + 2, length)
        if cls is None:
            raise UpdateMessageError(10, f"EVPN route type {p[pos]} with a malformed layout "
                                     f"of {length} octets", b[pos:nxt], AFI_SAFI_DISABLE)
        out.append(new_packed(<PyTypeObject *>cls, <const char *>(p + pos), nxt - pos))
        pos = nxt
    return out


# --- columnar decode ------------------------------------------------------------------

cdef tuple _columns_update(bytes b, const uint8_t *p, Py_ssize_t pos, Py_ssize_t end, ctx,
                           list spans):
    """_decode_update for decode_columns: the same walk and checks, without
    the Update object, for an UPDATE that decodes cleanly: (Attributes,
    MP_REACH value or None, MP_UNREACH value or None, number of classic
    withdrawn + NLRI prefixes).  On any error it raises a BGPError, not
    necessarily the one _decode_update raises: the caller decodes the
    message again in full for that."""
    cdef Py_ssize_t wlen, alen
    cdef uint64_t seen = 0
    if end - pos < 4:
        raise UpdateMessageError(1, "UPDATE body shorter than 4 octets", action=RESET)
    wlen = rd16(p + pos)
    pos += 2
    if pos + wlen + 2 > end:
        raise UpdateMessageError(1, "withdrawn routes length overruns the UPDATE", action=RESET)
    cdef bint ap4 = FAMILY_IPV4_UNICAST in ctx.add_path
    withdrawn = _prefixes(b, p, pos, pos + wlen, 4, ap4, RESET)
    pos += wlen
    alen = rd16(p + pos)
    pos += 2
    if pos + alen > end:
        raise UpdateMessageError(1, "total path attribute length overruns the UPDATE",
                                 action=RESET)
    items, errors = _attributes(b, p, pos, pos + alen, ctx, spans)
    nlri = _prefixes(b, p, pos + alen, end, 4, ap4, RESET)
    if errors:
        raise (<tuple>(<list>errors)[0])[1]
    mp = un = None
    cdef long c
    for a in <list>items:
        # attribute codes are octets (ints, AttrType members)
        c = a.code
        if 0 <= c < 64:
            seen |= (<uint64_t>1) << c
        # the first of a code is the one Attributes keeps (an MP attribute
        # appears once: a second one raised above)
        if c == 14 and mp is None:
            mp = a.value
        elif c == 15 and un is None:
            un = a.value
    if nlri or (mp is not None and (mp.routes or _announces(spans))):
        # ORIGIN, AS_PATH (and NEXT_HOP with classic NLRI) must be there
        if (seen & 6) != 6 or (nlri and not seen & 8):
            raise UpdateMessageError(3, "missing well-known attribute", action=TAW)
    return _attributes_object(items), mp, un, len(<list>withdrawn) + len(<list>nlri)


cdef tuple _attributes_key(attrs):
    """Attributes.key, computed here (the same tuple of the same objects)."""
    cdef list out = []
    cdef long c
    for a in attrs.items:
        code = a.code
        c = code
        if c == 14 or c == 15:
            continue
        raw = a.raw
        out.append((code, a.flags, raw if raw is not None else repr(a.value)))
    return tuple(out)


cdef struct _Rows:
    uint8_t *type
    uint64_t *off
    uint32_t *pid
    uint64_t *rd
    uint32_t *tag
    uint64_t *mac
    uint8_t *ipoff
    uint8_t *iplen
    uint32_t *l1
    uint32_t *l2
    int32_t *attr


cdef dict _ITEMSIZES = {name: ITEMSIZES[code] for name, code in COLUMN_TYPECODES.items()}


cdef class _ColumnStore:
    """The columns while decode_columns writes them: one bytearray laid out
    by columns.column_layout(capacity) (what EvpnColumns views), and a
    pointer to each column's first row."""
    cdef bytearray storage
    cdef Py_ssize_t capacity
    cdef _Rows rows

    def __cinit__(self, Py_ssize_t capacity):
        self._allocate(capacity)

    cdef int _allocate(self, Py_ssize_t capacity) except -1:
        starts, size = column_layout(capacity)
        # not zeroed: every row is written before it is read, and untouched
        # room costs no memory
        self.storage = PyByteArray_FromStringAndSize(NULL, size)
        cdef char *base = PyByteArray_AS_STRING(self.storage)
        advise_huge(base, <size_t>size)
        self.capacity = capacity
        self.rows.type = <uint8_t *>(base + <Py_ssize_t>starts["route_type"])
        self.rows.off = <uint64_t *>(base + <Py_ssize_t>starts["offset"])
        self.rows.pid = <uint32_t *>(base + <Py_ssize_t>starts["path_id"])
        self.rows.rd = <uint64_t *>(base + <Py_ssize_t>starts["rd"])
        self.rows.tag = <uint32_t *>(base + <Py_ssize_t>starts["ethernet_tag"])
        self.rows.mac = <uint64_t *>(base + <Py_ssize_t>starts["mac"])
        self.rows.ipoff = <uint8_t *>(base + <Py_ssize_t>starts["ip_at"])
        self.rows.iplen = <uint8_t *>(base + <Py_ssize_t>starts["ip_len"])
        self.rows.l1 = <uint32_t *>(base + <Py_ssize_t>starts["label1"])
        self.rows.l2 = <uint32_t *>(base + <Py_ssize_t>starts["label2"])
        self.rows.attr = <int32_t *>(base + <Py_ssize_t>starts["attr_index"])
        return 0

    cdef int reserve(self, Py_ssize_t row, Py_ssize_t need) except -1:
        """Room for need rows, keeping rows [0, row): a new storage of at
        least twice the capacity when the room runs out."""
        if need <= self.capacity:
            return 0
        cdef bytearray old = self.storage    # alive until the rows are copied
        old_starts, _ = column_layout(self.capacity)
        self._allocate(max(need, 2 * self.capacity))
        new_starts, _ = column_layout(self.capacity)
        cdef char *src = PyByteArray_AS_STRING(old)
        cdef char *dst = PyByteArray_AS_STRING(self.storage)
        for name, start in new_starts.items():
            memcpy(dst + <Py_ssize_t>start, src + <Py_ssize_t>old_starts[name],
                   row * <Py_ssize_t>_ITEMSIZES[name])
        return 0

    cdef Py_ssize_t append(self, Py_ssize_t row, dict arrays) except -1:
        """The rows of arrays (new_column_arrays(), filled) after row;
        returns the next row."""
        cdef Py_ssize_t n = len(arrays["route_type"])
        self.reserve(row, row + n)
        starts, _ = column_layout(self.capacity)
        cdef char *base = PyByteArray_AS_STRING(self.storage)
        cdef array.array a
        for name, start in starts.items():
            a = arrays[name]
            memcpy(base + <Py_ssize_t>start + row * a.ob_descr.itemsize, a.data.as_voidptr,
                   n * a.ob_descr.itemsize)
        return row + n

    cdef finish(self, cols, Py_ssize_t rows):
        """Give the room between the columns back to the system, then
        point cols' columns at the first rows rows."""
        starts, size = column_layout(self.capacity)
        cdef char *base = PyByteArray_AS_STRING(self.storage)
        cdef Py_ssize_t used, nxt
        ordered = list(starts.items())       # in storage order
        for k, (name, start) in enumerate(ordered):
            used = <Py_ssize_t>start + rows * _ITEMSIZES[name]
            nxt = ordered[k + 1][1] if k + 1 < len(ordered) else size
            release_unused(base + used, <size_t>(nxt - used))
        cols.view_storage(self.storage, self.capacity, rows)



cdef struct _Span:
    int kind               # 0 MP_REACH, 1 MP_UNREACH
    Py_ssize_t pos, end    # its EVPN NLRI


cdef bytes _block_key(const uint8_t *p, Py_ssize_t pos, Py_ssize_t end, _Span *spans,
                      int *nspans):
    """The attribute block of the UPDATE body p[pos:end] as a cache key for
    decode_columns: every attribute's octets, except that an EVPN
    MP_REACH_NLRI / MP_UNREACH_NLRI keeps its flags, code and the octets
    before its NLRI (AFI, SAFI, next hop, reserved) behind a 2-octet length
    of its own; first octet: 1 when the MP_REACH carries routes (what the
    missing-attribute check depends on).  Two UPDATEs with the same key
    decode to the same attributes, errors included, as long as their NLRI
    is valid.  The NLRI ranges go to spans (wire order).  None for an
    UPDATE the cache leaves to the full decode: withdrawn routes or NLRI in
    the classic fields, a header or length that does not fit, an MP
    attribute of another family or too short to show its family and NLRI,
    a repeated MP attribute."""
    cdef Py_ssize_t a, aend, alen, vstart, vend, q, k = 1
    cdef int flags, code, hdr, n = 0
    cdef bint reach = False, unreach = False, announces = False
    if end - pos < 4 or rd16(p + pos) != 0:
        return None
    alen = rd16(p + pos + 2)
    a = pos + 4
    aend = a + alen
    if aend != end:
        return None
    cdef bytes key = PyBytes_FromStringAndSize(NULL, alen + 3)
    cdef uint8_t *o = <uint8_t *>PyBytes_AS_STRING(key)
    while a < aend:
        if aend - a < 3:
            return None
        flags = p[a]
        code = p[a + 1]
        if flags & 0x10:
            if aend - a < 4:
                return None
            vstart = a + 4
            vend = vstart + rd16(p + a + 2)
        else:
            vstart = a + 3
            vend = vstart + p[a + 2]
        if vend > aend:
            return None
        if code == 14 or code == 15:
            # vstart + 3 <= vend: AFI and SAFI lie inside the attribute
            if vend - vstart < 3 or rd16(p + vstart) != 25 or p[vstart + 2] != 70:
                return None
            if code == 14:
                if reach or vend - vstart < 5:
                    return None
                q = vstart + 5 + p[vstart + 3]     # past next hop and reserved octet
                if q > vend:
                    return None
                reach = True
                announces = q < vend
                spans[n].kind = 0
            else:
                if unreach:
                    return None
                q = vstart + 3
                unreach = True
                spans[n].kind = 1
            spans[n].pos = q
            spans[n].end = vend
            n += 1
            # flags, code, 2-octet length, value up to the NLRI: at most one
            # octet more than the attribute's own header and value
            o[k] = flags
            o[k + 1] = code
            o[k + 2] = (q - vstart) >> 8
            o[k + 3] = (q - vstart) & 0xFF
            memcpy(o + k + 4, p + vstart, q - vstart)
            k += 4 + q - vstart
        else:
            memcpy(o + k, p + a, vend - a)
            k += vend - a
        a = vend
    o[0] = announces
    nspans[0] = n
    return key[:k]



def decode_columns(data, context=None):
    """Decode a buffer of whole messages into ``EvpnColumns`` (see
    ``_wire_py.decode_columns``) without creating route objects."""
    ctx = context or DEFAULT_CONTEXT
    cdef bytes buf = _as_bytes(data)
    if PyBytes_GET_SIZE(buf) < _GC_PAUSE_BYTES:
        return _decode_columns(buf, ctx)
    # as in decode_messages: the attribute objects of thousands of UPDATEs
    # would trigger collections that walk everything alive, for nothing
    was_enabled = _gc.isenabled()
    _gc.disable()
    try:
        return _decode_columns(buf, ctx)
    finally:
        if was_enabled:
            _gc.enable()


cdef struct _Work:
    # rows to write: the EVPN NLRI p[pos:end] of the message p[mstart:mend]
    # with attribute-set index (or WITHDRAWN), or (slow >= 0) the rows of
    # the slow path's arrays number slow
    Py_ssize_t pos, end, mstart, mend
    int index
    Py_ssize_t slow


cdef class _WorkList:
    """A growable array of _Work (freed with the list)."""
    cdef _Work *items
    cdef Py_ssize_t n, cap

    def __dealloc__(self):
        PyMem_Free(self.items)

    cdef int add(self, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t mstart, Py_ssize_t mend,
                 int index, Py_ssize_t slow) except -1:
        cdef _Work *grown
        if self.n == self.cap:
            grown = <_Work *>PyMem_Realloc(self.items, (2 * self.cap + 16) * sizeof(_Work))
            if grown == NULL:
                raise MemoryError()
            self.items = grown
            self.cap = 2 * self.cap + 16
        self.items[self.n].pos = pos
        self.items[self.n].end = end
        self.items[self.n].mstart = mstart
        self.items[self.n].mend = mend
        self.items[self.n].index = index
        self.items[self.n].slow = slow
        self.n += 1
        return 0


cdef object _decode_columns(bytes buf, ctx):
    cdef const uint8_t *p = _ptr(buf)
    cols = EvpnColumns(buf)
    frames, pos = split_messages(buf, 0, ctx.max_message_length)
    if pos != PyBytes_GET_SIZE(buf):
        raise MessageHeaderError(2, f"{PyBytes_GET_SIZE(buf) - pos} octets after the last whole "
                                 "message (truncated message)", offset=pos)
    cdef dict interned = {}
    cdef dict messages = cols.messages
    cdef dict other = cols.other_routes
    cdef Py_ssize_t start, end, mpos, mend, k, row = 0, w
    cdef int index, nspans = 0, j
    cdef _Span sp[2]
    cdef bint evpn_ap = FAMILY_EVPN in ctx.add_path
    cdef list spans
    # attribute block (see _block_key) -> attribute-set index of its routes
    # (-2 when it announces none), for blocks that decoded cleanly before in
    # this call: the UPDATEs of one attribute set are decoded once
    cdef dict blocks = {}
    cdef bytes bkey
    cdef _WorkList work = _WorkList()
    cdef list slow = []
    cdef _Work *it
    # Two passes.  First every message's attributes (the Python objects),
    # noting where each one's EVPN routes are; then the routes, written
    # into the columns span after span.  Done interleaved, each UPDATE's
    # attribute decode found the caches full of the previous span's rows
    # and ran about twice as slow.  Errors still come in message order: a
    # message whose attributes fail stops the first pass, and the routes
    # of the messages before it are checked before its error is raised.
    pending = None
    try:
        for start, end in frames:
            mtype = p[start + 18]
            if mtype != 2 or evpn_ap:
                # not an UPDATE, or EVPN with path ids: through the object decoder
                msg = decode_frame(buf, start, end, ctx)
                messages[msg.type] = messages.get(msg.type, 0) + 1
                if mtype == 2:
                    # the rows first, then the work item that points at them
                    slow.append(_columns_from_update(cols, buf, start, end, msg, interned))
                    work.add(0, 0, start, end, 0, len(slow) - 1)
                continue
            bkey = _block_key(p, start + HEADER_LEN, end, sp, &nspans)
            if bkey is not None:
                cached = blocks.get(bkey)
                if cached is not None:
                    # the same attributes as an earlier clean UPDATE: only
                    # the NLRI is left to check (as its rows are written)
                    for j in range(nspans):
                        work.add(sp[j].pos, sp[j].end, start, end,
                                 <int>cached if sp[j].kind == 0 else WITHDRAWN, -1)
                    messages["UPDATE"] = messages.get("UPDATE", 0) + 1
                    continue
            spans = []
            try:
                attrs, mp, un, k = _columns_update(buf, p, start + HEADER_LEN, end, ctx, spans)
            except BGPError:
                # rare: decode again with route objects, so the error (and
                # the partial UPDATE it carries) is exactly the one
                # decode_messages gives
                decode_frame(buf, start, end, ctx)
                raise
            messages["UPDATE"] = messages.get("UPDATE", 0) + 1
            cached = -2
            ikey = None
            for kind, mpos, mend, nh in spans:
                if mpos >= mend:
                    continue
                if kind == 0:
                    if ikey is None:
                        ikey = _attributes_key(attrs)
                    key = (ikey, nh)
                    idx = interned.get(key)
                    if idx is None:
                        idx = interned[key] = len(cols.attribute_sets)
                        cols.attribute_sets.append((attrs, nh))
                    index = idx
                    cached = idx
                else:
                    index = WITHDRAWN
                work.add(mpos, mend, start, end, index, -1)
            if bkey is not None:
                blocks[bkey] = cached
            if mp is not None and (mp.afi, mp.safi) != FAMILY_EVPN and mp.routes:
                fam = (mp.afi, mp.safi)
                other[fam] = other.get(fam, 0) + len(mp.routes)
            if un is not None and (un.afi, un.safi) != FAMILY_EVPN and un.routes:
                fam = (un.afi, un.safi)
                other[fam] = other.get(fam, 0) + len(un.routes)
            if k:
                other[FAMILY_IPV4_UNICAST] = other.get(FAMILY_IPV4_UNICAST, 0) + k
    except BGPError as exc:
        # (anything else, KeyboardInterrupt included, propagates at once)
        pending = exc
    # the columns are reserved for a type-2 stream (35+ octets a route;
    # growing if the routes are shorter); untouched room costs no memory
    cdef _ColumnStore store = _ColumnStore(PyBytes_GET_SIZE(buf) // 33 + 16)
    for w in range(work.n):
        it = &work.items[w]
        if it.slow >= 0:
            row = store.append(row, <dict>slow[it.slow])
        elif it.pos < it.end:
            row = _span_rows(buf, p, it.pos, it.end, it.index, store, row, it.mstart, it.mend,
                             ctx)
    if pending is not None:
        raise pending
    store.finish(cols, row)
    return cols


cdef Py_ssize_t _span_rows(bytes buf, const uint8_t *p, Py_ssize_t pos, Py_ssize_t end,
                           int index, _ColumnStore store, Py_ssize_t row,
                           Py_ssize_t mstart, Py_ssize_t mend, ctx) except -1:
    """Rows for the EVPN NLRI p[pos:end] of the message buf[mstart:mend],
    from row on; returns the next row.  A route that is cut short or does
    not fit its type: the message is decoded in full, for its error."""
    # a route takes at least 2 octets: room for every route the span can hold
    store.reserve(row, row + (end - pos) // 2 + 1)
    cdef Py_ssize_t nxt = _columns_walk(p, pos, end, index, &store.rows, row,
                                        store.capacity - row)
    if nxt < 0:
        decode_frame(buf, mstart, mend, ctx)
        raise AssertionError("decode_columns: the NLRI check and decode_frame disagree")
    return nxt


cdef Py_ssize_t _columns_walk(const uint8_t *p, Py_ssize_t pos, Py_ssize_t end, int index,
                              _Rows *c, Py_ssize_t i, Py_ssize_t n) except -2:
    """Write rows i.. (room for n) for the EVPN routes in p[pos:end],
    following columns.row_of_route and checking each route as _evpn does;
    -1 at the first route that is cut short or does not fit its type (or
    when the room runs out), else the next row."""
    cdef Py_ssize_t q = pos, bb, length, nxt, stop = i + n
    cdef int rtype, ip_len, ipl, rest
    cdef bint fast
    cdef uint64_t rd, mac, ip_off
    cdef uint32_t tag, l1, l2
    # the column pointers in locals: a store through a uint8_t pointer could
    # alias *c, so reading them from c would reload them after every store
    cdef uint8_t *a_type = c.type
    cdef uint64_t *a_off = c.off
    cdef uint32_t *a_pid = c.pid
    cdef uint64_t *a_rd = c.rd
    cdef uint32_t *a_tag = c.tag
    cdef uint64_t *a_mac = c.mac
    cdef uint8_t *a_ipoff = c.ipoff
    cdef uint8_t *a_iplen = c.iplen
    cdef uint32_t *a_l1 = c.l1
    cdef uint32_t *a_l2 = c.l2
    cdef int32_t *a_attr = c.attr
    while q < end:
        if end - q < 2 or i >= stop:
            return -1
        rtype = p[q]
        length = p[q + 1]
        nxt = q + 2 + length
        if nxt > end:
            return -1
        bb = q + 2
        fast = False
        if rtype == 2 and length >= 33 and p[q + 24] == 48:
            # type 2 (RFC 7432 §7.2), the layout _evpn accepts inline: every
            # offset below is < 2 + length
            ipl = p[q + 31]
            rest = length - 30 - (ipl >> 3)
            if (ipl == 0 or ipl == 32 or ipl == 128) and (rest == 3 or rest == 6):
                ip_len = ipl >> 3
                ip_off = 32 if ip_len else 0
                rd = rd64(p + bb)
                tag = rd32(p + bb + 18)
                # the 8 octets before the MAC's end are inside the route
                mac = rd64(p + bb + 21) & MAC_MASK
                l1 = rd24(p + bb + 30 + ip_len)
                l2 = rd24(p + bb + 33 + ip_len) if rest == 6 else NO_LABEL_C
                fast = True
        if not fast:
            if _route_class(p, bb, length) is None:
                return -1
            # a valid layout of its type: the offsets below lie inside the route
            rd = rd64(p + bb) if ((1 <= rtype <= 8) or ((rtype == 9 or rtype == 10)
                                                        and length >= 8)) else 0
            tag = 0
            mac = 0
            ip_off = 0
            ip_len = 0
            l1 = NO_LABEL_C
            l2 = NO_LABEL_C
            if rtype == 1:
                tag = rd32(p + bb + 18)
                l1 = rd24(p + bb + 22)
            elif rtype == 2:
                tag = rd32(p + bb + 18)
                mac = (<uint64_t>rd16(p + bb + 23) << 32) | rd32(p + bb + 25)
                ip_len = p[bb + 29] >> 3
                ip_off = 32 if ip_len else 0
                l1 = rd24(p + bb + 30 + ip_len)
                if length - 30 - ip_len == 6:
                    l2 = rd24(p + bb + 33 + ip_len)
            elif rtype == 3:
                tag = rd32(p + bb + 8)
                ip_len = p[bb + 12] >> 3
                ip_off = 15
            elif rtype == 4:
                ip_len = p[bb + 18] >> 3
                ip_off = 21
            elif rtype == 5:
                tag = rd32(p + bb + 18)
                ip_len = 4 if length == 34 else 16
                ip_off = 25
                l1 = rd24(p + bb + length - 3)
            elif rtype == 6:
                tag = rd32(p + bb + 8)
            elif rtype == 7 or rtype == 8:
                tag = rd32(p + bb + 18)
        # every read above, then the stores
        a_type[i] = rtype
        a_off[i] = q
        a_pid[i] = 0
        a_rd[i] = rd
        a_tag[i] = tag
        a_mac[i] = mac
        a_ipoff[i] = ip_off
        a_iplen[i] = ip_len
        a_l1[i] = l1
        a_l2[i] = l2
        a_attr[i] = index
        i += 1
        q = nxt
    return i


cdef dict _columns_from_update(cols, bytes buf, Py_ssize_t start, Py_ssize_t end, msg,
                              dict interned):
    """The slow path (EVPN with ADD-PATH): rows exactly as the Python twin
    builds them (new_column_arrays(), filled)."""
    tmp = new_column_arrays()
    attrs = msg.attributes
    reach, unreach = _py._evpn_nlri_ranges(buf, start, end)
    mp = attrs.mp_reach
    un = attrs.mp_unreach
    rows = []
    if mp is not None and (mp.afi, mp.safi) == FAMILY_EVPN and mp.routes:
        k = (attrs.key, bytes(mp.next_hop))
        index = interned.get(k)
        if index is None:
            index = interned[k] = len(cols.attribute_sets)
            cols.attribute_sets.append((attrs, bytes(mp.next_hop)))
        rows.append((reach[0], reach, index))
    elif mp is not None and mp.routes:
        fam = (mp.afi, mp.safi)
        cols.other_routes[fam] = cols.other_routes.get(fam, 0) + len(mp.routes)
    if un is not None and (un.afi, un.safi) == FAMILY_EVPN:
        rows.append((unreach[0], unreach, WITHDRAWN))
    elif un is not None and un.routes:
        fam = (un.afi, un.safi)
        cols.other_routes[fam] = cols.other_routes.get(fam, 0) + len(un.routes)
    for _, span, index in sorted(rows):
        _py._add_rows(tmp, buf, span, index, True)
    n4 = len(msg.nlri) + len(msg.withdrawn_routes)
    if n4:
        cols.other_routes[FAMILY_IPV4_UNICAST] = cols.other_routes.get(FAMILY_IPV4_UNICAST, 0) + n4
    return tmp


# --- encoding attributes -----------------------------------------------------------------
# encode_attribute / encode_attribute_value / next_hop_bytes: the common
# cases in C; anything else (another class, a value of another type or out of
# range, which is where the errors are) through the Python twin's function,
# so results and exceptions are its own.

cdef int _AF_INET_C = _socket.AF_INET
cdef int _AF_INET6_C = _socket.AF_INET6
cdef object _py_encode_attribute = _py.encode_attribute
cdef object _py_encode_attribute_value = _py.encode_attribute_value
cdef object _py_next_hop_bytes = _py.next_hop_bytes


cdef inline bint _uint(v, long long top):
    """v is an int (not a bool or other subclass) in 0..top."""
    cdef int overflow = 0
    cdef long long x
    if type(v) is not int:
        return False
    x = PyLong_AsLongLongAndOverflow(v, &overflow)
    return overflow == 0 and 0 <= x <= top


cdef inline bint _u8(v):
    return _uint(v, 0xFF)


cdef inline bint _u32(v):
    return _uint(v, 0xFFFFFFFF)


# the classes whose values are encoded here (pointer comparisons, no lookups)
cdef type T_ORIGIN = Origin, T_AS_PATH = AsPath, T_AS4_PATH = As4Path, T_NEXT_HOP = NextHop
cdef type T_MED = Med, T_LOCAL_PREF = LocalPref, T_EXT_COMMS = ExtCommunities
cdef type T_PMSI = PmsiTunnel, T_COMMS = Communities, T_ORIGINATOR = OriginatorId
cdef type T_ATOMIC = AtomicAggregate, T_OTC = Otc, T_UNKNOWN = UnknownAttribute
cdef type T_PMSI_VALUE = PmsiTunnelValue, T_SEGMENT = AsPathSegment, T_EXT_COMM = ExtCommunity


cdef inline void _put32(uint8_t *o, uint32_t v) noexcept:
    o[0] = v >> 24
    o[1] = (v >> 16) & 0xFF
    o[2] = (v >> 8) & 0xFF
    o[3] = v & 0xFF


cdef bytes _ipv4_octets(v):
    """socket.inet_pton(AF_INET, v) for a str it accepts, else None."""
    cdef const char *c
    cdef Py_ssize_t n
    cdef uint8_t out[4]
    if type(v) is not str or not is_ascii(<str>v):
        return None
    c = PyUnicode_AsUTF8AndSize(v, &n)
    if <Py_ssize_t>strlen(c) != n or c_inet_pton(_AF_INET_C, c, out) != 1:
        return None   # (an embedded NUL is an error in Python)
    return PyBytes_FromStringAndSize(<char *>out, 4)


cdef bytes _as_path_value(v, bint four):
    """AS_PATH / AS4_PATH segments (see _wire_py.encode_attribute_value) when
    every segment is (type octet, tuple of AS numbers that fit), else None."""
    cdef Py_ssize_t size = 0, k, m, q = 0, c, i
    cdef long long top = 0xFFFFFFFF if four else 0xFFFF
    cdef uint8_t *o
    if type(v) is not tuple:
        return None
    for seg in <tuple>v:
        if (type(seg) is not T_SEGMENT and type(seg) is not tuple) or len(seg) != 2:
            return None
        stype, asns = seg
        if not _u8(stype) or type(asns) is not tuple:
            return None
        m = len(<tuple>asns)
        for a in <tuple>asns:
            if not _uint(a, top):
                return None
        size += 2 * ((m + 254) // 255) + m * (4 if four else 2)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, size)
    o = <uint8_t *>PyBytes_AS_STRING(out)
    for seg in <tuple>v:
        stype, asns = seg
        m = len(<tuple>asns)
        k = 0
        while k < m:
            c = min(255, m - k)
            o[q] = <int>stype
            o[q + 1] = c
            q += 2
            for i in range(k, k + c):
                a = (<tuple>asns)[i]
                if four:
                    _put32(o + q, <uint32_t>a)
                    q += 4
                else:
                    o[q] = (<uint32_t>a) >> 8
                    o[q + 1] = (<uint32_t>a) & 0xFF
                    q += 2
            k += c
    return out


cdef bytes _value_fast(attr, ctx):
    """encode_attribute_value of the Python twin for the common attribute
    classes with well-formed values; None to leave it to that function."""
    cdef type t = type(attr)
    cdef Py_ssize_t n, q
    cdef uint8_t *o
    cdef bytes out
    if not (t is T_ORIGIN or t is T_AS_PATH or t is T_LOCAL_PREF or t is T_EXT_COMMS
            or t is T_PMSI or t is T_NEXT_HOP or t is T_MED or t is T_AS4_PATH or t is T_COMMS
            or t is T_ORIGINATOR or t is T_ATOMIC or t is T_OTC or t is T_UNKNOWN):
        return None
    raw = attr.raw
    if raw is not None:
        if type(raw) is not bytes:
            return None
        if t is T_AS_PATH:
            # raw octets are for the AS size they were decoded with
            fo = getattr(attr, "four_octet", None)
            if type(fo) is not bool or fo is not ctx.four_octet_as:
                return None
        return raw
    if t is T_UNKNOWN:
        return None
    v = attr.value
    if t is T_ORIGIN:
        if _u8(v):
            out = PyBytes_FromStringAndSize(NULL, 1)
            (<uint8_t *>PyBytes_AS_STRING(out))[0] = <int>v
            return out
        return None
    if t is T_AS_PATH or t is T_AS4_PATH:
        fo = ctx.four_octet_as
        if type(fo) is not bool:
            return None
        return _as_path_value(v, fo or t is T_AS4_PATH)
    if t is T_NEXT_HOP or t is T_ORIGINATOR:
        return _ipv4_octets(v)
    if t is T_MED or t is T_LOCAL_PREF or t is T_OTC:
        if _u32(v):
            out = PyBytes_FromStringAndSize(NULL, 4)
            _put32(<uint8_t *>PyBytes_AS_STRING(out), <uint32_t>v)
            return out
        return None
    if t is T_ATOMIC:
        return b""
    if t is T_EXT_COMMS:
        if type(v) is not tuple:
            return None
        n = 0
        for c in <tuple>v:
            if type(c) is not T_EXT_COMM and type(c) is not bytes:
                return None
            n += PyBytes_GET_SIZE(c)
        out = PyBytes_FromStringAndSize(NULL, n)
        o = <uint8_t *>PyBytes_AS_STRING(out)
        q = 0
        for c in <tuple>v:
            memcpy(o + q, PyBytes_AS_STRING(c), PyBytes_GET_SIZE(c))
            q += PyBytes_GET_SIZE(c)
        return out
    if t is T_PMSI:
        if type(v) is not T_PMSI_VALUE:
            return None
        fl, tt, label, tid = v
        if not (_u8(fl) and _u8(tt) and _uint(label, 0xFFFFFF) and type(tid) is bytes):
            return None
        n = PyBytes_GET_SIZE(tid)
        out = PyBytes_FromStringAndSize(NULL, 5 + n)
        o = <uint8_t *>PyBytes_AS_STRING(out)
        o[0] = <int>fl
        o[1] = <int>tt
        o[2] = (<uint32_t>label) >> 16
        o[3] = ((<uint32_t>label) >> 8) & 0xFF
        o[4] = (<uint32_t>label) & 0xFF
        memcpy(o + 5, PyBytes_AS_STRING(tid), n)
        return out
    if t is T_COMMS:
        if type(v) is not tuple and type(v) is not list:
            return None
        for c in v:
            if not _u32(c):
                return None
        n = len(v)
        out = PyBytes_FromStringAndSize(NULL, 4 * n)
        o = <uint8_t *>PyBytes_AS_STRING(out)
        for q in range(n):
            _put32(o + 4 * q, <uint32_t>v[q])
        return out
    return None


def encode_attribute_value(attr, ctx):
    """The value octets (see ``_wire_py.encode_attribute_value``)."""
    value = _value_fast(attr, ctx)
    return value if value is not None else _py_encode_attribute_value(attr, ctx)


def encode_attribute(attr, ctx):
    """Flags, type, length, value (see ``_wire_py.encode_attribute``)."""
    return _encode_attribute(attr, ctx)


cdef bytes _encode_attribute(attr, ctx):
    cdef bytes value = _value_fast(attr, ctx)
    cdef Py_ssize_t n
    cdef int fl, hdr
    cdef uint8_t *o
    if value is None:
        return _py_encode_attribute(attr, ctx)
    flags = attr.flags
    code = attr.code
    n = PyBytes_GET_SIZE(value)
    if not (_u8(flags) and isinstance(code, int) and _uint(int(code), 0xFF) and n <= 0xFFFF):
        return _py_encode_attribute(attr, ctx)
    fl = flags
    if n > 255:
        fl |= 0x10
    hdr = 4 if fl & 0x10 else 3
    cdef bytes out = PyBytes_FromStringAndSize(NULL, hdr + n)
    o = <uint8_t *>PyBytes_AS_STRING(out)
    o[0] = fl
    o[1] = <int>code
    if hdr == 4:
        o[2] = n >> 8
        o[3] = n & 0xFF
    else:
        o[2] = n
    memcpy(o + hdr, PyBytes_AS_STRING(value), n)
    return out


def next_hop_bytes(next_hop):
    """Next hop octets (see ``_wire_py.next_hop_bytes``)."""
    cdef const char *c
    cdef Py_ssize_t n, k
    cdef uint8_t out[16]
    cdef int af
    cdef char ch
    if type(next_hop) is bytes:
        return next_hop
    if type(next_hop) is str and is_ascii(<str>next_hop):
        # one address, nothing to split or strip: inet_pton as the Python twin calls it
        c = PyUnicode_AsUTF8AndSize(next_hop, &n)
        af = _AF_INET_C
        for k in range(n):
            ch = c[k]
            if ch == b':':
                af = _AF_INET6_C
            elif not (b'0' <= ch <= b'9' or b'a' <= ch <= b'f' or b'A' <= ch <= b'F'
                      or ch == b'.'):
                af = -1
                break
        if af != -1 and n and c_inet_pton(af, c, out) == 1:
            return PyBytes_FromStringAndSize(<char *>out, 4 if af == _AF_INET_C else 16)
    return _py_next_hop_bytes(next_hop)


# --- packing UPDATEs --------------------------------------------------------------------

def pack_updates(routes, attributes=(), next_hop=None, ctx=None, bint withdraw=False):
    """Encode ``routes`` (one family) into as few UPDATEs as fit (see
    ``_wire_py.pack_updates``); the attribute set is encoded once and the
    NLRI copied straight into each message."""
    ctx = ctx or DEFAULT_CONTEXT
    # a list is read in place: nothing below runs Python code between
    # reading a route and copying it
    cdef list rl = routes if type(routes) is list else list(routes)
    cdef Py_ssize_t i = 0, j, n = PyList_GET_SIZE(rl), size, sz, k
    if not n:
        return []
    cdef Py_ssize_t limit = ctx.max_message_length
    afi, safi = rl[0].family
    if not (0 <= afi <= 0xFFFF and 0 <= safi <= 0xFF):
        raise ValueParseError(f"AFI/SAFI {afi}/{safi} out of range")
    fam = (afi, safi)
    cdef void *first_type = list_item_type(rl, 0)
    # a packed route's family is its class's: one class needs no family lookups
    cdef bint packed = issubclass(<type>first_type, bytes)
    cdef bint uniform = True
    for k in range(n):
        if list_item_type(rl, k) != first_type:
            uniform = False
            break
    if not (uniform and packed):
        for r in list(rl):
            if r.family != fam:
                raise ValueError("pack_updates takes routes of one family")
    items = attributes.items if isinstance(attributes, _Attributes) else attributes
    attrs = [a for a in items if a.code != 14 and a.code != 15]
    cdef bint classic = fam == FAMILY_IPV4_UNICAST
    if withdraw:
        attrs = []
    elif classic and next_hop is not None and not any(a.code == 3 for a in attrs):
        attrs.append(NextHop(_py.ipv4_next_hop_text(next_hop)))
    cdef bytes attr_bytes = b"".join([_encode_attribute(a, ctx) for a in attrs])
    cdef bytes head
    cdef int code
    cdef Py_ssize_t room
    if classic:
        room = limit - HEADER_LEN - 4 - (0 if withdraw else len(attr_bytes))
        head = b""
        code = 0
    else:
        if withdraw:
            head = bytes([afi >> 8, afi & 0xFF, safi])
            code = 15
        else:
            if next_hop is None:
                raise ValueError("announcing MP routes needs a next hop")
            nh = next_hop_bytes(next_hop)
            head = bytes([afi >> 8, afi & 0xFF, safi, len(nh)]) + nh + b"\x00"
            code = 14
        room = limit - HEADER_LEN - 4 - len(attr_bytes) - 4 - len(head)
    if room <= 0:
        raise ValueError("the attributes leave no room for NLRI in one message")
    cdef list out = []
    # packed routes are bytes already: copy straight from them (checking the
    # class again: the Python code above may have changed a list read in place)
    cdef list enc = rl if uniform and packed else \
        [r if isinstance(r, bytes) else bytes(r) for r in rl]
    cdef bint check = enc is routes
    n = PyList_GET_SIZE(enc)
    while i < n:
        size = 0
        j = i
        while j < n:
            if check and list_item_type(enc, j) != first_type:
                return pack_updates(list(routes), attributes, next_hop, ctx, withdraw)
            sz = list_item_size(enc, j)
            if sz > room:
                raise ValueError("a route does not fit in one message")
            if size + sz > room:
                break
            size += sz
            j += 1
        out.append(_build_update(enc, i, j, size, attr_bytes, head, code, classic, withdraw))
        i = j
    return out


cdef bytes _build_update(list enc, Py_ssize_t i, Py_ssize_t j, Py_ssize_t size,
                         bytes attr_bytes, bytes head, int code, bint classic, bint withdraw):
    # enc[i:j] are bytes (or bytes subclasses) of `size` octets in all
    cdef Py_ssize_t alen = PyBytes_GET_SIZE(attr_bytes), hlen = PyBytes_GET_SIZE(head)
    cdef Py_ssize_t total, body, q, k, sz, mpv
    if classic:
        body = 4 + size + (0 if withdraw else alen)
    else:
        body = 4 + alen + 4 + hlen + size
    total = HEADER_LEN + body
    cdef bytes msg = PyBytes_FromStringAndSize(NULL, total)
    cdef uint8_t *o = <uint8_t *>PyBytes_AS_STRING(msg)
    memcpy(o, PyBytes_AS_STRING(MARKER), 16)
    o[16] = total >> 8
    o[17] = total & 0xFF
    o[18] = 2
    q = HEADER_LEN
    if classic and withdraw:
        o[q] = size >> 8
        o[q + 1] = size & 0xFF
        q += 2
        for k in range(i, j):
            sz = list_item_size(enc, k)
            memcpy(o + q, list_item_data(enc, k), sz)
            q += sz
        o[q] = 0
        o[q + 1] = 0
        return msg
    o[q] = 0
    o[q + 1] = 0
    q += 2
    if classic:
        o[q] = alen >> 8
        o[q + 1] = alen & 0xFF
        q += 2
        memcpy(o + q, PyBytes_AS_STRING(attr_bytes), alen)
        q += alen
    else:
        o[q] = (alen + 4 + hlen + size) >> 8
        o[q + 1] = (alen + 4 + hlen + size) & 0xFF
        q += 2
        memcpy(o + q, PyBytes_AS_STRING(attr_bytes), alen)
        q += alen
        mpv = hlen + size
        o[q] = 0x90
        o[q + 1] = code
        o[q + 2] = mpv >> 8
        o[q + 3] = mpv & 0xFF
        q += 4
        memcpy(o + q, PyBytes_AS_STRING(head), hlen)
        q += hlen
    for k in range(i, j):
        sz = list_item_size(enc, k)
        memcpy(o + q, list_item_data(enc, k), sz)
        q += sz
    return msg


__all__ = list(_py.__all__)


# --- RIB keys of EVPN routes in C ---------------------------------------------------
# The RIB keys routes by their key (RFC 7432 §7: for type 2, RD + Ethernet tag
# + MAC + IP; ESI and labels excluded).  These functions compute the same
# bytes as routes.EvpnRoute.key without Python slicing, and are installed on
# the route classes when this twin is loaded.  The hash is that of the key's
# octets (hash(route) == hash(route.key), as in the Python definitions),
# computed each time: the bytes object's own hash slot cannot cache it, since
# bytes.__new__(cls, data) copies data's cached hash into it.

from .routes import EvpnRoute as _EvpnRoute
from .routes import (EthernetAutoDiscoveryRoute as _T1, InclusiveMulticastRoute as _T3,
                     EthernetSegmentRoute as _T4, IpPrefixRoute as _T5,
                     SelectiveMulticastRoute as _T6, MembershipReportSynchRoute as _T7,
                     LeaveSynchRoute as _T8, RawEvpnRoute as _TR)

cdef extern from *:
    """
    #if PY_VERSION_HEX >= 0x030E0000
    #define bgpevpn_hash_octets Py_HashBuffer
    #else
    /* exported by every CPython 3.x; its declaration moved to the internal
       headers in 3.13 (Py_HashBuffer is the public name from 3.14) */
    PyAPI_FUNC(Py_hash_t) _Py_HashBytes(const void *, Py_ssize_t);
    #define bgpevpn_hash_octets _Py_HashBytes
    #endif

    /* How each route class's key property (routes.py) slices its octets:
       RFC 7432 §7 (types 1-4), RFC 9136 §3.2 (5), RFC 9251 §9 (6-8); the
       other classes key on all octets after the length. */
    enum { BGPEVPN_KEY_WHOLE, BGPEVPN_KEY_T1, BGPEVPN_KEY_T2, BGPEVPN_KEY_T5,
           BGPEVPN_KEY_SMET, BGPEVPN_KEY_LEAVE };
    #define BGPEVPN_KEY_CLASSES 16
    static PyTypeObject *bgpevpn_key_class[BGPEVPN_KEY_CLASSES];
    static int bgpevpn_key_kind[BGPEVPN_KEY_CLASSES];
    static int bgpevpn_key_nclasses = 0;

    /* the layout of o's class, or of the nearest route class it derives from */
    static int bgpevpn_key_layout(PyObject *o) {
        PyTypeObject *t;
        int i;
        for (t = Py_TYPE(o); t != NULL; t = t->tp_base)
            for (i = 0; i < bgpevpn_key_nclasses; i++)
                if (bgpevpn_key_class[i] == t) return bgpevpn_key_kind[i];
        return BGPEVPN_KEY_WHOLE;
    }

    /* r[i:j] appended at out + k, with Python's slice bounds */
    static Py_ssize_t bgpevpn_put(uint8_t *out, Py_ssize_t k, const uint8_t *r, Py_ssize_t n,
                                  Py_ssize_t i, Py_ssize_t j) {
        if (i < 0) { i += n; if (i < 0) i = 0; } else if (i > n) i = n;
        if (j < 0) { j += n; if (j < 0) j = 0; } else if (j > n) j = n;
        if (j > i) { memcpy(out + k, r + i, (size_t)(j - i)); k += j - i; }
        return k;
    }

    /* The key of the route r[0:n] of the given layout written to out (room
       for n octets: a key is never longer than its route), sliced exactly
       as the Python property does for any octets, valid layout or not: -1
       with IndexError where it indexes past the end. */
    static Py_ssize_t bgpevpn_write_key(int kind, const uint8_t *r, Py_ssize_t n, uint8_t *out) {
        Py_ssize_t k = bgpevpn_put(out, 0, r, n, 0, 1);
        switch (kind) {
        case BGPEVPN_KEY_T1:
            return bgpevpn_put(out, k, r, n, 2, 24);
        case BGPEVPN_KEY_T2:
            if (n <= 31) break;
            k = bgpevpn_put(out, k, r, n, 2, 10);
            return bgpevpn_put(out, k, r, n, 20, 32 + (r[31] >> 3));
        case BGPEVPN_KEY_T5:
            if (n <= 1) break;
            k = bgpevpn_put(out, k, r, n, 2, 10);
            return bgpevpn_put(out, k, r, n, 20, 25 + (r[1] == 34 ? 4 : 16));
        case BGPEVPN_KEY_SMET:
            return bgpevpn_put(out, k, r, n, 2, -1);
        case BGPEVPN_KEY_LEAVE:
            return bgpevpn_put(out, k, r, n, 2, -6);
        default:
            return bgpevpn_put(out, k, r, n, 2, n);
        }
        PyErr_SetString(PyExc_IndexError, "index out of range");
        return -1;
    }

    /* Routes from the wire are at most 257 octets; a longer one (built by
       hand) gets its key written to the heap. */
    #define BGPEVPN_KEY_STACK 264

    /* The key of route o in *out: stack (BGPEVPN_KEY_STACK octets) or, for a
       longer route, a PyMem block to give to bgpevpn_key_done (also on
       error).  Its length, or -1 with an exception set. */
    static Py_ssize_t bgpevpn_key_of(PyObject *o, uint8_t *stack, uint8_t **out) {
        Py_ssize_t n = PyBytes_GET_SIZE(o);
        *out = stack;
        if (n > BGPEVPN_KEY_STACK && (*out = (uint8_t *)PyMem_Malloc((size_t)n)) == NULL) {
            *out = stack;
            PyErr_NoMemory();
            return -1;
        }
        return bgpevpn_write_key(bgpevpn_key_layout(o), (const uint8_t *)PyBytes_AS_STRING(o),
                                 n, *out);
    }

    static void bgpevpn_key_done(uint8_t *stack, uint8_t *out) {
        if (out != stack) PyMem_Free(out);
    }

    static PyObject *bgpevpn_route_key(PyObject *o) {
        uint8_t stack[BGPEVPN_KEY_STACK], *out;
        Py_ssize_t n = bgpevpn_key_of(o, stack, &out);
        PyObject *key = n < 0 ? NULL : PyBytes_FromStringAndSize((const char *)out, n);
        bgpevpn_key_done(stack, out);
        return key;
    }

    /* tp_hash and tp_richcompare of the EVPN route classes: the same results as
       their Python __hash__ / __eq__ (routes.py), without the attribute lookup
       and call that a Python-level __hash__ costs on every dict operation. */
    static PyTypeObject *bgpevpn_evpn_base = NULL;

    static Py_hash_t bgpevpn_route_tp_hash(PyObject *o) {
        uint8_t stack[BGPEVPN_KEY_STACK], *out;
        Py_ssize_t n = bgpevpn_key_of(o, stack, &out);
        Py_hash_t h = n < 0 ? -1 : bgpevpn_hash_octets(out, n);   /* never -1 itself */
        bgpevpn_key_done(stack, out);
        return h;
    }

    /* 1 when the keys of routes a and b are equal, 0 when not, -1 on error
       (a's key first, as self.key == other.key; no shortcut for a is b,
       where the Python property may raise too) */
    static int bgpevpn_route_keys_equal(PyObject *a, PyObject *b) {
        uint8_t sa[BGPEVPN_KEY_STACK], sb[BGPEVPN_KEY_STACK], *ka, *kb;
        Py_ssize_t na = bgpevpn_key_of(a, sa, &ka), nb = -1;
        int same = -1;
        if (na >= 0 && (nb = bgpevpn_key_of(b, sb, &kb)) >= 0) {
            same = na == nb && memcmp(ka, kb, (size_t)na) == 0;
            bgpevpn_key_done(sb, kb);
        } else if (na >= 0) {
            bgpevpn_key_done(sb, kb);
        }
        bgpevpn_key_done(sa, ka);
        return same;
    }

    static PyObject *bgpevpn_route_richcompare(PyObject *a, PyObject *b, int op) {
        int same;
        if ((op != Py_EQ && op != Py_NE) || bgpevpn_evpn_base == NULL
                || !PyObject_TypeCheck(a, bgpevpn_evpn_base)
                || !PyObject_TypeCheck(b, bgpevpn_evpn_base))
            Py_RETURN_NOTIMPLEMENTED;
        if ((same = bgpevpn_route_keys_equal(a, b)) < 0) return NULL;
        if (op == Py_NE) same = !same;
        if (same) Py_RETURN_TRUE;
        Py_RETURN_FALSE;
    }

    /* cls keys with layout kind; 0, or -1 when the table is full */
    static int bgpevpn_set_route_slots(PyObject *cls, PyObject *base, int kind) {
        int i;
        for (i = 0; i < bgpevpn_key_nclasses && bgpevpn_key_class[i] != (PyTypeObject *)cls; i++);
        if (i == BGPEVPN_KEY_CLASSES) {
            PyErr_SetString(PyExc_RuntimeError, "too many route classes for the C keys");
            return -1;
        }
        if (i == bgpevpn_key_nclasses) bgpevpn_key_nclasses++;
        bgpevpn_key_class[i] = (PyTypeObject *)cls;
        bgpevpn_key_kind[i] = kind;
        bgpevpn_evpn_base = (PyTypeObject *)base;
        ((PyTypeObject *)cls)->tp_hash = bgpevpn_route_tp_hash;
        ((PyTypeObject *)cls)->tp_richcompare = bgpevpn_route_richcompare;
        PyType_Modified((PyTypeObject *)cls);
        return 0;
    }
    """
    object _route_key "bgpevpn_route_key"(object o)
    Py_hash_t _route_hash "bgpevpn_route_tp_hash"(object o) except? -1
    int _route_keys_equal "bgpevpn_route_keys_equal"(object a, object b) except -1
    int set_route_slots "bgpevpn_set_route_slots"(object cls, object base, int kind) except -1
    enum:
        KEY_WHOLE "BGPEVPN_KEY_WHOLE"
        KEY_T1 "BGPEVPN_KEY_T1"
        KEY_T2 "BGPEVPN_KEY_T2"
        KEY_T5 "BGPEVPN_KEY_T5"
        KEY_SMET "BGPEVPN_KEY_SMET"
        KEY_LEAVE "BGPEVPN_KEY_LEAVE"


def evpn_route_key(self):
    """The RIB key (RFC 7432 §7, RFC 9136 §3.2, RFC 9251 §9) as bytes."""
    return _route_key(<bytes>self)


def evpn_route_hash(self):
    return _route_hash(<bytes>self)


def evpn_route_eq(self, other):
    if not isinstance(other, _EvpnRoute):
        return NotImplemented
    return _route_keys_equal(<bytes>self, <bytes>other) == 1


def evpn_route_ne(self, other):
    r = evpn_route_eq(self, other)
    return r if r is NotImplemented else not r


def install_route_keys():
    """Put the C key, hash and equality on the EVPN route classes (same
    results as their Python definitions, computed without slicing)."""
    for cls, kind in ((_EvpnRoute, KEY_WHOLE), (_T1, KEY_T1), (MacIpRoute, KEY_T2),
                      (_T3, KEY_WHOLE), (_T4, KEY_WHOLE), (_T5, KEY_T5), (_T6, KEY_SMET),
                      (_T7, KEY_SMET), (_T8, KEY_LEAVE), (_TR, KEY_WHOLE)):
        if "key" in cls.__dict__ and "_py_key" not in cls.__dict__:
            cls._py_key = cls.__dict__["key"]   # the reference definition, for the tests
        cls.key = property(evpn_route_key, doc="RIB key (C)")
        cls.__hash__ = evpn_route_hash
        cls.__eq__ = evpn_route_eq
        cls.__ne__ = evpn_route_ne
        # last: assigning a dunder resets the slot to the generic caller
        set_route_slots(cls, _EvpnRoute, kind)


install_route_keys()

_check_fast_objects()
