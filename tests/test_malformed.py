"""Malformed input, for both codec twins (fixture ``codec``).

The contract (DESIGN.md, "Rules of the codec"): every input to
``decode_messages`` / ``decode_message`` / ``MessageReader.feed`` either
decodes or raises ``bgpevpn.BGPError`` carrying the NOTIFICATION code and
subcode and the RFC 7606 action; never IndexError, struct.error or anything
else.  What decodes re-encodes to the same octets.

The hand-made cases below are written octet by octet from the RFC layouts
(helpers only add the 19-octet header of RFC 4271 §4.1).
"""
from __future__ import annotations

import glob
import json
import os
import struct

import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

import bgpevpn
from bgpevpn import BGPError, Context, ErrorAction

import strategies as S

TAW = ErrorAction.TREAT_AS_WITHDRAW
DISCARD = ErrorAction.ATTRIBUTE_DISCARD
AFI_SAFI_DISABLE = ErrorAction.AFI_SAFI_DISABLE
RESET = ErrorAction.SESSION_RESET

MARKER = b"\xff" * 16
PCAP_DIR = "/work/shared/pcaps"


def msg(mtype: int, body: bytes) -> bytes:
    """RFC 4271 §4.1 header (marker, length, type) + body."""
    return MARKER + struct.pack("!HB", 19 + len(body), mtype) + body


def update(withdrawn: bytes = b"", attrs: bytes = b"", nlri: bytes = b"") -> bytes:
    """RFC 4271 §4.3 UPDATE from its three fields."""
    return msg(2, struct.pack("!H", len(withdrawn)) + withdrawn
               + struct.pack("!H", len(attrs)) + attrs + nlri)


def attr(flags: int, code: int, value: bytes) -> bytes:
    if flags & 0x10:
        return bytes([flags, code]) + struct.pack("!H", len(value)) + value
    return bytes([flags, code, len(value)]) + value


ORIGIN_IGP = bytes.fromhex("40 01 01 00")
AS_PATH_65000 = bytes.fromhex("40 02 06 02 01 00 00 fd e8")      # 4-octet AS: SEQ [65000]
AS_PATH_EMPTY = bytes.fromhex("40 02 00")
NEXT_HOP = bytes.fromhex("40 03 04 c0 00 02 01")                 # 192.0.2.1
NLRI_10_0_0 = bytes.fromhex("18 0a 00 00")                       # 10.0.0.0/24


# ---------------------------------------------------------------------------- the contract

def _check_error(e: BGPError, data: bytes):
    assert isinstance(e, BGPError)
    assert 1 <= e.code <= 7, e
    assert isinstance(e.action, ErrorAction)
    if e.code != 3:
        assert e.action == RESET, e  # RFC 4271 §6: only UPDATE errors are softened (RFC 7606)
    json.dumps(e.to_dict())
    str(e)
    upd = getattr(e, "update", None)
    if upd is not None:
        json.dumps(upd.to_dict())
        assert e.action < RESET


def _check_decoded(codec, m, data: bytes, ctx):
    assert codec.encode_message(m, ctx) == data
    d = m.to_dict()
    assert d["length"] == len(data)
    json.dumps(d)
    repr(m)


def decode_all_ways(codec, data: bytes, ctx=None):
    """Run the three entry points; only BGPError may come out.  Returns the
    outcome of decode_messages: a list of messages or the BGPError."""
    ctx = ctx or Context()
    # decode_message: exactly one message
    try:
        m = codec.decode_message(data, ctx)
    except BGPError as e:
        _check_error(e, data)
    else:
        _check_decoded(codec, m, data, ctx)
    # decode_messages: a buffer of whole messages
    try:
        out = codec.decode_messages(data, ctx)
    except BGPError as e:
        _check_error(e, data)
        if e.offset is not None:
            assert 0 <= e.offset <= len(data)
        result = e
    else:
        assert b"".join(codec.encode_message(m, ctx) for m in out) == data
        for m in out:
            json.dumps(m.to_dict())
        result = out
    # MessageReader: the stream in two pieces; after an error in a framed
    # message, the reader goes on with the next one (a treat-as-withdraw
    # UPDATE does not end the session)
    reader = codec.MessageReader(ctx)
    got = []
    for piece in (data[:len(data) // 2], data[len(data) // 2:]):
        it = reader.feed(piece)
        while True:
            try:
                got.append(next(it))
            except StopIteration:
                break
            except BGPError as e:
                _check_error(e, data)
                if e.code == 1:  # a broken header: the stream cannot be framed further
                    return result
                it = reader.feed(b"")
    return result


# ---------------------------------------------------------------------------- random octets

@given(st.binary(max_size=300))
def test_random_octets(codec, data):
    decode_all_ways(codec, data)


framed = st.builds(
    lambda t, body: msg(t, body),
    st.one_of(st.sampled_from([1, 2, 3, 4, 5]), st.integers(0, 255)),
    st.binary(max_size=400))


@given(framed, S.contexts)
def test_random_bodies_with_valid_header(codec, data, ctx):
    decode_all_ways(codec, data, ctx)


@given(S.contexts, st.binary(max_size=200), st.binary(max_size=200))
def test_random_update_sections(codec, ctx, attrs, tail):
    """A valid UPDATE frame with random attribute octets and NLRI."""
    decode_all_ways(codec, update(b"", attrs, tail), ctx)


@st.composite
def random_attribute_lists(draw):
    """Attributes with valid TLV framing, random codes, flags and values."""
    out = b""
    for _ in range(draw(st.integers(0, 5))):
        code = draw(st.one_of(st.sampled_from(sorted(S.KNOWN_ATTRIBUTE_CODES)), S.u8))
        flags = draw(st.one_of(st.just(bgpevpn.constants.ATTR_DEFAULT_FLAGS.get(code, 0xC0)),
                               S.u8)) & 0xF0
        value = draw(st.binary(max_size=60))
        if code == 14 and draw(st.booleans()):  # MP_REACH with a plausible head
            fam = draw(st.sampled_from([(1, 1), (2, 1), (25, 70), (1, 128)]))
            nh = draw(st.sampled_from([4, 16, 32, 5, 0]))
            value = struct.pack("!HBB", fam[0], fam[1], nh) + draw(
                st.binary(min_size=nh, max_size=nh)) + b"\x00" + value
        if code == 15 and draw(st.booleans()):
            fam = draw(st.sampled_from([(1, 1), (2, 1), (25, 70), (1, 128)]))
            value = struct.pack("!HB", *fam) + value
        out += attr(flags, code, value)
    return out


@given(S.contexts, random_attribute_lists(), st.binary(max_size=30))
def test_random_attribute_values(codec, ctx, attrs, nlri):
    decode_all_ways(codec, update(b"", attrs, nlri), ctx)


@given(S.contexts, st.binary(max_size=120))
def test_random_evpn_nlri(codec, ctx, nlri):
    """MP_REACH of L2VPN/EVPN with random NLRI octets (RFC 7432 §7 layout checks)."""
    value = bytes.fromhex("0019 46 04 cb007101 00") + nlri
    data = update(b"", ORIGIN_IGP + AS_PATH_EMPTY + attr(0x90, 14, value))
    decode_all_ways(codec, data, ctx)
    decode_all_ways(codec, update(b"", attr(0x90, 15, bytes.fromhex("0019 46") + nlri)), ctx)


@st.composite
def evpn_route_mutants(draw):
    """A valid EVPN route with one of its inner octets changed."""
    r = bytearray(bytes(draw(S.evpn_routes)))
    i = draw(st.integers(0, len(r) - 1))
    r[i] = draw(S.u8)
    return bytes(r)


@given(S.contexts, evpn_route_mutants())
def test_mutated_evpn_route(codec, ctx, route):
    value = bytes.fromhex("0019 46 04 cb007101 00") + route
    decode_all_ways(codec, update(b"", ORIGIN_IGP + AS_PATH_EMPTY + attr(0x90, 14, value)), ctx)


@given(S.contexts, st.binary(max_size=120), st.binary(max_size=40))
def test_random_open_parameters(codec, ctx, params, caps):
    head = bytes.fromhex("04 fde8 00b4 c0000201")
    decode_all_ways(codec, msg(1, head + bytes([len(params) & 0xFF]) + params), ctx)
    p = bytes([2, len(caps)]) + caps
    decode_all_ways(codec, msg(1, head + bytes([len(p)]) + p), ctx)
    # RFC 9072 §2 layout
    decode_all_ways(codec, msg(1, head + b"\xff\xff" + struct.pack("!H", len(params)) + params),
                    ctx)


# ---------------------------------------------------------------------------- mutations

def length_fields(wire: bytes, ctx: Context) -> list:
    """(offset, size) of every length field this test can locate in a
    well-formed message, read independently of the codec (RFC 4271 §4,
    RFC 4760 §3-4, RFC 7432 §7, RFC 5492 §4, RFC 9072 §2, RFC 7311 §3)."""
    out = [(16, 2)]
    mtype = wire[18]
    if mtype == 1:
        pos = 28
        ext = wire[28] == 255 and len(wire) > 29 and wire[29] == 255
        if ext:
            out.append((30, 2))
            pos = 32
        else:
            out.append((28, 1))
            pos = 29
        while pos < len(wire):
            ptype = wire[pos]
            plen = struct.unpack_from("!H", wire, pos + 1)[0] if ext else wire[pos + 1]
            out.append((pos + 1, 2 if ext else 1))
            vstart = pos + (3 if ext else 2)
            if ptype == 2:
                c = vstart
                while c < vstart + plen:
                    out.append((c + 1, 1))
                    if wire[c] == 73 and wire[c + 1] >= 1:  # FQDN: hostname length
                        out.append((c + 2, 1))
                    c += 2 + wire[c + 1]
            pos = vstart + plen
    elif mtype == 2:
        wlen = struct.unpack_from("!H", wire, 19)[0]
        out.append((19, 2))
        out += _prefix_fields(wire, 21, 21 + wlen, (1, 1) in ctx.add_path)
        apos = 21 + wlen
        alen = struct.unpack_from("!H", wire, apos)[0]
        out.append((apos, 2))
        pos, end = apos + 2, apos + 2 + alen
        while pos < end:
            flags, code = wire[pos], wire[pos + 1]
            if flags & 0x10:
                n, vstart = struct.unpack_from("!H", wire, pos + 2)[0], pos + 4
                out.append((pos + 2, 2))
            else:
                n, vstart = wire[pos + 2], pos + 3
                out.append((pos + 2, 1))
            vend = vstart + n
            if code in (2, 17):  # AS_PATH segment counts
                size = 4 if (code == 17 or ctx.four_octet_as) else 2
                p = vstart
                while p < vend:
                    out.append((p + 1, 1))
                    p += 2 + wire[p + 1] * size
            elif code == 26:  # AIGP TLV lengths
                p = vstart
                while p + 3 <= vend:
                    out.append((p + 1, 2))
                    p += max(3, struct.unpack_from("!H", wire, p + 1)[0])
            elif code == 14:
                afi, safi, nhl = struct.unpack_from("!HBB", wire, vstart)
                out.append((vstart + 3, 1))
                out += _nlri_fields(wire, vstart + 5 + nhl, vend, (afi, safi), ctx)
            elif code == 15:
                afi, safi = struct.unpack_from("!HB", wire, vstart)
                out += _nlri_fields(wire, vstart + 3, vend, (afi, safi), ctx)
            pos = vend
        out += _prefix_fields(wire, end, len(wire), (1, 1) in ctx.add_path)
    return out


def _prefix_fields(wire, pos, end, add_path):
    out = []
    while pos < end:
        if add_path:
            pos += 4
        out.append((pos, 1))
        pos += 1 + (wire[pos] + 7) // 8
    return out


def _nlri_fields(wire, pos, end, family, ctx):
    if family in ((1, 1), (2, 1)):
        return _prefix_fields(wire, pos, end, family in ctx.add_path)
    if family != (25, 70):
        return []
    out = []
    ap = family in ctx.add_path
    while pos < end:
        if ap:
            pos += 4
        rtype, rlen = wire[pos], wire[pos + 1]
        out.append((pos + 1, 1))
        b = pos + 2  # body
        if rtype == 2:
            out += [(b + 22, 1), (b + 29, 1)]  # MAC length, IP length (RFC 7432 §7.2)
        elif rtype == 3:
            out.append((b + 12, 1))  # originating router's IP length (§7.3)
        elif rtype == 4:
            out.append((b + 18, 1))  # §7.4
        elif rtype == 5:
            out.append((b + 22, 1))  # IP prefix length (RFC 9136 §3.1)
        elif rtype in (6, 7, 8):  # RFC 9251 §9: source, group, originator lengths
            p = b + (12 if rtype == 6 else 22)
            for _ in range(3):
                out.append((p, 1))
                p += 1 + wire[p] // 8
        pos += 2 + rlen
    return out


def _edits(value: int, size: int):
    top = (1 << (8 * size)) - 1
    return sorted({0, 1, max(value - 1, 0), min(value + 1, top), top, value ^ 0x80,
                   min(value + 8, top)} - {value})


@given(S.contexts_and_messages())
def test_every_length_field_edit(codec, ctx_msg):
    """Each length field located in a valid message, set to 0, 1, +-1, +8,
    max, and with its top bit flipped: decode or BGPError."""
    ctx, m = ctx_msg
    wire = S.encodable(codec, m, ctx)
    assume(wire is not None)
    fields = length_fields(wire, ctx)
    note(f"wire={wire.hex()} fields={fields}")
    for off, size in fields:
        value = int.from_bytes(wire[off:off + size], "big")
        for new in _edits(value, size):
            mutated = wire[:off] + new.to_bytes(size, "big") + wire[off + size:]
            decode_all_ways(codec, mutated, ctx)
            # and with the message re-framed so only the inner length is wrong
            if off >= 19 and new > value:
                grown = mutated + b"\x00" * (new - value)
                if len(grown) <= 0xFFFF:
                    grown = grown[:16] + struct.pack("!H", len(grown)) + grown[18:]
                    decode_all_ways(codec, grown, ctx)


@given(S.contexts_and_messages(), st.data())
def test_mutated_valid_messages(codec, ctx_msg, data):
    ctx, m = ctx_msg
    wire = S.encodable(codec, m, ctx)
    assume(wire is not None)
    kind = data.draw(st.sampled_from(["flip", "byte", "truncate", "truncate-reframed",
                                      "extend-reframed", "delete", "context"]))
    b = bytearray(wire)
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(b) - 1))
            b[i] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "byte":
        i = data.draw(st.integers(16, len(b) - 1))
        b[i] = data.draw(S.u8)
    elif kind == "truncate":
        b = b[:data.draw(st.integers(0, len(b) - 1))]
    elif kind == "truncate-reframed":
        b = b[:data.draw(st.integers(19, len(b)))]
        b[16:18] = struct.pack("!H", len(b))
    elif kind == "extend-reframed":
        b += data.draw(st.binary(min_size=1, max_size=40))
        b[16:18] = struct.pack("!H", min(len(b), 0xFFFF))
    elif kind == "delete":
        i = data.draw(st.integers(19, max(19, len(b) - 1)))
        del b[i:i + data.draw(st.integers(1, 8))]
        b[16:18] = struct.pack("!H", len(b))
    elif kind == "context":  # right octets, wrong negotiated context (RFC 6793, RFC 7911)
        ctx = data.draw(S.contexts)
    note(f"kind={kind} mutated={bytes(b).hex()}")
    decode_all_ways(codec, bytes(b), ctx)


@given(S.contexts.flatmap(lambda c: st.tuples(st.just(c), st.lists(S.messages(c), min_size=1,
                                                                    max_size=4))), st.data())
def test_mutated_stream(codec, ctx_msgs, data):
    """Several messages back to back with one octet changed somewhere."""
    ctx, msgs = ctx_msgs
    wires = [w for w in (S.encodable(codec, m, ctx) for m in msgs) if w is not None]
    assume(wires)
    b = bytearray(b"".join(wires))
    i = data.draw(st.integers(0, len(b) - 1))
    b[i] = data.draw(S.u8)
    decode_all_ways(codec, bytes(b), ctx)


# ---------------------------------------------------------------------------- hand-made cases

def csa(e: BGPError) -> tuple:
    """(code, subcode, action) of an error."""
    return (e.code, e.subcode, e.action)


def raises(codec, data, ctx=None) -> BGPError:
    with pytest.raises(BGPError) as ei:
        codec.decode_message(data, ctx or Context())
    e = ei.value
    _check_error(e, data)
    # the same error through the other entry points
    with pytest.raises(BGPError) as ei2:
        codec.decode_messages(data, ctx or Context())
    assert csa(ei2.value) == csa(e)
    return e


def test_bad_marker(codec):
    """RFC 4271 §6.1: marker not all ones -> 1/1 Connection Not Synchronized."""
    data = bytes.fromhex("ff" * 15 + "fe" + "0013 04")
    e = raises(codec, data)
    assert csa(e) == (1, 1, RESET)


@pytest.mark.parametrize("length", [0, 1, 18])
def test_length_below_19(codec, length):
    """RFC 4271 §6.1: Length < 19 -> 1/2 Bad Message Length, Data = the length field."""
    data = MARKER + struct.pack("!HB", length, 4)
    e = raises(codec, data)
    assert csa(e) == (1, 2, RESET)
    assert e.data == struct.pack("!H", length)


def test_length_above_4096(codec):
    """RFC 4271 §6.1 / RFC 8654 §4: > 4096 without extended message -> 1/2;
    accepted once extended message is negotiated (up to 65535)."""
    unknown = attr(0xD0, 99, b"\x00" * (4097 - 19 - 4 - 4))
    data = msg(2, struct.pack("!H", 0) + struct.pack("!H", len(unknown)) + unknown)
    assert len(data) == 4097 and data[16:18] == b"\x10\x01"
    e = raises(codec, data, Context())
    assert csa(e) == (1, 2, RESET)
    assert e.data == b"\x10\x01"
    m = codec.decode_message(data, Context(extended_message=True))
    assert m.length == 4097
    big = attr(0xD0, 99, b"\x01" * (65535 - 19 - 4 - 4))
    data = msg(2, struct.pack("!H", 0) + struct.pack("!H", len(big)) + big)
    assert len(data) == 65535
    assert codec.decode_message(data, Context(extended_message=True)).length == 65535
    assert csa(raises(codec, data)) == (1, 2, RESET)


@pytest.mark.parametrize("mtype,length", [(4, 20), (4, 18), (1, 28), (2, 22), (3, 20), (5, 22)])
def test_below_minimum_per_type(codec, mtype, length):
    """RFC 4271 §6.1: KEEPALIVE must be 19; OPEN >= 29, UPDATE >= 23,
    NOTIFICATION >= 21; RFC 2918 §3 ROUTE-REFRESH = 23 -> 1/2."""
    data = MARKER + struct.pack("!HB", length, mtype) + b"\x00" * max(0, length - 19)
    e = raises(codec, data)
    assert csa(e) == (1, 2, RESET)
    assert e.data == struct.pack("!H", length)


def test_truncated_stream(codec):
    """A whole KEEPALIVE and 10 octets of the next message: decode_messages
    reports the truncation; MessageReader waits for more."""
    ka = MARKER + bytes.fromhex("0013 04")
    data = ka + ka[:10]
    with pytest.raises(BGPError) as ei:
        codec.decode_messages(data)
    assert ei.value.code == 1 and ei.value.offset == 19
    r = codec.MessageReader()
    assert [m.type for m in r.feed(data)] == ["KEEPALIVE"]
    assert r.pending == 10
    assert [m.type for m in r.feed(ka[10:])] == ["KEEPALIVE"]


def test_withdrawn_length_overrun(codec):
    """RFC 4271 §6.3 (Withdrawn Routes Length + Total Attribute Length + 23 >
    Length) -> 3/1 Malformed Attribute List; RFC 7606 keeps session reset."""
    data = msg(2, bytes.fromhex("0005 0000"))
    e = raises(codec, data)
    assert csa(e) == (3, 1, RESET)


def test_total_attribute_length_overrun(codec):
    data = msg(2, bytes.fromhex("0000 0010") + ORIGIN_IGP)
    e = raises(codec, data)
    assert csa(e) == (3, 1, RESET)


def test_attribute_overruns_attribute_list(codec):
    """RFC 7606 §4: the last attribute's length runs past the Total Attribute
    Length -> malformed attribute list handled as treat-as-withdraw, the
    NLRI found from the Total Attribute Length (and so held in err.update)."""
    attrs = ORIGIN_IGP + AS_PATH_EMPTY + NEXT_HOP + bytes.fromhex("c0 08 08 fd e8 00 64")
    data = update(b"", attrs, NLRI_10_0_0)  # COMMUNITIES says 8 octets, 4 are there
    e = raises(codec, data)
    assert (e.code, e.subcode) == (3, 1)
    assert e.action == TAW
    assert e.update is not None
    assert [r.prefix for r in e.update.announced] == ["10.0.0.0/24"]


def test_attribute_header_truncated(codec):
    """RFC 7606 §4 second case: fewer than 3 octets left for an attribute -> treat-as-withdraw."""
    attrs = ORIGIN_IGP + AS_PATH_EMPTY + NEXT_HOP + bytes.fromhex("c0 08")
    data = update(b"", attrs, NLRI_10_0_0)
    e = raises(codec, data)
    assert (e.code, e.subcode, e.action) == (3, 1, TAW)
    assert e.update is not None and [r.prefix for r in e.update.nlri] == ["10.0.0.0/24"]


def test_origin_value_3(codec):
    """RFC 7606 §7.1: undefined ORIGIN value -> 3/6, treat-as-withdraw; the
    rest of the UPDATE is in err.update so the routes can be withdrawn."""
    attrs = bytes.fromhex("40 01 01 03") + AS_PATH_65000 + NEXT_HOP
    data = update(b"", attrs, NLRI_10_0_0)
    e = raises(codec, data)
    assert csa(e) == (3, 6, TAW)
    assert e.data == b"\x03" or e.data.endswith(b"\x03")
    assert e.update is not None
    assert [r.prefix for r in e.update.announced] == ["10.0.0.0/24"]
    assert 1 not in e.update.attributes and 2 in e.update.attributes
    assert [code for code, _ in e.update.malformed] == [1]
    assert e.offset == 0


@pytest.mark.parametrize("segments", [
    "05 01 0000fde8",          # segment type 5 (RFC 4271 §4.3 defines 1-4, RFC 5065 3-4)
    "02 00",                   # zero-length segment (RFC 7606 §7.2)
    "02 02 0000fde8",          # count overruns the attribute
    "02",                      # truncated segment header
])
def test_bad_as_path(codec, segments):
    """RFC 7606 §7.2: malformed AS_PATH -> 3/11 Malformed AS_PATH, treat-as-withdraw."""
    attrs = ORIGIN_IGP + attr(0x40, 2, bytes.fromhex(segments)) + NEXT_HOP
    e = raises(codec, update(b"", attrs, NLRI_10_0_0))
    assert csa(e) == (3, 11, TAW)
    assert [r.prefix for r in e.update.announced] == ["10.0.0.0/24"]


def test_as_path_two_octet_context(codec):
    """RFC 6793 §4: a 4-octet AS_PATH read with 2-octet AS numbers mis-frames: malformed."""
    attrs = ORIGIN_IGP + attr(0x40, 2, bytes.fromhex("02 01 0000fde8")) + NEXT_HOP
    e = raises(codec, update(b"", attrs, NLRI_10_0_0), Context(four_octet_as=False))
    assert csa(e) == (3, 11, TAW)


@pytest.mark.parametrize("value,ctx", [
    ("0000fde8 c0000201 00", Context()),      # 9 octets with 4-octet AS (8 expected)
    ("fde8 c0000201", Context()),             # 6 octets with 4-octet AS
    ("0000fde8 c0000201", Context(four_octet_as=False)),  # 8 with 2-octet AS (6 expected)
])
def test_aggregator_wrong_length(codec, value, ctx):
    """RFC 7606 §7.7: AGGREGATOR of the wrong length -> attribute discard (3/5)."""
    attrs = ORIGIN_IGP + attr(0x40, 2, b"") + NEXT_HOP + attr(0xC0, 7, bytes.fromhex(value))
    e = raises(codec, update(b"", attrs, NLRI_10_0_0), ctx)
    assert csa(e) == (3, 5, DISCARD)
    assert 7 not in e.update.attributes
    assert [r.prefix for r in e.update.announced] == ["10.0.0.0/24"]


@pytest.mark.parametrize("code,flags,value,action,section", [
    (3, 0x40, "c0000201 00", TAW, "7.3"),       # NEXT_HOP of 5 octets
    (4, 0x80, "000000", TAW, "7.4"),            # MED of 3
    (6, 0x40, "00", DISCARD, "7.6"),           # ATOMIC_AGGREGATE of 1
    (8, 0xC0, "fde800", TAW, "7.8"),            # COMMUNITIES of 3
    (8, 0xC0, "", TAW, "7.8"),                  # COMMUNITIES of 0
    (9, 0x80, "c00002", TAW, "7.9"),            # ORIGINATOR_ID of 3
    (10, 0x80, "c0000201 00", TAW, "7.10"),     # CLUSTER_LIST of 5
    (16, 0xC0, "00020000fde800", TAW, "7.14"),  # EXTENDED_COMMUNITIES of 7
    (32, 0xC0, "00" * 11, TAW, "RFC 8092 §6"),  # LARGE_COMMUNITY of 11
    (26, 0x80, "01 000b 0000", DISCARD, "RFC 7311 §3"),  # AIGP TLV overrun
])
def test_attribute_length_errors(codec, code, flags, value, action, section):
    """RFC 7606 §7.x per attribute: wrong length -> 3/5 with the attribute's action."""
    base = {1: ORIGIN_IGP, 2: AS_PATH_EMPTY, 3: NEXT_HOP}
    attrs = b"".join(v for c, v in base.items() if c != code) + attr(flags, code,
                                                                      bytes.fromhex(value))
    e = raises(codec, update(b"", attrs, NLRI_10_0_0))
    assert (e.code, e.action) == (3, action), section
    assert e.subcode == 5, section
    assert e.update is not None


def test_attribute_flags_conflict(codec):
    """RFC 7606 §3(c): ORIGIN marked optional -> attribute flags error,
    treat-as-withdraw (RFC 4271 §6.3 subcode 4)."""
    attrs = bytes.fromhex("c0 01 01 00") + AS_PATH_EMPTY + NEXT_HOP
    e = raises(codec, update(b"", attrs, NLRI_10_0_0))
    assert csa(e) == (3, 4, TAW)


def test_unrecognized_well_known(codec):
    """RFC 4271 §6.3: an unrecognized well-known (non-optional) attribute -> 3/2."""
    attrs = ORIGIN_IGP + AS_PATH_EMPTY + NEXT_HOP + attr(0x40, 99, b"\x01")
    e = raises(codec, update(b"", attrs, NLRI_10_0_0))
    assert (e.code, e.subcode) == (3, 2)


def test_unknown_optional_attribute_kept(codec):
    attrs = ORIGIN_IGP + AS_PATH_EMPTY + NEXT_HOP + attr(0xE0, 99, b"\x01\x02")
    data = update(b"", attrs, NLRI_10_0_0)
    m = codec.decode_message(data)
    u = m.attributes.get(99)
    assert u is not None and u.flags == 0xE0 and u.value == b"\x01\x02"
    assert m.to_dict()["attributes"]["unknown"] == [{"code": 99, "flags": 0xE0, "data": "0102"}]
    assert codec.encode_message(m) == data


def test_duplicate_mp_reach(codec):
    """RFC 7606 §3(g): MP_REACH_NLRI twice -> 3/1, session reset."""
    mp = attr(0x90, 14, bytes.fromhex("0001 01 04 c0000201 00 18 0a0000"))
    attrs = ORIGIN_IGP + AS_PATH_EMPTY + mp + mp
    e = raises(codec, update(b"", attrs))
    assert csa(e) == (3, 1, RESET)


def test_duplicate_mp_unreach(codec):
    mp = attr(0x90, 15, bytes.fromhex("0001 01 18 0a0000"))
    e = raises(codec, update(b"", mp + mp))
    assert csa(e) == (3, 1, RESET)


def test_duplicate_other_attribute_keeps_first(codec):
    """RFC 7606 §3(g): other attributes repeated: all but the first discarded."""
    attrs = ORIGIN_IGP + AS_PATH_EMPTY + NEXT_HOP + bytes.fromhex("40 01 01 02")
    e = raises(codec, update(b"", attrs, NLRI_10_0_0))
    assert e.action == DISCARD and e.code == 3
    assert e.update.attributes.origin == 0


@pytest.mark.parametrize("missing", [1, 2, 3])
def test_missing_well_known_with_nlri(codec, missing):
    """RFC 7606 §3(d): a missing well-known mandatory attribute -> 3/3
    Missing Well-known Attribute (Data = its type code, RFC 4271 §6.3), treat-as-withdraw."""
    parts = {1: ORIGIN_IGP, 2: AS_PATH_EMPTY, 3: NEXT_HOP}
    attrs = b"".join(v for c, v in parts.items() if c != missing)
    e = raises(codec, update(b"", attrs, NLRI_10_0_0))
    assert csa(e) == (3, 3, TAW)
    assert e.data == bytes([missing])
    assert [r.prefix for r in e.update.announced] == ["10.0.0.0/24"]


def test_missing_origin_with_mp_reach(codec):
    mp = attr(0x90, 14, bytes.fromhex("0002 01 10 20010db8000000000000000000000001 00"
                                      "20 20010db8"))
    e = raises(codec, update(b"", AS_PATH_EMPTY + mp))
    assert csa(e) == (3, 3, TAW)
    assert [r.prefix for r in e.update.announced] == ["2001:db8::/32"]


def test_no_mandatory_attributes_needed_for_withdrawals(codec):
    """RFC 4760 §4 / RFC 4724 §2: MP_UNREACH alone (and End-of-RIB) are well formed."""
    data = update(b"", attr(0x80, 15, bytes.fromhex("0002 01 20 20010db8")))
    m = codec.decode_message(data)
    assert [r.prefix for r in m.withdrawn] == ["2001:db8::/32"]
    data = update(NLRI_10_0_0)
    assert [r.prefix for r in codec.decode_message(data).withdrawn] == ["10.0.0.0/24"]


def rt2(length="21", mac_len="30", ip="00", label="000064") -> str:
    """RFC 7432 §7.2 MAC/IP route: type, length, RD 203.0.113.1:2, ESI 0,
    tag 0, MAC length, MAC 50:54:33:00:00:0a, IP length + IP, label(s)."""
    return ("02" + length + "0001cb0071010002" + "00" * 10 + "00000000" + mac_len
            + "50543300000a" + ip + label)


EVPN_RT2_OK = rt2()


def _evpn_update(nlri_hex: str) -> bytes:
    value = bytes.fromhex("0019 46 04 cb007101 00" + nlri_hex)
    return update(b"", ORIGIN_IGP + AS_PATH_EMPTY + attr(0x90, 14, value))


def test_evpn_type2_reference_decodes(codec):
    m = codec.decode_message(_evpn_update(EVPN_RT2_OK))
    (r,) = m.announced
    assert str(r.mac) == "50:54:33:00:00:0a" and r.ip is None and r.labels == (100,)
    m = codec.decode_message(_evpn_update(rt2("25", ip="20c0000205")))
    assert str(m.announced[0].ip) == "192.0.2.5"


@pytest.mark.parametrize("nlri", [
    rt2(mac_len="2f"),                       # MAC length 47 (must be 48)
    rt2(mac_len="00"),                       # MAC length 0
    rt2("20", label="0000"),                 # 2 octets left for the label
    rt2("21", ip="20", label="000064"),      # IP length 32 and no room for it
    rt2("24", ip="18c00002", label="000064"),  # IP length 24 (must be 0, 32 or 128)
    rt2("28", label="000064" + "000065" + "00"),  # a label and a half
    rt2("40"),                               # route length overruns the NLRI
    "02",                                    # route header cut in half
])
def test_evpn_type2_bad_layout(codec, nlri):
    """RFC 7432 §7.2 layout violated -> 3/10 (Invalid Network Field) and
    AFI/SAFI disable (RFC 7606 §5.3: the NLRI of that family cannot be parsed)."""
    e = raises(codec, _evpn_update(nlri))
    assert csa(e) == (3, 10, AFI_SAFI_DISABLE)
    assert e.family == (25, 70)  # which AFI/SAFI to disable
    assert e.update is not None and 14 not in e.update.attributes


def test_evpn_unknown_route_type_kept(codec):
    """RFC 7606 §5.4: a type this speaker does not know is not an error; kept raw."""
    nlri = "2a 05 0102030405" + EVPN_RT2_OK
    data = _evpn_update(nlri)
    m = codec.decode_message(data)
    raw, rt2 = m.announced
    assert raw.route_type == 42 and bytes(raw) == bytes.fromhex("2a050102030405")
    assert raw.to_dict()["raw"] == "0102030405"
    assert rt2.route_type == 2
    assert codec.encode_message(m) == data


def test_nlri_prefix_too_long(codec):
    """RFC 7606 §5.3 / RFC 4271 §6.3: prefix length 33 in the NLRI field -> 3/10 session reset."""
    e = raises(codec, update(b"", ORIGIN_IGP + AS_PATH_EMPTY + NEXT_HOP,
                             bytes.fromhex("21 0a000000 00")))
    assert csa(e) == (3, 10, RESET)
    e = raises(codec, update(bytes.fromhex("21 0a000000 00")))
    assert (e.code, e.action) == (3, RESET)


def test_mp_reach_bad_next_hop_length(codec):
    """RFC 7606 §7.11: next hop length inconsistent with the AFI/SAFI -> AFI/SAFI disable."""
    value = bytes.fromhex("0019 46 05 cb00710101 00" + EVPN_RT2_OK)
    e = raises(codec, update(b"", ORIGIN_IGP + AS_PATH_EMPTY + attr(0x90, 14, value)))
    assert (e.code, e.action, e.family) == (3, AFI_SAFI_DISABLE, (25, 70))


def test_mp_reach_shorter_than_afi_safi(codec):
    """RFC 7606 §5.1: MP_REACH too short to carry AFI/SAFI -> session reset."""
    e = raises(codec, update(b"", ORIGIN_IGP + AS_PATH_EMPTY + attr(0x90, 14, b"\x00\x19")))
    assert e.action == RESET and e.code == 3


def test_borr_of_24_octets(codec):
    """RFC 7313 §5: a BoRR/EoRR ROUTE-REFRESH whose length is not 23 -> 7/1,
    Data = the complete message."""
    data = msg(5, bytes.fromhex("0001 01 01 00"))
    assert len(data) == 24
    e = raises(codec, data)
    assert csa(e) == (7, 1, RESET)
    assert e.data == data
    data = msg(5, bytes.fromhex("0019 02 46 00"))
    assert csa(raises(codec, data)) == (7, 1, RESET)


def test_normal_route_refresh_with_orf(codec):
    """RFC 5291: a subtype-0 ROUTE-REFRESH may carry ORF entries after the 4 octets."""
    data = msg(5, bytes.fromhex("0001 00 01 01 40 0005 00000000 00"))
    m = codec.decode_message(data)
    assert m.subtype == 0 and m.data == bytes.fromhex("0140000500000000 00".replace(" ", ""))
    assert codec.encode_message(m) == data


OPEN_HEAD = "04 fde8 00b4 c0000201"


@pytest.mark.parametrize("tail", [
    "0a 02 06 01 04 00010001",              # Opt Parm Len 10, 8 octets present
    "06 02 08 01 04 00010001",              # parameter length 8 runs past the field
    "08 02 06 01 05 00010001",              # capability length 5 runs past its parameter
    "01 02",                                # a parameter header cut in half
    "ff ff 00",                             # RFC 9072 extended length truncated
    "ff ff 0010 02 0006 01 04 00010001",    # RFC 9072 length 16, 9 octets present
])
def test_open_optional_parameter_overrun(codec, tail):
    """RFC 4271 §6.2 / RFC 5492 / RFC 9072 §2: optional parameters that do not
    add up -> OPEN Message Error (code 2)."""
    data = msg(1, bytes.fromhex(OPEN_HEAD + tail))
    e = raises(codec, data)
    assert e.code == 2 and e.action == RESET


def test_unknown_message_type_99(codec):
    """A type this library does not know decodes to UnknownMessage (the
    session answers 1/3, RFC 4271 §6.1) and re-encodes identically."""
    data = msg(99, bytes.fromhex("deadbeef"))
    m = codec.decode_message(data)
    assert isinstance(m, bgpevpn.UnknownMessage)
    assert m.type_code == 99 and m.data == bytes.fromhex("deadbeef")
    assert m.to_dict() == {"type": "UNKNOWN", "length": 23, "type_code": 99, "data": "deadbeef"}
    assert codec.encode_message(m) == data


def test_error_offsets_in_a_stream(codec):
    """BGPError.offset points into the buffer handed to decode_messages."""
    ka = msg(4, b"")
    bad = update(b"", bytes.fromhex("40 01 01 03") + AS_PATH_EMPTY + NEXT_HOP, NLRI_10_0_0)
    with pytest.raises(BGPError) as ei:
        codec.decode_messages(ka + ka + bad + ka)
    assert 38 <= ei.value.offset < 38 + len(bad)


def test_reader_continues_after_treat_as_withdraw(codec):
    """A treat-as-withdraw UPDATE does not end the session (RFC 7606 §2): the
    MessageReader raises for it and then yields the messages after it."""
    ka = msg(4, b"")
    bad = update(b"", bytes.fromhex("40 01 01 03") + AS_PATH_EMPTY + NEXT_HOP, NLRI_10_0_0)
    reader = codec.MessageReader()
    it = reader.feed(ka + bad + ka + ka)
    assert next(it).type == "KEEPALIVE"
    with pytest.raises(BGPError) as ei:
        next(it)
    assert ei.value.action == TAW and ei.value.offset >= 19
    assert [m.type for m in reader.feed(b"")] == ["KEEPALIVE", "KEEPALIVE"]
    assert reader.pending == 0


def test_reader_bad_header_offset(codec):
    reader = codec.MessageReader()
    ka = msg(4, b"")
    with pytest.raises(BGPError) as ei:
        list(reader.feed(ka + ka + b"\x00" * 19))
    assert csa(ei.value) == (1, 1, RESET)
    assert ei.value.offset == 38


# ---------------------------------------------------------------------------- captures

CAPTURES = sorted(glob.glob(os.path.join(PCAP_DIR, "*.pcap"))
                  + glob.glob(os.path.join(PCAP_DIR, "*.pcapng")))
MALFORMED = [p for p in CAPTURES if os.path.basename(p).startswith("malformed-")]

CAPTURE_CONTEXTS = [Context(), Context(four_octet_as=False),
                    Context(add_path=[(1, 1), (2, 1), (25, 70)]),
                    Context(four_octet_as=False, add_path=[(1, 1), (2, 1)])]


def _captured_messages(path):
    pcap = pytest.importorskip("bgpevpn.pcap")
    try:
        return list(pcap.read_bgp_messages(path))
    except pcap.CaptureError:
        return []


@pytest.mark.parametrize("path", MALFORMED, ids=os.path.basename)
def test_malformed_captures(codec, path):
    """Fuzzer-made and crafted captures (tcpdump, PcapPlusPlus): nothing but BGPError."""
    msgs = _captured_messages(path)
    assert msgs, "the capture holds BGP messages"
    for m in msgs:
        for ctx in CAPTURE_CONTEXTS:
            if len(m.data) > 4096:
                ctx = Context(ctx.four_octet_as, ctx.add_path, True)
            decode_all_ways(codec, m.data, ctx)


@pytest.mark.parametrize("path", [p for p in CAPTURES if p not in MALFORMED],
                         ids=os.path.basename)
def test_other_captures_never_crash(codec, path):
    for m in _captured_messages(path):
        ctx = Context(extended_message=len(m.data) > 4096)
        decode_all_ways(codec, m.data, ctx)


# ---------------------------------------------------------------------------- twins agree

def _outcome(codec, data: bytes, ctx):
    """Everything observable about decoding ``data``: the messages (their
    classes, dicts, route classes) or the error (class, code/subcode/action,
    data, offset and the partial UPDATE)."""
    try:
        msgs = codec.decode_messages(data, ctx)
    except BGPError as e:
        upd = getattr(e, "update", None)
        return ("error", type(e).__name__, e.outcome, e.data, e.offset,
                None if upd is None else (upd.to_dict(), [c for c, _ in upd.malformed]))
    return ("ok", [(type(m).__name__, m.to_dict(),
                    [type(r).__name__ for r in getattr(m, "announced", [])]) for m in msgs])


@pytest.fixture
def twins():
    from conftest import load_c_twin
    c = load_c_twin()
    if c is None:
        pytest.skip("the C twin bgpevpn._wire_c was never built")
    return bgpevpn._wire_py, c


def _agree(twins, data, ctx):
    py, c = twins
    want = _outcome(py, data, ctx)
    got = _outcome(c, data, ctx)
    assert got == want, f"py and c differ on {data.hex()} under {ctx}"


@given(st.one_of(framed, st.binary(max_size=200)), S.contexts)
def test_twins_agree_on_random_input(twins, data, ctx):
    _agree(twins, data, ctx)


@given(S.contexts, random_attribute_lists(), st.binary(max_size=30))
def test_twins_agree_on_random_attributes(twins, ctx, attrs, nlri):
    _agree(twins, update(b"", attrs, nlri), ctx)


@given(S.contexts_and_messages(), st.data())
def test_twins_agree_on_mutations(twins, ctx_msg, data):
    ctx, m = ctx_msg
    wire = S.encodable(bgpevpn._wire_py, m, ctx)
    assume(wire is not None)
    _agree(twins, wire, ctx)
    b = bytearray(wire)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(16, len(b) - 1))
        b[i] = data.draw(S.u8)
    _agree(twins, bytes(b), ctx)
    _agree(twins, bytes(b), data.draw(S.contexts))


@given(S.contexts_and_messages())
def test_twins_encode_alike(twins, ctx_msg):
    py, c = twins
    ctx, m = ctx_msg
    try:
        want = py.encode_message(m, ctx)
    except (BGPError, ValueError) as e:
        with pytest.raises(type(e)):
            c.encode_message(m, ctx)
        return
    assert c.encode_message(m, ctx) == want


@pytest.mark.parametrize("path", CAPTURES, ids=os.path.basename)
def test_twins_agree_on_captures(twins, path):
    for m in _captured_messages(path):
        for ctx in CAPTURE_CONTEXTS:
            if len(m.data) > 4096:
                ctx = Context(ctx.four_octet_as, ctx.add_path, True)
            _agree(twins, m.data, ctx)
