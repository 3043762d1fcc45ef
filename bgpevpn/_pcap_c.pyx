# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, embedsignature=True
"""The C twin of the record walk of ``bgpevpn.pcap``: ``Walker`` is
``pcap._PyWalker`` and the functions below mirror, one for one, the frame
parsers of ``pcap.py`` (``_after_ethertype``, ``_network_offset``,
``_juniper_ether``, ``_ipv4``, ``_ipv6``, ``_tcp_header``), returning
offsets into the capture buffer instead of slices.

The walk may stop earlier than the Python twin, never later: on a record it
would have to compute differently (a pcapng timestamp whose resolution or
offset does not fit the exact integer arithmetic below) it stops and leaves
the record to the Python code, which reads it with ``_Capture.next_packet``.

Bounds: compiled with ``boundscheck(False)``; every read from the buffer is
preceded by a check against the end of the record or of the frame, exactly as
in ``pcap.py``.  tests/test_pcap_reader.py checks that both twins agree.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject
from cpython.set cimport PySet_Add
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcmp, memcpy, memset

cdef enum:
    MAX_RECORD = 64 << 20   # pcap._MAX_RECORD
    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    ACK = 0x10
    CACHE = 4               # stream states remembered during one walk

cdef uint64_t MAX_UNITS = 1ULL << 53   # exact as a double, so rest / units rounds as Python's
cdef int64_t MAX_SECONDS = 1LL << 61  # |offset| and seconds: their sum fits an int64


cdef inline uint16_t be16(const uint8_t *p) noexcept nogil:
    return (p[0] << 8) | p[1]


cdef inline uint32_t be32(const uint8_t *p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline uint32_t le32(const uint8_t *p) noexcept nogil:
    return (<uint32_t>p[3] << 24) | (<uint32_t>p[2] << 16) | (<uint32_t>p[1] << 8) | p[0]


cdef inline uint32_t rd32(const uint8_t *p, bint big) noexcept nogil:
    return be32(p) if big else le32(p)


cdef struct Tcp:
    int alen              # address length: 4 (IPv4) or 16 (IPv6)
    Py_ssize_t src, dst   # offsets of the source and destination addresses
    uint16_t sport, dport
    uint32_t seq, ack
    int flags
    Py_ssize_t at, to     # the payload: buffer[at:to]
    Py_ssize_t lost       # bytes the IP length claims beyond the captured frame


cdef struct Flow:         # a stream key, compared with memcmp (zero-filled first)
    int alen
    uint8_t src[16]
    uint8_t dst[16]
    uint16_t sport, dport


cdef Py_ssize_t _after_ethertype(const uint8_t *d, unsigned ethertype, Py_ssize_t pos,
                                 Py_ssize_t end) noexcept nogil:
    while (ethertype == 0x8100 or ethertype == 0x88A8 or ethertype == 0x9100
           or ethertype == 0x9200) and pos + 4 <= end:
        ethertype = be16(d + pos + 2)
        pos += 4
    return pos if ethertype == 0x0800 or ethertype == 0x86DD else -1


cdef Py_ssize_t _network_offset(long linktype, const uint8_t *d, Py_ssize_t start,
                                Py_ssize_t end) noexcept nogil:
    cdef Py_ssize_t n = end - start, pos
    cdef uint32_t family
    if linktype == 1 and n >= 14:
        return _after_ethertype(d, be16(d + start + 12), start + 14, end)
    if linktype == 101 or linktype == 228 or linktype == 229:
        return start
    if linktype == 113 and n >= 16:
        return _after_ethertype(d, be16(d + start + 14), start + 16, end)
    if linktype == 276 and n >= 20:
        return _after_ethertype(d, be16(d + start), start + 20, end)
    if (linktype == 0 or linktype == 108) and n >= 4:
        family = le32(d + start)
        if family > 0xFFFF:
            family = be32(d + start)
        if family == 2 or family == 10 or family == 24 or family == 28 or family == 30:
            return start + 4
        return -1
    if (linktype == 9 or linktype == 50) and n >= 4:
        pos = start + 2 if d[start] == 0xFF and d[start + 1] == 0x03 else start
        family = be16(d + pos)
        return pos + 2 if family == 0x0021 or family == 0x0057 else -1
    if linktype == 178 and n >= 4 and d[start] == 77 and d[start + 1] == 71 \
            and d[start + 2] == 67:  # "MGC"
        return _juniper_ether(d, start, end)
    return -1


cdef Py_ssize_t _juniper_ether(const uint8_t *d, Py_ssize_t start, Py_ssize_t end) noexcept nogil:
    cdef uint8_t flags = d[start + 3]
    cdef Py_ssize_t pos = start + 4
    if flags & 0x80:
        if end - start < 6:
            return -1
        pos += 2 + be16(d + start + 4)
    if flags & 0x02:
        return pos + 4
    if pos + 14 > end:
        return -1
    return _after_ethertype(d, be16(d + pos + 12), pos + 14, end)


cdef bint _ipv4(const uint8_t *d, Py_ssize_t pos, Py_ssize_t end, Tcp *t) noexcept nogil:
    cdef Py_ssize_t ihl, total, claimed
    if pos + 20 > end:
        return False
    ihl = (d[pos] & 0x0F) * 4
    total = be16(d + pos + 2)
    if ihl < 20 or d[pos + 9] != 6 or be16(d + pos + 6) & 0x1FFF:
        return False
    claimed = pos + total if total >= ihl else end
    t.alen, t.src, t.dst = 4, pos + 12, pos + 16
    t.at = pos + ihl
    t.to = claimed if claimed < end else end
    t.lost = claimed - t.to
    return True


cdef bint _ipv6(const uint8_t *d, Py_ssize_t pos, Py_ssize_t end, Tcp *t) noexcept nogil:
    cdef Py_ssize_t plen, claimed, stop, p
    cdef uint8_t nxt
    if pos + 40 > end:
        return False
    plen = be16(d + pos + 4)
    nxt = d[pos + 6]
    claimed = pos + 40 + plen if plen else end
    stop = claimed if claimed < end else end
    p = pos + 40
    while nxt != 6:
        if p + 8 > stop:
            return False
        if nxt == 0 or nxt == 43 or nxt == 60:
            nxt, p = d[p], p + (d[p + 1] + 1) * 8
        elif nxt == 44:
            if be16(d + p + 2) >> 3:
                return False
            nxt, p = d[p], p + 8
        elif nxt == 51:
            nxt, p = d[p], p + (d[p + 1] + 2) * 4
        else:
            return False
    t.alen, t.src, t.dst = 16, pos + 8, pos + 24
    t.at, t.to, t.lost = p, stop, claimed - stop
    return True


cdef bint _tcp_header(long linktype, const uint8_t *d, Py_ssize_t start, Py_ssize_t end,
                      Tcp *t) noexcept nogil:
    cdef Py_ssize_t pos = _network_offset(linktype, d, start, end), tcp, stop, header
    cdef uint8_t version
    cdef uint16_t off_flags
    if pos < 0 or pos >= end:
        return False
    version = d[pos] >> 4
    if version == 4:
        if not _ipv4(d, pos, end, t):
            return False
    elif version == 6:
        if not _ipv6(d, pos, end, t):
            return False
    else:
        return False
    tcp, stop = t.at, t.to
    if tcp + 20 > stop:
        return False
    off_flags = be16(d + tcp + 12)
    header = (off_flags >> 12) * 4
    if header < 20 or tcp + header > stop:
        return False
    t.sport, t.dport = be16(d + tcp), be16(d + tcp + 2)
    t.seq, t.ack = be32(d + tcp + 4), be32(d + tcp + 8)
    t.flags = off_flags & 0x3F
    t.at = tcp + header
    return True


cdef inline void _flow(Flow *f, const uint8_t *d, const Tcp *t, bint reverse) noexcept nogil:
    memset(f, 0, sizeof(Flow))
    f.alen = t.alen
    if reverse:
        memcpy(f.src, d + t.dst, t.alen)
        memcpy(f.dst, d + t.src, t.alen)
        f.sport, f.dport = t.dport, t.sport
    else:
        memcpy(f.src, d + t.src, t.alen)
        memcpy(f.dst, d + t.dst, t.alen)
        f.sport, f.dport = t.sport, t.dport


cdef void *_grow(void *p, size_t size) except NULL:
    cdef void *q = realloc(p, size)
    if q == NULL:
        raise MemoryError()
    return q


cdef tuple _key(const Flow *f):
    """The stream key of ``pcap``: (src address, sport, dst address, dport)."""
    return (PyBytes_FromStringAndSize(<const char *>f.src, f.alen), f.sport,
            PyBytes_FromStringAndSize(<const char *>f.dst, f.alen), f.dport)


cdef long long _expected(dict expect, object key) except -3:
    """``expect.get(key)``: -2 when absent, else the value (-1 or a sequence number)."""
    cdef PyObject *v = PyDict_GetItem(expect, key)
    if v is NULL:
        return -2
    return <long long>(<object>v)


cdef class Walker:
    """See ``bgpevpn.pcap._PyWalker``: the same ``walk``, in C."""

    IMPLEMENTATION = "c"

    cdef uint8_t ports[65536]
    cdef readonly Py_ssize_t max_run
    cdef object fmt                 # the format tuple the fields below were read from
    cdef int kind
    cdef bint big
    cdef uint64_t units
    cdef long linktype
    cdef Py_ssize_t n_ifaces
    cdef long *if_linktype
    cdef uint64_t *if_units
    cdef int64_t *if_offset
    cdef uint8_t *if_ok
    # stream states looked up in ``expect`` during one walk
    cdef Flow cache_flow[CACHE]
    cdef long long cache_state[CACHE]
    cdef int cache_used, cache_next

    def __cinit__(self, ports, Py_ssize_t max_run=1 << 20):
        cdef long p
        self.max_run = max_run
        memset(self.ports, 0, sizeof(self.ports))
        ports = frozenset(ports)
        if all(type(x) is int or type(x) is bool for x in ports):
            for x in ports:
                if 0 <= x <= 0xFFFF:
                    self.ports[<long>x] = 1
        else:  # whatever compares equal to a port number
            for p in range(0x10000):
                self.ports[p] = p in ports
        self.fmt = None
        self.n_ifaces = 0
        self.if_linktype = NULL
        self.if_units = NULL
        self.if_offset = NULL
        self.if_ok = NULL

    def __dealloc__(self):
        free(self.if_linktype)
        free(self.if_units)
        free(self.if_offset)
        free(self.if_ok)

    cdef int _read_fmt(self, tuple fmt) except -1:
        cdef Py_ssize_t i, n
        self.kind = fmt[0]
        self.big = fmt[1]
        if self.kind == 0:
            self.units = fmt[2]
            self.linktype = fmt[3]
        else:
            interfaces = fmt[2]
            n = len(interfaces)
            if n > self.n_ifaces or self.if_ok == NULL:
                self.n_ifaces = 0  # until all four arrays are the new size
                self.if_linktype = <long *>_grow(self.if_linktype, (n + 1) * sizeof(long))
                self.if_units = <uint64_t *>_grow(self.if_units, (n + 1) * sizeof(uint64_t))
                self.if_offset = <int64_t *>_grow(self.if_offset, (n + 1) * sizeof(int64_t))
                self.if_ok = <uint8_t *>_grow(self.if_ok, (n + 1) * sizeof(uint8_t))
            for i in range(n):
                linktype, _snaplen, units, ts_offset = interfaces[i]
                self.if_ok[i] = 1 <= units <= MAX_UNITS and -MAX_SECONDS <= ts_offset <= MAX_SECONDS
                self.if_linktype[i] = linktype
                self.if_units[i] = units if self.if_ok[i] else 1
                self.if_offset[i] = ts_offset if self.if_ok[i] else 0
            self.n_ifaces = n
        self.fmt = fmt
        return 0

    cdef long long _state(self, dict expect, const Flow *f) except -3:
        """``_expected`` of the stream ``f``, remembered for the rest of the walk."""
        cdef int i
        for i in range(self.cache_used):
            if memcmp(&self.cache_flow[i], f, sizeof(Flow)) == 0:
                return self.cache_state[i]
        state = _expected(expect, _key(f))
        i = self.cache_next
        self.cache_next = (i + 1) % CACHE
        if self.cache_used < CACHE:
            self.cache_used += 1
        self.cache_flow[i] = f[0]
        self.cache_state[i] = state
        return state

    def walk(self, bytes buf not None, Py_ssize_t pos, long long frame, double last_time,
             tuple fmt not None, dict expect not None, set seen_ports):
        cdef const uint8_t *d = <const uint8_t *>PyBytes_AS_STRING(buf)
        cdef Py_ssize_t end = PyBytes_GET_SIZE(buf), start, stop, nxt, length, total = 0
        cdef Py_ssize_t npieces = 0, cap_pieces = 0, i, w
        cdef Py_ssize_t *pieces = NULL    # (start, length) pairs of the run's payloads
        cdef Py_ssize_t *grown
        cdef uint32_t sec, frac, caplen, iface, seq_next = 0
        cdef uint64_t ticks, units, seconds
        cdef long linktype
        cdef long long state
        cdef double time
        cdef Tcp t
        cdef Flow f, run_flow
        cdef bint in_run = False
        cdef long last_sport = -1, last_dport = -1
        cdef char *out
        key = None
        ends, times, frames = [], [], []
        if fmt is not self.fmt:
            self._read_fmt(fmt)
        self.cache_used = self.cache_next = 0
        if pos < 0 or pos > end:
            raise ValueError("position outside the buffer")
        try:
            while True:
                if self.kind == 0:
                    if end - pos < 16:
                        break
                    sec = rd32(d + pos, self.big)
                    frac = rd32(d + pos + 4, self.big)
                    caplen = rd32(d + pos + 8, self.big)
                    if caplen > MAX_RECORD or end - pos - 16 < caplen:
                        break
                    start = pos + 16
                    stop = nxt = start + caplen
                    time = <double>sec + <double>frac / <double>self.units
                    linktype = self.linktype
                else:  # an Enhanced Packet Block of the current section
                    if end - pos < 32:
                        break
                    length = rd32(d + pos + 4, self.big)
                    if (rd32(d + pos, self.big) != 6 or length < 32 or length % 4
                            or length > MAX_RECORD or end - pos < length):
                        break
                    iface = rd32(d + pos + 8, self.big)
                    if iface >= self.n_ifaces or not self.if_ok[iface]:
                        break
                    caplen = rd32(d + pos + 20, self.big)
                    if (rd32(d + pos + length - 4, self.big) != <uint32_t>length
                            or 28 + <uint64_t>caplen > <uint64_t>(length - 4)):
                        break
                    ticks = (<uint64_t>rd32(d + pos + 12, self.big) << 32) \
                        | rd32(d + pos + 16, self.big)
                    units = self.if_units[iface]
                    seconds = ticks // units
                    if seconds > <uint64_t>MAX_SECONDS:
                        break  # left to the Python code's integers
                    time = <double>(self.if_offset[iface] + <int64_t>seconds) \
                        + <double>(ticks % units) / <double>units
                    linktype = self.if_linktype[iface]
                    start = pos + 28
                    stop, nxt = start + caplen, pos + length
                if _tcp_header(linktype, d, start, stop, &t):
                    if seen_ports is not None and (t.sport != last_sport or t.dport != last_dport):
                        PySet_Add(seen_ports, t.sport)
                        PySet_Add(seen_ports, t.dport)
                        last_sport, last_dport = t.sport, t.dport
                    if self.ports[t.sport] or self.ports[t.dport]:
                        if t.flags & (SYN | FIN | RST) or t.lost:
                            break
                        if t.flags & ACK:
                            _flow(&f, d, &t, True)
                            if self._state(expect, &f) == -1:
                                break
                        if t.to > t.at:
                            _flow(&f, d, &t, False)
                            if not in_run:
                                state = self._state(expect, &f)
                                if state != t.seq:
                                    break
                                in_run, run_flow = True, f
                                key = _key(&f)
                            elif t.seq != seq_next or memcmp(&f, &run_flow, sizeof(Flow)) != 0:
                                break
                            if npieces == cap_pieces:
                                cap_pieces = cap_pieces * 2 + 64
                                grown = <Py_ssize_t *>realloc(pieces,
                                                              2 * cap_pieces * sizeof(Py_ssize_t))
                                if grown == NULL:
                                    raise MemoryError()
                                pieces = grown
                            pieces[2 * npieces] = t.at
                            pieces[2 * npieces + 1] = t.to - t.at
                            npieces += 1
                            total += t.to - t.at
                            seq_next = t.seq + <uint32_t>(t.to - t.at)
                            ends.append(total)
                            times.append(time)
                            frames.append(frame + 1)
                frame += 1
                last_time = time
                pos = nxt
                if total >= self.max_run:
                    break
            data = None
            if in_run:
                data = PyBytes_FromStringAndSize(NULL, total)
                out = PyBytes_AS_STRING(data)
                w = 0
                for i in range(npieces):
                    memcpy(out + w, d + pieces[2 * i], pieces[2 * i + 1])
                    w += pieces[2 * i + 1]
        finally:
            free(pieces)
        return pos, frame, last_time, key, data, ends, times, frames
