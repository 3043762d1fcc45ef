"""Differential tests: the Cython twin against the Python reference twin.

DESIGN.md, "Rules of the codec": both twins return the same classes and
raise the same exceptions.  Every check here feeds the SAME input to
``bgpevpn._wire_py`` (P) and ``bgpevpn._wire_c`` (C) and asserts identical
outcomes: either both return equal results -- message by message: class,
``to_dict()``, ``encode(ctx)`` bytes, ``length``, every attribute (class,
code, flags, raw octets, value), for UPDATEs every route as
``(type(r), bytes(r))`` and ``malformed`` as ``[(code, outcome)]`` -- or both
raise a ``BGPError`` of the same class with the same ``(code, subcode,
action)`` and (for ``UpdateMessageError``) equal partial ``.update``s.  Any
other exception from either twin is a failure ("crash"), never a pass.

Functions: decode_messages, decode_message, decode_columns, split_messages,
MessageReader (fed in random chunk sizes), decode_attributes /
decode_evpn_nlri / decode_prefixes on raw slices, pack_updates.

Inputs:
  (a) Hypothesis byte strings, raw and behind a valid header, and
      structure-aware random UPDATEs (random attributes, MP_REACH/UNREACH,
      EVPN routes of every type with slightly wrong layouts);
  (b) mutations of every BGP message in ``pcaps/`` (bit flips, truncations,
      insertions, deletions, edits of every length field the walker below
      locates, and resizes that keep the enclosing lengths consistent),
      decoded under several contexts; also valid messages drawn from
      ``tests/strategies.py`` and their mutations;
  (c) the regression corpus ``tests/corpus/*.bin`` (raw message streams).

Examples: ``BGPEVPN_DIFF_EXAMPLES`` (default 20000) Hypothesis examples are
spread over the property tests by weight; each test asserts it ran its
share and ``test_zz_example_budget`` (last) asserts the total.

``BGPEVPN_DIFF_SKIP=fn1,fn2`` leaves functions out of the comparison (to chase
one bug while another is known; never set in CI).

Inputs that make the twins disagree or crash are saved to tests/corpus/
(``found-*.bin``) at the end of the module; ``BGPEVPN_DIFF_SAVE=0`` stops that.
``tools/differential_long.py`` runs these checks for a million examples and
``tools/asan.sh`` runs this file against an AddressSanitizer build.

The C twin: when ``bgpevpn._wire_c`` does not import, every test here FAILS
if a built ``_wire_c*.so`` sits next to ``bgpevpn/__init__.py`` and is
skipped otherwise.
"""
from __future__ import annotations

import glob
import hashlib
import math
import os
import random
import struct
import sys

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # ``strategies`` when imported outside pytest (tools/)
    sys.path.insert(0, HERE)

import bgpevpn  # noqa: E402
from bgpevpn import (AddPathEvpnRoute, Attributes, BGPError, Context, RawNlri,  # noqa: E402
                     UpdateMessageError)
from bgpevpn import _wire_py as P  # noqa: E402
from bgpevpn.columns import COLUMN_TYPECODES, EvpnColumns  # noqa: E402
from bgpevpn.constants import ATTR_DEFAULT_FLAGS, ErrorAction  # noqa: E402
from bgpevpn.messages import Open, Update  # noqa: E402
from bgpevpn.pcap import read_bgp_messages  # noqa: E402

import strategies as S  # noqa: E402

REPO = os.path.dirname(HERE)
CORPUS_DIR = os.path.join(HERE, "corpus")
PCAP_DIR = os.path.join(REPO, "pcaps")
PACKAGE_DIR = os.path.dirname(os.path.abspath(bgpevpn.__file__))


def built_c_twins() -> list:
    return sorted(glob.glob(os.path.join(PACKAGE_DIR, "_wire_c*.so"))
                  + glob.glob(os.path.join(PACKAGE_DIR, "_wire_c*.pyd")))


try:
    from bgpevpn import _wire_c as C
    C_IMPORT_ERROR = None
except ImportError as _exc:  # judged per test by the fixture below
    C = None
    C_IMPORT_ERROR = _exc


@pytest.fixture(autouse=True)
def _require_c_twin():
    if C is None:
        built = built_c_twins()
        if built:
            pytest.fail(f"the C twin was built ({', '.join(map(os.path.basename, built))}) but "
                        f"bgpevpn._wire_c does not import: {C_IMPORT_ERROR!r}")
        pytest.skip("the C twin bgpevpn._wire_c was never built")
    if C.IMPLEMENTATION != "c" or P.IMPLEMENTATION != "py":
        pytest.fail(f"twin modules mixed up: P={P.IMPLEMENTATION!r} C={C.IMPLEMENTATION!r}")


# ============================================================ contexts, budget

CONTEXTS = {
    "default": Context(),
    "as2": Context(four_octet_as=False),
    "addpath": Context(add_path={(1, 1), (2, 1), (25, 70)}),
    "extended": Context(extended_message=True),
}
CONTEXT_LIST = list(CONTEXTS.values())
contexts_fixed = st.sampled_from(CONTEXT_LIST)


def context_name(ctx) -> str:
    for name, c in CONTEXTS.items():
        if c == ctx:
            return name
    return repr(ctx)


TOTAL_EXAMPLES = int(os.environ.get("BGPEVPN_DIFF_EXAMPLES", "20000"))

#: share of the Hypothesis examples per property test
WEIGHTS = {
    "raw": 12,
    "fuzzy_update": 24,
    "pcap_mutation": 24,
    "strategy_messages": 8,
    "corpus_mutation": 8,
    "slices": 12,
    "pack_updates": 12,
}


def budget(name: str, total: int | None = None) -> int:
    total = TOTAL_EXAMPLES if total is None else total
    return max(1, math.ceil(total * WEIGHTS[name] / sum(WEIGHTS.values())))


#: examples actually run per property test (counted in the test bodies)
COUNTS = {name: 0 for name in WEIGHTS}
#: property tests whose Hypothesis run finished without failing
COMPLETED: set = set()


def hsettings(name: str, n: int | None = None):
    return settings(max_examples=budget(name) if n is None else n, deadline=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)


# ============================================================ outcomes and comparison

class TwinFailure(AssertionError):
    """The twins disagree on an input, or one of them crashed on it."""

    def __init__(self, kind, function, data, ctx, args, py, c, where):
        self.kind, self.function, self.data, self.ctx = kind, function, data, ctx
        self.args_text, self.py, self.c, self.where = args, py, c, where
        hexdata = data.hex() if isinstance(data, (bytes, bytearray)) else repr(data)
        if len(hexdata) > 8000:
            hexdata = hexdata[:8000] + f"... ({len(data)} octets)"
        super().__init__(
            f"twin {kind} in {function}{args}\n  context: {ctx!r}\n  input: {hexdata}\n"
            f"  first difference at {where}\n  py: {_short(py)}\n  c:  {_short(c)}")


def _short(v, limit=1500) -> str:
    s = repr(v)
    return s if len(s) <= limit else s[:limit] + "..."


#: smallest failing input per (kind, function): written to the corpus at the end
FAILURES: dict = {}

#: False (tools/differential_long.py): a failure is logged in FAILURE_LOG and
#: the run goes on instead of raising
RAISE = True
#: the seed of the stream check running (chunking, slice choice): logged with failures
CURRENT_SEED = 0
#: signature -> {"count", "data", "ctx", "args", "py", "c", "where", "function", "kind"}
FAILURE_LOG: dict = {}


def signature(kind, function, where) -> tuple:
    """What makes two failures the same bug: kind, function and the path of
    the first difference with its indices blanked."""
    import re
    return (kind, function, re.sub(r"\d+", "#", where))


def _log(kind, function, data, ctx, args, py, c, where):
    sig = signature(kind, function, where)
    entry = FAILURE_LOG.get(sig)
    size = len(data) if isinstance(data, (bytes, bytearray)) else len(repr(data))
    if entry is None or size < entry["size"]:
        FAILURE_LOG[sig] = {"count": (entry or {}).get("count", 0), "data": data, "ctx": ctx,
                            "args": args, "seed": CURRENT_SEED, "py": _short(py),
                            "c": _short(c), "where": where, "function": function, "kind": kind,
                            "size": size,
                            "slice": CURRENT_SLICE if function in SLICE_FUNCTIONS else None}
        entry = FAILURE_LOG[sig]
    entry["count"] += 1


def _fail(kind, function, data, ctx, args, py, c, where):
    if RAISE:
        _record(kind, function, data, ctx, args)
        raise TwinFailure(kind, function, data, ctx, args, py, c, where)
    _log(kind, function, data, ctx, args, py, c, where)

#: functions whose input is a whole message stream (replayable from a .bin)
STREAM_FUNCTIONS = {"decode_messages", "decode_message", "decode_columns", "split_messages",
                    "MessageReader"}
#: functions on a slice of a buffer: their corpus files are named ``...@pos-end-ap-len.bin``
SLICE_FUNCTIONS = {"decode_attributes", "decode_evpn_nlri", "decode_prefixes"}
#: (pos, end, add_path, addr_len) of the raw-slice check running
CURRENT_SLICE = None


def _record(kind, function, data, ctx, args):
    key = (kind, function)
    old = FAILURES.get(key)
    if function in SLICE_FUNCTIONS:
        args = CURRENT_SLICE  # (pos, end, add_path, addr_len): goes into the file name
    if isinstance(data, (bytes, bytearray)):
        data = bytes(data)
        if old is None or (len(data), data) < (len(old[0]), old[0]):
            FAILURES[key] = (data, ctx, args)
    elif old is None:
        FAILURES[key] = (data, ctx, args)


def _run(fn):
    try:
        return ("ok", fn())
    except BGPError as e:
        return ("raise", e)
    except Exception as e:  # noqa: BLE001 -- any other exception is a crash
        return ("crash", e)


def _crash_text(e) -> str:
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f" at {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else ""
    return f"{type(e).__name__}: {e}{where}"


def _normalize(outcome, norm_ok, ctx):
    kind, v = outcome
    try:
        if kind == "ok":
            return ("ok", norm_ok(v, ctx))
        if kind == "raise":
            return ("raise", norm_error(v, ctx))
    except Exception as e:  # noqa: BLE001
        return ("crash", "while normalizing the result: " + _crash_text(e))
    return ("crash", _crash_text(v))


#: functions left out of the comparison (comma-separated), for chasing one
#: bug while another is known; empty by default and in CI
SKIP_FUNCTIONS = frozenset(filter(None, os.environ.get("BGPEVPN_DIFF_SKIP", "").split(",")))


def differ(function, data, ctx, call_py, call_c, norm_ok, args=""):
    """Run both calls; raise TwinFailure unless the outcomes are identical
    (and neither crashed).  Returns the Python twin's raw outcome."""
    if function in SKIP_FUNCTIONS:
        return None
    rp, rc = _run(call_py), _run(call_c)
    np_, nc = _normalize(rp, norm_ok, ctx), _normalize(rc, norm_ok, ctx)
    if np_[0] == "crash" or nc[0] == "crash":
        side = "py" if np_[0] == "crash" else "c"
        _fail("crash", function, data, ctx, args, np_, nc, f"outcome ({side} crashed)")
    elif np_ != nc:
        where, a, b = first_difference(np_, nc)
        _fail("disagreement", function, data, ctx, args, a, b, where)
    return rp


def first_difference(a, b, path="outcome"):
    if type(a) is not type(b):
        return path, a, b
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b), key=repr):
            if k not in a or k not in b:
                return f"{path}[{k!r}]", a.get(k, "<missing>"), b.get(k, "<missing>")
            if a[k] != b[k]:
                return first_difference(a[k], b[k], f"{path}[{k!r}]")
        return path, a, b
    if isinstance(a, (list, tuple)):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
        if len(a) != len(b):
            return f"{path} (length {len(a)} vs {len(b)})", a[len(b):], b[len(a):]
    return path, a, b


# ------------------------------------------------------------ normal forms

def shape(v):
    """A comparable form of a decoded value that keeps the classes."""
    t = type(v)
    if v is None or t in (bool, int, str, float):
        return v
    if isinstance(v, (bytes, bytearray)):
        return (t, bytes(v))
    if isinstance(v, (int, float)):  # IntEnum and friends
        return (t, int(v))
    if isinstance(v, (list, tuple)):
        return (t, tuple(shape(x) for x in v))
    if isinstance(v, dict):
        return (t, tuple(sorted(((repr(k), shape(x)) for k, x in v.items()), key=repr)))
    if isinstance(v, AddPathEvpnRoute):
        return (t, v.path_id, shape(v.route))
    if isinstance(v, RawNlri):
        return (t, v.afi, v.safi, bytes(v))
    return (t, repr(v))


def route_forms(routes) -> list:
    return [(type(r), bytes(r)) + ((type(r.route),) if isinstance(r, AddPathEvpnRoute) else ())
            for r in routes]


def attribute_form(a) -> tuple:
    return (type(a), a.code, a.flags, None if a.raw is None else shape(a.raw), shape(a.value),
            shape(getattr(a, "tlvs", None)))


def _encode(msg, ctx):
    try:
        return ("ok", msg.encode(ctx))
    except BGPError as e:
        return ("raise", type(e), e.outcome)
    # anything else escapes to _normalize and is a crash


def norm_message(m, ctx):
    out = [type(m), m.to_dict(), _encode(m, ctx), m.length]
    if isinstance(m, Update):
        out += [route_forms(m.withdrawn_routes), route_forms(m.nlri), route_forms(m.announced),
                route_forms(m.withdrawn), [attribute_form(a) for a in m.attributes],
                norm_malformed(m.malformed, ctx)]
    elif isinstance(m, Open):
        out += [[(type(c), c.code, c.data) for c in m.capabilities], shape(m.parameters),
                m.extended_parameters, m.version, m.my_as, m.hold_time, m.bgp_id]
    return tuple(out)


def norm_malformed(malformed, ctx):
    return [(code, (e.code, e.subcode, e.action), type(e), e.data) for code, e in malformed]


def norm_error(e, ctx):
    out = [type(e), e.outcome, e.data, e.offset]
    if isinstance(e, UpdateMessageError):
        out.append(None if e.update is None else norm_message(e.update, ctx))
    return tuple(out)


def norm_messages(msgs, ctx):
    return (type(msgs), [norm_message(m, ctx) for m in msgs])


def norm_columns(cols, ctx):
    assert isinstance(cols, EvpnColumns), type(cols)
    return (type(cols), [(n, getattr(cols, n).format) for n in COLUMN_TYPECODES],
            {n: list(v) for n, v in cols.columns().items()}, cols.messages, cols.other_routes,
            [(a.key, nh) for a, nh in cols.attribute_sets], cols.buffer,
            [(type(r), bytes(r)) for r in map(cols.route, range(len(cols)))],
            cols)  # and EvpnColumns.__eq__ itself


def norm_plain(v, ctx):
    return shape(v)


def norm_routes(routes, ctx):
    return (type(routes), route_forms(routes))


def norm_attributes(result, ctx):
    items, errors = result
    return (type(items), [attribute_form(a) for a in items],
            [(code, norm_error(e, ctx)) for code, e in errors])


def norm_reader(result, ctx):
    msgs, err, pending, offset = result
    return ([norm_message(m, ctx) for m in msgs], None if err is None else norm_error(err, ctx),
            pending, offset)


# ============================================================ the checks

def chunk_plan(n: int, seed: int) -> list:
    """Chunk sizes to feed a MessageReader: tiny, header-sized, large, empty."""
    rng = random.Random(seed)
    sizes = []
    left = n
    while left > 0:
        k = rng.choice((1, 1, 2, 3, 5, 18, 19, 20, 23, 64, 300, 4096, rng.randint(1, n)))
        if rng.random() < 0.05:
            sizes.append(0)
        sizes.append(min(k, left))
        left -= k
    return sizes


def read_stream(cls, data, ctx, sizes):
    reader = cls(ctx)
    msgs = []
    pos = 0
    err = None
    try:
        for k in sizes:
            for m in reader.feed(data[pos:pos + k]):
                msgs.append(m)
            pos += k
        for m in reader.feed(b""):
            msgs.append(m)
    except BGPError as e:
        err = e
    return msgs, err, reader.pending, reader.offset


def _fed(data, seed):
    return bytearray(data) if seed % 7 == 3 else data  # bytes-like input too


def _check_decode_messages(data, ctx, seed):
    fed = _fed(data, seed)
    differ("decode_messages", data, ctx, lambda: P.decode_messages(fed, ctx),
           lambda: C.decode_messages(fed, ctx), norm_messages)


def _check_decode_message(data, ctx, seed):
    fed = _fed(data, seed)
    differ("decode_message", data, ctx, lambda: P.decode_message(fed, ctx),
           lambda: C.decode_message(fed, ctx), norm_message)


def _check_decode_columns(data, ctx, seed):
    fed = _fed(data, seed)
    differ("decode_columns", data, ctx, lambda: P.decode_columns(fed, ctx),
           lambda: C.decode_columns(fed, ctx), norm_columns)


def _check_split_messages(data, ctx, seed):
    mx = ctx.max_message_length
    differ("split_messages", data, ctx, lambda: P.split_messages(data, 0, mx),
           lambda: C.split_messages(data, 0, mx), norm_plain, "(pos=0)")
    if data:
        pos = seed % (len(data) + 1)
        differ("split_messages", data, ctx, lambda: P.split_messages(data, pos, mx),
               lambda: C.split_messages(data, pos, mx), norm_plain, f"(pos={pos})")


def _check_reader(data, ctx, seed):
    sizes = chunk_plan(len(data), seed)
    differ("MessageReader", data, ctx, lambda: read_stream(P.MessageReader, data, ctx, sizes),
           lambda: read_stream(C.MessageReader, data, ctx, sizes), norm_reader,
           f"(chunks={sizes})")


#: function name -> check of that function on a whole stream (data, ctx, seed)
STREAM_CHECKS = {
    "decode_messages": _check_decode_messages,
    "decode_message": _check_decode_message,
    "decode_columns": _check_decode_columns,
    "split_messages": _check_split_messages,
    "MessageReader": _check_reader,
}


def check_stream(data: bytes, ctx, seed: int = 0, slices: bool = True) -> None:
    """Every stream-level function of both twins on ``data`` under ``ctx``
    (and, with ``slices``, the raw-slice decoders on its UPDATE parts and on
    two random slices)."""
    global CURRENT_SEED
    CURRENT_SEED = seed
    data = bytes(data)
    for check in STREAM_CHECKS.values():
        check(data, ctx, seed)
    if slices:
        check_update_slices(data, ctx)
        rng = random.Random(seed ^ 0x5A5A)
        for _ in range(2):
            i = rng.randint(0, len(data))
            j = rng.randint(i, len(data))
            check_slice(data, i, j, ctx, rng.random() < 0.5, rng.choice((4, 16)))


def check_slice(buf, pos, end, ctx, add_path, addr_len):
    """The three raw-slice decoders of both twins on buf[pos:end]."""
    global CURRENT_SLICE
    CURRENT_SLICE = (pos, end, int(bool(add_path)), addr_len)
    differ("decode_attributes", buf, ctx, lambda: P.decode_attributes(buf, pos, end, ctx),
           lambda: C.decode_attributes(buf, pos, end, ctx), norm_attributes,
           f"(pos={pos}, end={end})")
    differ("decode_evpn_nlri", buf, ctx, lambda: P.decode_evpn_nlri(buf, pos, end, add_path),
           lambda: C.decode_evpn_nlri(buf, pos, end, add_path), norm_routes,
           f"(pos={pos}, end={end}, add_path={add_path})")
    action = ErrorAction.AFI_SAFI_DISABLE if addr_len == 16 else ErrorAction.SESSION_RESET
    differ("decode_prefixes", buf, ctx,
           lambda: P.decode_prefixes(buf, pos, end, addr_len, add_path, action),
           lambda: C.decode_prefixes(buf, pos, end, addr_len, add_path, action), norm_routes,
           f"(pos={pos}, end={end}, addr_len={addr_len}, add_path={add_path})")


def update_slices(data, ctx):
    """(kind, pos, end, extra) slices of the UPDATEs framed in ``data``:
    withdrawn, attributes, NLRI and each MP attribute's NLRI."""
    out = []
    try:
        frames, _ = P.split_messages(data, 0, 65535)
    except BGPError:
        frames = [(0, len(data))] if len(data) >= 23 else []
    for s, e in frames:
        if data[s + 18] != 2 or e - s < 23:
            continue
        p = s + 19
        wlen = (data[p] << 8) | data[p + 1]
        ws, we = p + 2, min(e, p + 2 + wlen)
        out.append(("prefixes4", ws, we, None))
        p = we
        if p + 2 > e:
            continue
        alen = (data[p] << 8) | data[p + 1]
        a, aend = p + 2, min(e, p + 2 + alen)
        out.append(("attributes", a, aend, None))
        out.append(("prefixes4", aend, e, None))
        while a + 3 <= aend:
            flags, code = data[a], data[a + 1]
            if flags & 0x10:
                if a + 4 > aend:
                    break
                vs, ln = a + 4, (data[a + 2] << 8) | data[a + 3]
            else:
                vs, ln = a + 3, data[a + 2]
            ve = min(aend, vs + ln)
            if code == 14 and ve - vs >= 5:
                q = vs + 4 + data[vs + 3] + 1
                if q <= ve:
                    out.append(("nlri", q, ve, ((data[vs] << 8) | data[vs + 1], data[vs + 2])))
            elif code == 15 and ve - vs >= 3:
                out.append(("nlri", vs + 3, ve, ((data[vs] << 8) | data[vs + 1], data[vs + 2])))
            a = vs + ln
    return out


def check_update_slices(data, ctx):
    global CURRENT_SLICE
    ap4 = (1, 1) in ctx.add_path
    reset = ErrorAction.SESSION_RESET
    for kind, pos, end, fam in update_slices(data, ctx):
        # as check_slice would replay it (the decoders use only pos, end, ap, addr_len)
        n = 16 if fam == (2, 1) else 4
        ap = ap4 if kind == "prefixes4" else fam in ctx.add_path
        CURRENT_SLICE = (pos, end, int(bool(ap)), n)
        if kind == "attributes":
            differ("decode_attributes", data, ctx, lambda: P.decode_attributes(data, pos, end, ctx),
                   lambda: C.decode_attributes(data, pos, end, ctx), norm_attributes,
                   f"(pos={pos}, end={end})")
        elif kind == "prefixes4":
            differ("decode_prefixes", data, ctx,
                   lambda: P.decode_prefixes(data, pos, end, 4, ap4, reset),
                   lambda: C.decode_prefixes(data, pos, end, 4, ap4, reset), norm_routes,
                   f"(pos={pos}, end={end}, addr_len=4, add_path={ap4})")
        else:
            differ("decode_evpn_nlri", data, ctx, lambda: P.decode_evpn_nlri(data, pos, end, ap),
                   lambda: C.decode_evpn_nlri(data, pos, end, ap), norm_routes,
                   f"(pos={pos}, end={end}, add_path={ap})")
            if fam in ((1, 1), (2, 1)):
                n = 4 if fam == (1, 1) else 16
                act = ErrorAction.AFI_SAFI_DISABLE
                differ("decode_prefixes", data, ctx,
                       lambda: P.decode_prefixes(data, pos, end, n, ap, act),
                       lambda: C.decode_prefixes(data, pos, end, n, ap, act), norm_routes,
                       f"(pos={pos}, end={end}, addr_len={n}, add_path={ap})")


def norm_packed(out, ctx):
    return (type(out), [(type(m), m) for m in out])


def _run_any(fn):
    try:
        return ("ok", fn())
    except Exception as e:  # noqa: BLE001 -- bad input: the same exception from both
        return ("raise", e)


def check_pack(routes, attributes, next_hop, ctx, withdraw, decode=True) -> None:
    """pack_updates of both twins: the same messages, or the same exception
    (class and text) on bad input; then the messages through check_stream."""
    rp = _run_any(lambda: P.pack_updates(routes, attributes, next_hop, ctx, withdraw))
    rc = _run_any(lambda: C.pack_updates(routes, attributes, next_hop, ctx, withdraw))
    fp = ("ok", norm_packed(rp[1], ctx)) if rp[0] == "ok" else \
        ("raise", type(rp[1]), str(rp[1]))
    fc = ("ok", norm_packed(rc[1], ctx)) if rc[0] == "ok" else \
        ("raise", type(rc[1]), str(rc[1]))
    if fp != fc:
        where, a, b = first_difference(fp, fc)
        args = (f"(routes={routes!r}, attributes={attributes!r}, next_hop={next_hop!r}, "
                f"withdraw={withdraw})")
        _fail("disagreement", "pack_updates", args, ctx, "", a, b, where)
        return
    if decode and rp[0] == "ok":
        stream = b"".join(rp[1])
        if len(stream) <= 6000:
            check_stream(stream, ctx, seed=len(stream), slices=False)


# ============================================================ seeds: pcaps and corpus

SKIP_PCAP_PREFIXES = ("bmp-", "frr10-bmp", "junos-vmx-bmp")


def pcap_files() -> list:
    out = []
    for path in sorted(glob.glob(os.path.join(PCAP_DIR, "*"))):
        name = os.path.basename(path)
        if name.startswith(SKIP_PCAP_PREFIXES) or not name.endswith((".pcap", ".pcapng")):
            continue
        out.append(path)
    return out


_PCAP_CACHE: dict = {}


def pcap_streams() -> dict:
    """file name -> list of its BGP messages (whole, header included)."""
    if not _PCAP_CACHE:
        for path in pcap_files():
            _PCAP_CACHE[os.path.basename(path)] = [m.data for m in read_bgp_messages(path)]
    return _PCAP_CACHE


def pcap_messages() -> list:
    """Every distinct BGP message of the pcaps, in file order."""
    seen = {}
    for msgs in pcap_streams().values():
        for m in msgs:
            seen.setdefault(bytes(m), None)
    return list(seen)


def corpus_files() -> list:
    return sorted(glob.glob(os.path.join(CORPUS_DIR, "*.bin")))


def corpus_messages() -> list:
    """Corpus streams cut into messages where they frame (else whole)."""
    seen = {}
    for path in corpus_files():
        with open(path, "rb") as f:
            data = f.read()
        seen.setdefault(data, None)
        pos = 0
        while len(data) - pos >= 19:
            n = (data[pos + 16] << 8) | data[pos + 17]
            if n < 19 or pos + n > len(data):
                break
            seen.setdefault(data[pos:pos + n], None)
            pos += n
    return [d for d in seen if d]


# ============================================================ length-field walker

def _u16(b, i):
    return (b[i] << 8) | b[i + 1]


def length_fields(msg: bytes, ctx) -> list:
    """Every length field of one message the walker can locate, as
    (offset, size, region_start, region_end, kind): kind "len" counts the
    octets of region [start, end) ("msg" counts the whole message), "bits"
    is a length in bits or a count (no region).  Permissive: it follows the
    fields as far as they stay inside the message."""
    f = []
    n = len(msg)
    if n >= 18:
        f.append((16, 2, 0, n, "msg"))
    if n < 19:
        return f
    t = msg[18]
    try:
        if t == 1:
            _open_fields(msg, f)
        elif t == 2:
            _update_fields(msg, ctx, f)
    except IndexError:
        pass
    return f


def _open_fields(msg, f):
    n = len(msg)
    if n < 29:
        return
    ol = msg[28]
    p, hdr = 29, 2
    f.append((28, 1, 29, 29 + ol, "len"))
    if ol == 255 and n > 31 and msg[29] == 255:
        ol = _u16(msg, 30)
        f.append((30, 2, 32, 32 + ol, "len"))
        p, hdr = 32, 3
    end = min(n, p + ol)
    while p + hdr <= end:
        ptype = msg[p]
        plen = _u16(msg, p + 1) if hdr == 3 else msg[p + 1]
        f.append((p + 1, hdr - 1, p + hdr, p + hdr + plen, "len"))
        vs, ve = p + hdr, min(end, p + hdr + plen)
        if ptype == 2:
            c = vs
            while c + 2 <= ve:
                f.append((c + 1, 1, c + 2, c + 2 + msg[c + 1], "len"))
                c += 2 + msg[c + 1]
        p = vs + plen


def _prefix_fields(msg, p, end, ap, f):
    while p < end:
        if ap:
            p += 4
        if p >= end:
            return
        f.append((p, 1, None, None, "bits"))
        p += 1 + ((msg[p] + 7) >> 3)


def _evpn_fields(msg, q, end, ap, f):
    while q + 2 <= end:
        if ap:
            q += 4
            if q + 2 > end:
                return
        rtype, ln = msg[q], msg[q + 1]
        f.append((q + 1, 1, q + 2, q + 2 + ln, "len"))
        b = q + 2
        e = min(end, b + ln)
        bits = []
        if rtype == 2:
            bits = [b + 22, b + 29]
        elif rtype == 3:
            bits = [b + 12]
        elif rtype == 4:
            bits = [b + 18]
        elif rtype == 5:
            bits = [b + 22]
        elif rtype in (6, 7, 8):
            a = b + (12 if rtype == 6 else 22)
            for _ in range(3):
                if a >= e:
                    break
                bits.append(a)
                a += 1 + (msg[a] >> 3)
        f.extend((x, 1, None, None, "bits") for x in bits if x < e)
        q = b + ln


def _nlri_fields(msg, q, end, afi, safi, ctx, f):
    ap = (afi, safi) in ctx.add_path
    if (afi, safi) == (25, 70):
        _evpn_fields(msg, q, end, ap, f)
    elif (afi, safi) in ((1, 1), (2, 1)):
        _prefix_fields(msg, q, end, ap, f)


def _update_fields(msg, ctx, f):
    n = len(msg)
    ap4 = (1, 1) in ctx.add_path
    p = 19
    if p + 2 > n:
        return
    wlen = _u16(msg, p)
    f.append((p, 2, p + 2, p + 2 + wlen, "len"))
    _prefix_fields(msg, p + 2, min(n, p + 2 + wlen), ap4, f)
    p += 2 + wlen
    if p + 2 > n:
        return
    alen = _u16(msg, p)
    f.append((p, 2, p + 2, p + 2 + alen, "len"))
    a, aend = p + 2, min(n, p + 2 + alen)
    while a + 3 <= aend:
        flags, code = msg[a], msg[a + 1]
        if flags & 0x10:
            if a + 4 > aend:
                break
            ln = _u16(msg, a + 2)
            f.append((a + 2, 2, a + 4, a + 4 + ln, "len"))
            v = a + 4
        else:
            ln = msg[a + 2]
            f.append((a + 2, 1, a + 3, a + 3 + ln, "len"))
            v = a + 3
        ve = min(aend, v + ln)
        if code == 14 and ve - v >= 4:
            nhl = msg[v + 3]
            f.append((v + 3, 1, v + 4, v + 4 + nhl, "len"))
            _nlri_fields(msg, v + 5 + nhl, ve, _u16(msg, v), msg[v + 2], ctx, f)
        elif code == 15 and ve - v >= 3:
            _nlri_fields(msg, v + 3, ve, _u16(msg, v), msg[v + 2], ctx, f)
        elif code in (2, 17):
            s = v
            size = 2 if code == 2 and not ctx.four_octet_as else 4
            while s + 2 <= ve:
                f.append((s + 1, 1, None, None, "bits"))  # AS count
                s += 2 + msg[s + 1] * size
        elif code == 26:
            s = v
            while s + 3 <= ve:
                f.append((s + 1, 2, None, None, "bits"))  # TLV length (counts its header)
                s += max(3, _u16(msg, s + 1))
        a = v + ln
    _prefix_fields(msg, aend, n, ap4, f)


# ============================================================ draw sources

class HypothesisDraws:
    """The draw interface of the generators below, over a Hypothesis ``draw``
    (pytest: reproducible, shrinkable)."""

    def __init__(self, draw):
        self.draw = draw

    def int(self, lo, hi):
        return self.draw(_integers(lo, hi))

    def bytes(self, n):
        return self.draw(_binary(n, n))

    def binary(self, max_size, min_size=0):
        return self.draw(_binary(min_size, max_size))

    def choice(self, seq):
        return seq[self.draw(_integers(0, len(seq) - 1))]

    def bool(self):
        return self.draw(_BOOLEANS)

    def rare(self, p10=1):
        """True with probability p10/10."""
        return self.draw(_D10) < p10

    def permutation(self, items):
        return self.draw(st.permutations(items)) if len(items) > 1 else list(items)


class RandomDraws:
    """The same interface over ``random.Random`` (tools/differential_long.py:
    an order of magnitude cheaper per example than Hypothesis)."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def int(self, lo, hi):
        r = self.rng.random()
        if r < 0.05:
            return lo
        if r < 0.1:
            return hi
        return self.rng.randint(lo, hi)

    def bytes(self, n):
        r = self.rng.random()
        if r < 0.15:
            return bytes(n)
        if r < 0.2:
            return b"\xff" * n
        return self.rng.randbytes(n)

    def binary(self, max_size, min_size=0):
        n = self.rng.randint(min_size, max_size) if self.rng.random() < 0.7 else \
            self.rng.randint(min_size, min(max_size, min_size + 4))
        return self.bytes(n)

    def choice(self, seq):
        return seq[self.rng.randrange(len(seq))]

    def bool(self):
        return self.rng.random() < 0.5

    def rare(self, p10=1):
        return self.rng.random() * 10 < p10

    def permutation(self, items):
        items = list(items)
        self.rng.shuffle(items)
        return items


_STRATEGY_CACHE: dict = {}


def _integers(lo, hi):
    key = ("i", lo, hi)
    s = _STRATEGY_CACHE.get(key)
    if s is None:
        s = _STRATEGY_CACHE[key] = st.integers(lo, hi)
    return s


def _binary(lo, hi):
    key = ("b", lo, hi)
    s = _STRATEGY_CACHE.get(key)
    if s is None:
        s = _STRATEGY_CACHE[key] = st.binary(min_size=lo, max_size=hi)
    return s


_BOOLEANS = st.booleans()
_D10 = st.integers(0, 9)


def hypothesis_strategy(generator, *args):
    """A Hypothesis strategy drawing ``generator(draws, *args)``."""
    @st.composite
    def strategy(draw):
        return generator(HypothesisDraws(draw), *args)
    return strategy()


# ============================================================ mutations

MUTATION_KINDS = ("flip", "truncate", "insert", "delete", "overwrite", "length", "length",
                  "length", "resize", "resize")
_LENGTH_MODES = ("zero", "one", "dec", "inc", "dec2", "inc2", "max", "rand", "ip", "double")
_IP_LENGTHS = (0, 32, 48, 128, 24, 33, 127, 129, 255)


def _new_length(g, old, size):
    top = (1 << (8 * size)) - 1
    v = g.choice(_LENGTH_MODES)
    if v == "zero":
        return 0
    if v == "one":
        return 1
    if v == "dec":
        return (old - 1) & top
    if v == "inc":
        return (old + 1) & top
    if v == "dec2":
        return (old - 2) & top
    if v == "inc2":
        return (old + 2) & top
    if v == "max":
        return top
    if v == "ip":
        return g.choice(_IP_LENGTHS) & top
    if v == "double":
        return (old * 2) & top
    return g.int(0, top)


def _set_field(buf, off, size, value):
    buf[off:off + size] = value.to_bytes(size, "big")


def gen_mutated_message(g, msg: bytes, ctx) -> bytes:
    """One message after 1-3 mutations; the header length is then fixed
    (so the body parsers are reached) unless the draw says otherwise."""
    buf = bytearray(msg)
    fixed_header = True
    for _ in range(g.int(1, 3)):
        kind = g.choice(MUTATION_KINDS)
        n = len(buf)
        if kind == "flip" and n:
            i = g.int(0, n - 1)
            buf[i] ^= 1 << g.int(0, 7)
        elif kind == "truncate" and n:
            del buf[g.int(0, n - 1):]
        elif kind == "insert":
            i = g.int(0, n)
            buf[i:i] = g.binary(8, 1)
        elif kind == "delete" and n:
            i = g.int(0, n - 1)
            del buf[i:i + g.int(1, 8)]
        elif kind == "overwrite" and n:
            buf[g.int(0, n - 1)] = g.int(0, 255)
        elif kind == "length":
            fields = length_fields(bytes(buf), ctx)
            if fields:
                off, size, _, _, what = g.choice(fields)
                if off + size <= len(buf):
                    old = int.from_bytes(buf[off:off + size], "big")
                    _set_field(buf, off, size, _new_length(g, old, size))
                    if what == "msg":
                        fixed_header = False
        elif kind == "resize":
            _resize(g, buf, ctx)
    if g.rare():
        fixed_header = False
    if fixed_header and 19 <= len(buf) <= 0xFFFF and buf[:16] == b"\xff" * 16:
        _set_field(buf, 16, 2, len(buf))
    return bytes(buf)


def _resize(g, buf, ctx):
    """Grow or shrink one structure and fix every enclosing length field."""
    fields = [x for x in length_fields(bytes(buf), ctx) if x[4] in ("len", "msg")]
    if not fields:
        return
    off, size, rs, re_, _ = chosen = g.choice(fields)
    re_ = min(re_, len(buf))
    if rs > re_:
        return
    pos = g.int(rs, re_)
    if g.bool():
        add = g.binary(16, 1)
        delta = len(add)
        buf[pos:pos] = add
    else:
        k = min(g.int(1, 16), re_ - pos)
        if k <= 0:
            return
        del buf[pos:pos + k]
        delta = -k
    for f in fields:
        o, sz, s, e, what = f
        if f == chosen or (s <= rs and re_ <= e and f[0] < rs):
            if o + sz > len(buf) or (o >= pos and delta):
                continue
            old = int.from_bytes(buf[o:o + sz], "big")
            new = old + delta
            if 0 <= new < (1 << (8 * sz)):
                _set_field(buf, o, sz, new)


def frames_of(data: bytes) -> list:
    """(start, end) of the messages of a stream by their header lengths;
    the unframed rest is one last piece."""
    out, pos = [], 0
    while len(data) - pos >= 19:
        n = _u16(data, pos + 16)
        if n < 19 or pos + n > len(data):
            break
        out.append((pos, pos + n))
        pos += n
    if pos < len(data):
        out.append((pos, len(data)))
    return out


def delete_keeping_lengths(data: bytes, pos: int, k: int, ctx) -> bytes:
    """data without data[pos:pos+k], every length field that encloses the
    deleted octets (header, attribute, route, ...) made k smaller: the
    structural step of the minimiser in tools/differential_long.py."""
    for s, e in frames_of(data):
        if s <= pos and pos + k <= e:
            msg = bytearray(data[s:e])
            rel = pos - s
            fields = [f for f in length_fields(bytes(msg), ctx) if f[4] in ("len", "msg")]
            for off, size, rs, re_, _ in fields:
                if rs <= rel and rel + k <= re_ and off + size <= rel:
                    old = int.from_bytes(msg[off:off + size], "big")
                    if old >= k:
                        _set_field(msg, off, size, old - k)
            del msg[rel:rel + k]
            return data[:s] + bytes(msg) + data[e:]
    return data[:pos] + data[pos + k:]


def gen_mutated_stream(g, seeds) -> tuple:
    """1-3 seed messages (one or two mutated) as one stream, and a context."""
    ctx = g.choice(CONTEXT_LIST)
    msgs = [g.choice(seeds) for _ in range(g.int(1, 3))]
    k = g.int(0, len(msgs) - 1)
    out = list(msgs)
    out[k] = gen_mutated_message(g, msgs[k], ctx)
    if len(msgs) > 1 and g.rare(2):
        j = g.int(0, len(msgs) - 1)
        out[j] = gen_mutated_message(g, msgs[j], ctx)
    data = b"".join(out)
    if g.rare(1) and g.rare(5) and data:
        data = data[:g.int(0, len(data) - 1)]
    return data, ctx


# ============================================================ structure-aware random input

MARKER = b"\xff" * 16


def frame(mtype: int, body: bytes) -> bytes:
    n = 19 + len(body)
    return MARKER + (n & 0xFFFF).to_bytes(2, "big") + bytes([mtype]) + body


_IPL_ANY = (0, 32, 32, 128, 128)
_IPL_SET = (32, 32, 128, 128)


def gen_ip_field(g, zero_ok=True) -> bytes:
    """RFC 7432 / RFC 9251 (length in bits, address), sometimes inconsistent."""
    ipl = g.choice(_IPL_ANY if zero_ok else _IPL_SET)
    if g.rare():
        ipl = g.int(0, 255)
    n = ipl >> 3
    if g.rare():
        n = g.int(0, 17)
    return bytes([ipl]) + g.bytes(n)


_EVPN_TYPES = (1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 2, 3, 0, 9, 10, 11)


def gen_evpn_route(g, add_path=False) -> bytes:
    """An EVPN route (RFC 7432 §7, RFC 9136, RFC 9251, RFC 9572): mostly the
    right layout per type, sometimes one field or the length octet off."""
    rtype = g.choice(_EVPN_TYPES) if not g.rare() else g.int(0, 255)
    rd, esi, tag, label = g.bytes(8), g.bytes(10), g.bytes(4), g.bytes(3)
    if rtype == 1:
        body = rd + esi + tag + label
    elif rtype == 2:
        maclen = 48 if not g.rare() else g.int(0, 255)
        labels = label + (g.bytes(3) if g.bool() else b"")
        body = rd + esi + tag + bytes([maclen]) + g.bytes(6) + gen_ip_field(g) + labels
    elif rtype == 3:
        body = rd + tag + gen_ip_field(g, zero_ok=False)
    elif rtype == 4:
        body = rd + esi + gen_ip_field(g, zero_ok=False)
    elif rtype == 5:
        n = 16 if g.bool() else 4
        plen = g.int(0, 8 * n) if not g.rare() else g.int(0, 255)
        body = rd + esi + tag + bytes([plen]) + g.bytes(n) + g.bytes(n) + label
    elif rtype in (6, 7, 8):
        body = rd + (esi if rtype != 6 else b"") + tag + gen_ip_field(g) + gen_ip_field(g) \
            + gen_ip_field(g, zero_ok=g.rare()) + (g.bytes(5) if rtype == 8 else b"") \
            + g.bytes(1)
    elif rtype in (9, 10):
        body = rd + g.binary(24)
    else:
        body = g.binary(40)
    if g.rare():
        if g.bool() and body:
            body = body[:g.int(0, len(body) - 1)]
        else:
            body += g.binary(4, 1)
    length = len(body) & 0xFF
    if g.rare(1):
        length = g.int(0, 255)
    pid = g.bytes(4) if add_path else b""
    return pid + bytes([rtype, length]) + body


def gen_prefix(g, addr_bits, add_path=False) -> bytes:
    plen = g.int(0, addr_bits) if not g.rare() else g.int(0, 255)
    n = (plen + 7) >> 3
    if g.rare(1):
        n = g.int(0, 17)
    return (g.bytes(4) if add_path else b"") + bytes([plen]) + g.bytes(n)


EVPN = (25, 70)
MP_FAMILY_CHOICES = (EVPN, EVPN, EVPN, (1, 1), (2, 1), (1, 128), (25, 134), (2, 4))


def gen_nlri(g, fam, ctx) -> bytes:
    ap = fam in ctx.add_path
    if g.rare(1):
        ap = not ap
    if fam == EVPN:
        return b"".join(gen_evpn_route(g, ap) for _ in range(g.int(0, 5)))
    if fam in ((1, 1), (2, 1)):
        bits = 32 if fam == (1, 1) else 128
        return b"".join(gen_prefix(g, bits, ap) for _ in range(g.int(0, 5)))
    return g.binary(30)


def gen_family(g) -> tuple:
    if g.rare(1):
        return (g.int(0, 0xFFFF), g.int(0, 255))
    return g.choice(MP_FAMILY_CHOICES)


_NH_SIZES = (4, 16, 32, 4, 16, 32, 0, 12, 24, 40)
_ATTR_SIZES = {3: (4,), 4: (4,), 5: (4,), 6: (0,), 7: (6, 8), 9: (4,), 18: (8,), 35: (4,),
               8: (4, 8, 12), 10: (4, 8), 16: (8, 16, 24), 32: (12, 24), 22: (5, 9, 21, 6)}


def gen_attr_value(g, code, ctx) -> bytes:
    if code == 14:
        fam = gen_family(g)
        nh = g.bytes(g.choice(_NH_SIZES))
        nhl = len(nh) if not g.rare(1) else g.int(0, 255)
        reserved = b"\x00" if not g.rare(1) else g.bytes(1)
        return struct.pack("!HB", *fam) + bytes([nhl]) + nh + reserved + gen_nlri(g, fam, ctx)
    if code == 15:
        fam = gen_family(g)
        return struct.pack("!HB", *fam) + gen_nlri(g, fam, ctx)
    if code in (2, 17):
        size = 2 if code == 2 and not ctx.four_octet_as else 4
        if g.rare(1):
            size = 6 - size
        out = b""
        for _ in range(g.int(0, 3)):
            stype = g.int(1, 4) if not g.rare() else g.int(0, 6)
            count = g.int(1, 6) if not g.rare() else g.int(0, 255)
            n = count * size if not g.rare() else g.int(0, 30)
            out += bytes([stype, count]) + g.bytes(min(n, 200))
        return out
    if code == 26:
        out = b""
        for _ in range(g.int(0, 3)):
            t = 1 if g.bool() else g.int(0, 255)
            val = g.bytes(8) if t == 1 and not g.rare() else g.binary(10)
            ln = 3 + len(val) if not g.rare() else g.int(0, 20)
            out += bytes([t]) + ln.to_bytes(2, "big") + val
        return out
    if code == 1:
        if g.rare(2):
            return g.binary(2)
        return bytes([g.int(0, 3)])
    if code in _ATTR_SIZES and not g.rare(2):
        return g.bytes(g.choice(_ATTR_SIZES[code]))
    return g.binary(40)


KNOWN_ATTR_CODES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 22, 26, 32, 35)


def gen_attribute(g, ctx, code=None) -> bytes:
    if code is None:
        code = g.choice(KNOWN_ATTR_CODES) if not g.rare(2) else g.int(0, 255)
    value = gen_attr_value(g, code, ctx)
    flags = ATTR_DEFAULT_FLAGS.get(code, 0xC0)
    if g.rare(1):
        flags = g.int(0, 255)
    if g.rare(2):
        flags |= 0x10
    if len(value) > 255:
        flags |= 0x10
    ln = len(value)
    if g.rare(1) and g.rare(5):
        ln = g.int(0, 0xFFFF if flags & 0x10 else 0xFF)
    head = bytes([flags, code]) + (ln.to_bytes(2, "big") if flags & 0x10 else bytes([ln & 0xFF]))
    return head + value


def gen_update_body(g, ctx) -> bytes:
    ap4 = (1, 1) in ctx.add_path
    withdrawn = b"".join(gen_prefix(g, 32, ap4) for _ in range(g.int(1, 3))) \
        if g.rare(2) else b""
    attrs = []
    if g.bool():  # the well-known ones, valid, so the rest is reached
        attrs.append(b"\x40\x01\x01" + bytes([g.int(0, 2)]))
        if g.bool():
            attrs.append(b"\x40\x02\x00")
        elif ctx.four_octet_as:
            attrs.append(b"\x40\x02\x06\x02\x01" + g.bytes(4))
        else:
            attrs.append(b"\x40\x02\x04\x02\x01" + g.bytes(2))
        if g.bool():
            attrs.append(b"\x40\x03\x04" + g.bytes(4))
    if g.bool():
        attrs.append(gen_attribute(g, ctx, 14))
    attrs += [gen_attribute(g, ctx) for _ in range(g.int(0, 5))]
    if g.rare(2):
        attrs.append(gen_attribute(g, ctx, 15))
    attrs = g.permutation(attrs)
    attr_bytes = b"".join(attrs)
    nlri = b"".join(gen_prefix(g, 32, ap4) for _ in range(g.int(1, 3))) if g.rare(2) else b""
    wlen, alen = len(withdrawn), len(attr_bytes)
    if g.rare(1) and g.rare(5):
        wlen = g.int(0, 0xFFFF)
    if g.rare(1) and g.rare(5):
        alen = g.int(0, 0xFFFF)
    return (wlen & 0xFFFF).to_bytes(2, "big") + withdrawn + (alen & 0xFFFF).to_bytes(2, "big") \
        + attr_bytes + nlri


def gen_update_stream(g) -> tuple:
    ctx = g.choice(CONTEXT_LIST)
    msgs = [frame(2, gen_update_body(g, ctx))]
    if g.rare(2):
        msgs.append(frame(2, gen_update_body(g, ctx)))
    if g.rare(2):
        msgs.insert(g.int(0, len(msgs)), frame(4, b""))
    return b"".join(msgs), ctx


_MSG_TYPES = (1, 2, 2, 2, 3, 4, 5)


def gen_framed_random(g) -> bytes:
    t = g.choice(_MSG_TYPES) if not g.rare(2) else g.int(0, 255)
    return frame(t, g.binary(120))


def gen_raw_input(g) -> tuple:
    """Random bytes: raw, behind one valid header, a stream of framed random
    bodies, or such a stream with junk after it."""
    kind = g.int(0, 3)
    if kind == 0:
        data = g.binary(160)
    elif kind == 1:
        data = gen_framed_random(g)
    else:
        data = b"".join(gen_framed_random(g) for _ in range(g.int(1, 4)))
        if kind == 3:
            data += g.binary(30)
    return data, g.choice(CONTEXT_LIST)


def gen_slice_input(g) -> tuple:
    """A buffer (attribute list, EVPN NLRI, prefixes or random bytes between
    junk) and a slice of it, for the raw-slice decoders."""
    ctx = g.choice(CONTEXT_LIST)
    kind = g.int(0, 3)
    if kind == 0:
        buf = b"".join(gen_attribute(g, ctx) for _ in range(g.int(0, 5)))
    elif kind == 1:
        ap = g.bool()
        buf = b"".join(gen_evpn_route(g, ap) for _ in range(g.int(0, 5)))
    elif kind == 2:
        bits = g.choice((32, 128))
        ap = g.bool()
        buf = b"".join(gen_prefix(g, bits, ap) for _ in range(g.int(0, 6)))
    else:
        buf = g.binary(120)
    pre, post = g.binary(6), g.binary(6)
    data = pre + buf + post
    if g.bool():
        pos, end = len(pre), len(pre) + len(buf)
    else:
        pos = g.int(0, len(data))
        end = g.int(pos, len(data))
    return data, pos, end, ctx, g.bool(), g.choice((4, 16))


raw_inputs = hypothesis_strategy(gen_raw_input)
fuzzy_update_streams = hypothesis_strategy(gen_update_stream)
slice_inputs = hypothesis_strategy(gen_slice_input)
u8 = st.integers(0, 255)


# ============================================================ Hypothesis tests

def _seed_list(name, seeds):
    if not seeds:
        pytest.skip(f"no {name} seeds")
    return seeds


def _finish(name):
    assert COUNTS[name] >= budget(name), \
        f"{name}: {COUNTS[name]} examples ran, {budget(name)} wanted"
    COMPLETED.add(name)


_SEEDS = st.integers(0, 2 ** 16)


def test_raw_bytes():
    """Random bytes, raw and behind valid headers (multi-message streams too)."""
    @hsettings("raw")
    @given(raw_inputs, _SEEDS)
    def run(data_ctx, seed):
        COUNTS["raw"] += 1
        check_stream(data_ctx[0], data_ctx[1], seed)
    run()
    _finish("raw")


def test_fuzzy_updates():
    """Structure-aware random UPDATEs: every attribute code, MP_REACH/UNREACH
    of EVPN and IP families, EVPN routes of every type, wrong lengths."""
    @hsettings("fuzzy_update")
    @given(fuzzy_update_streams, _SEEDS)
    def run(data_ctx, seed):
        COUNTS["fuzzy_update"] += 1
        check_stream(data_ctx[0], data_ctx[1], seed)
    run()
    _finish("fuzzy_update")


def test_pcap_mutations():
    """Mutations (bit flips, truncations, insertions, length-field edits,
    consistent resizes) of every message of the pcaps, several contexts."""
    seeds = _seed_list("pcap", pcap_messages())

    @hsettings("pcap_mutation")
    @given(hypothesis_strategy(gen_mutated_stream, seeds), _SEEDS)
    def run(data_ctx, seed):
        COUNTS["pcap_mutation"] += 1
        check_stream(data_ctx[0], data_ctx[1], seed)
    run()
    _finish("pcap_mutation")


def test_corpus_mutations():
    """Mutations of the regression corpus (seeds and past failures)."""
    seeds = _seed_list("corpus", corpus_messages())

    @hsettings("corpus_mutation")
    @given(hypothesis_strategy(gen_mutated_stream, seeds), _SEEDS)
    def run(data_ctx, seed):
        COUNTS["corpus_mutation"] += 1
        check_stream(data_ctx[0], data_ctx[1], seed)
    run()
    _finish("corpus_mutation")


@st.composite
def strategy_message_input(draw):
    """A valid message of any kind from tests/strategies.py, encoded by the
    reference twin; a third of them mutated, a fifth decoded under another
    context than the one they were made for."""
    ctx, msg = draw(S.contexts_and_messages())
    data = S.encodable(P, msg, ctx)
    assume(data is not None)
    g = HypothesisDraws(draw)
    if g.int(0, 2) == 0:
        data = gen_mutated_message(g, data, ctx)
    if g.int(0, 4) == 0:
        ctx = g.choice(CONTEXT_LIST)
    return data, ctx


def test_strategy_messages():
    """Valid messages of every kind from tests/strategies.py (and mutations)."""
    @hsettings("strategy_messages")
    @given(strategy_message_input(), _SEEDS)
    def run(data_ctx, seed):
        COUNTS["strategy_messages"] += 1
        check_stream(data_ctx[0], data_ctx[1], seed)
    run()
    _finish("strategy_messages")


def test_raw_slices():
    """decode_attributes / decode_evpn_nlri / decode_prefixes on slices of
    attribute lists, EVPN NLRI, prefixes and random bytes."""
    @hsettings("slices")
    @given(slice_inputs)
    def run(args):
        COUNTS["slices"] += 1
        check_slice(*args)
    run()
    _finish("slices")


NEXT_HOPS = st.one_of(
    st.none(), S.ipv4_addresses, S.ipv6_addresses,
    st.tuples(S.ipv6_addresses, S.ipv6_addresses).map(lambda t: f"{t[0]},{t[1]}"),
    st.binary(max_size=40), st.sampled_from(("not-an-address", "", "1.2.3.4,fe80::1")))


@st.composite
def pack_input(draw):
    """Routes of one family (sometimes one of another, sometimes repeated
    into hundreds so they need several UPDATEs), attributes (sometimes MP
    ones, which are dropped, or one too big to leave room), a next hop
    (sometimes none or not an address), a context, announce or withdraw."""
    ctx = draw(st.one_of(contexts_fixed, S.contexts))
    fam = draw(st.sampled_from(S.MP_FAMILIES + [None]))
    if fam is None:
        afi = draw(st.one_of(st.integers(0, 0xFFFF), st.integers(0, 2 ** 20)))
        safi = draw(st.one_of(u8, st.integers(0, 300)))
        routes = draw(st.lists(st.binary(min_size=1, max_size=30).map(
            lambda d: RawNlri(afi, safi, d)), min_size=0, max_size=3))
    else:
        routes = draw(st.lists(S.routes_for(fam, ctx), min_size=0, max_size=6))
    reps = draw(st.sampled_from((1, 1, 1, 10, 60, 200)))
    routes = routes * reps
    if routes and draw(st.integers(0, 9)) == 0:  # a route of another family
        other = draw(st.sampled_from(S.MP_FAMILIES))
        routes.insert(draw(st.integers(0, len(routes))), draw(S.routes_for(other, ctx)))
    if draw(st.integers(0, 4)) == 0:
        attrs = []
    else:
        attrs = draw(S.attribute_sets(ctx, mandatory=True, classic=fam == (1, 1)))
        if draw(st.integers(0, 4)) == 0:  # MP attributes are dropped by pack_updates
            attrs.insert(0, draw(S.mp_reach(ctx)))
        if draw(st.integers(0, 5)) == 0:  # something big: no room left
            attrs.append(bgpevpn.UnknownAttribute(99, bytes(draw(st.sampled_from(
                (4000, 4060, 4070, 65000)))), 0xC0))
    if draw(st.booleans()):
        attrs = Attributes(attrs)
    next_hop = draw(NEXT_HOPS)
    return routes, attrs, next_hop, ctx, draw(st.integers(0, 3)) == 0


def test_pack_updates():
    """pack_updates: the same messages for the same routes, attributes, next
    hop and context; the same exception on bad input."""
    @hsettings("pack_updates")
    @given(pack_input())
    def run(args):
        COUNTS["pack_updates"] += 1
        check_pack(*args)
    run()
    _finish("pack_updates")


# ============================================================ attribute encoding, block cache
# Not in WEIGHTS (their examples are on top of the budget): the C twin's
# encode_attribute / encode_attribute_value / next_hop_bytes (common cases in
# C, the rest through the Python twin) on values of every shape, and
# decode_columns on streams whose UPDATEs repeat one attribute block (the C
# twin decodes a repeated block once per call) around NLRI that is valid,
# empty or malformed.

EXTRA_EXAMPLES = max(50, TOTAL_EXAMPLES // 20)

_odd_ints = st.one_of(st.integers(-3, 300), st.sampled_from(
    (0xFFFF, 0x10000, 0xFFFFFF, 0x1000000, 0xFFFFFFFF, 2 ** 32, 2 ** 63, -2 ** 63, 2 ** 70)),
    st.booleans())
_odd_values = st.one_of(_odd_ints, st.none(), st.text(max_size=5), st.binary(max_size=9),
                        st.floats(allow_nan=False, width=16))
_address_texts = st.one_of(
    S.ipv4_addresses, S.ipv6_addresses,
    st.sampled_from(("", "1.2.3.4\x00", "\ud800", "01.2.3.4", " 1.2.3.4", "1.2.3.4 ",
                     "1.2.3", "1.2.3.4.5", "256.1.1.1", "::", "::ffff:1.2.3.4", "fe80::1%eth0",
                     "1.2.3.4,fe80::1", "fe80::1,fe80::2", "a:b", "abc", "1.2.3.4,", "é")),
    st.text(alphabet="0123456789abcdefABCDEF.:, x", max_size=12))


def _ext_comm(draw_bytes):
    return bgpevpn.ExtCommunity(draw_bytes) if len(draw_bytes) == 8 else draw_bytes


@st.composite
def odd_attribute(draw):
    """An attribute of a class encode_attribute handles in C, with a value
    that is usually well formed and sometimes not (type, range), odd flags,
    sometimes raw octets."""
    from bgpevpn import attributes as A
    kind = draw(st.sampled_from(("origin", "as_path", "as4_path", "next_hop", "med",
                                 "local_pref", "otc", "originator", "atomic", "communities",
                                 "ext", "pmsi", "unknown", "cluster")))
    good = draw(st.integers(0, 2)) != 0
    if kind == "origin":
        a = A.Origin(draw(st.integers(0, 2) if good else _odd_values))
    elif kind in ("as_path", "as4_path"):
        cls = A.AsPath if kind == "as_path" else A.As4Path
        a = cls(draw(st.lists(st.tuples(st.integers(1, 4), st.lists(
            st.integers(0, 0xFFFFFFFF), max_size=300).map(tuple)), max_size=3)),
            four_octet=draw(st.booleans()))
        if not good:
            a.value = draw(st.one_of(
                _odd_values, st.lists(st.tuples(_odd_ints, st.lists(_odd_ints, max_size=3)
                                                .map(tuple)), max_size=2).map(tuple),
                st.just(((2, [1, 2]),)), st.just(((2, (1, 2), 3),)), st.just([(2, (1,))])))
    elif kind in ("next_hop", "originator"):
        cls = A.NextHop if kind == "next_hop" else A.OriginatorId
        a = cls(draw(S.ipv4_addresses if good else st.one_of(_address_texts, _odd_values)))
    elif kind in ("med", "local_pref", "otc"):
        cls = {"med": A.Med, "local_pref": A.LocalPref, "otc": A.Otc}[kind]
        a = cls(draw(S.u32 if good else _odd_values))
    elif kind == "atomic":
        a = A.AtomicAggregate()
    elif kind == "communities":
        v = draw(st.lists(S.u32 if good else _odd_values, max_size=4))
        a = A.Communities(draw(st.sampled_from((tuple, list)))(v))
    elif kind == "ext":
        a = A.ExtCommunities([bgpevpn.ExtCommunity.route_target(65000, 100)])
        a.value = tuple(draw(st.lists(st.binary(min_size=8, max_size=8).map(_ext_comm),
                                      max_size=40))) if good else draw(st.one_of(
            _odd_values, st.lists(st.one_of(st.binary(max_size=9), _odd_ints),
                                  max_size=3).map(tuple),
            st.lists(st.binary(min_size=8, max_size=8), max_size=2)))
    elif kind == "pmsi":
        a = A.PmsiTunnel((0, 6, 100, b"\x01\x02\x03\x04"))
        if good:
            a.value = A.PmsiTunnelValue(draw(S.u8), draw(S.u8), draw(st.integers(0, 0xFFFFFF)),
                                        draw(st.binary(max_size=20)))
        else:
            a.value = draw(st.one_of(
                st.builds(A.PmsiTunnelValue, _odd_ints, _odd_ints, _odd_ints,
                          st.one_of(st.binary(max_size=5), _odd_values)),
                st.just((0, 6, 100, b"\x01\x02\x03\x04")), _odd_values))
    elif kind == "cluster":
        a = A.ClusterList(tuple(draw(st.lists(S.ipv4_addresses, max_size=3))))
    else:
        a = A.UnknownAttribute(draw(st.one_of(S.u8, _odd_ints)), draw(st.binary(max_size=300)),
                               draw(S.u8))
    if draw(st.integers(0, 3)) == 0:
        a.flags = draw(st.one_of(S.u8, _odd_ints))
    if draw(st.integers(0, 4)) == 0 and kind != "unknown":
        a.raw = draw(st.one_of(st.binary(max_size=300), st.binary(max_size=4).map(bytearray)))
    return a


def _outcome(fn):
    try:
        return ("ok", type(r := fn()), r)
    except Exception as e:  # noqa: BLE001 -- bad input: the same exception from both
        return ("raise", type(e), str(e))


def test_encode_attribute_values():
    """encode_attribute and encode_attribute_value of both twins: the same
    octets, or the same exception (class and text)."""
    @settings(max_examples=EXTRA_EXAMPLES, deadline=None,
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(odd_attribute(), contexts_fixed)
    def run(attr, ctx):
        for name in ("encode_attribute", "encode_attribute_value"):
            rp = _outcome(lambda: getattr(P, name)(attr, ctx))
            rc = _outcome(lambda: getattr(C, name)(attr, ctx))
            assert rp == rc, (name, attr, attr.value, attr.flags, attr.raw, ctx, rp, rc)
    run()


def test_next_hop_bytes():
    """next_hop_bytes of both twins on addresses, lists of them and junk."""
    @settings(max_examples=EXTRA_EXAMPLES, deadline=None,
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(st.one_of(_address_texts, _odd_values, st.binary(max_size=20).map(bytearray)))
    def run(nh):
        rp = _outcome(lambda: P.next_hop_bytes(nh))
        rc = _outcome(lambda: C.next_hop_bytes(nh))
        assert rp == rc, (nh, rp, rc)
    run()


def test_pack_updates_families_of_one_class():
    """RawNlri of two families in one call: both twins refuse it."""
    routes = [RawNlri(1000, 1, b"\x01"), RawNlri(1001, 1, b"\x02")]
    check_pack(routes, [], "1.2.3.4", Context(), False)
    check_pack(routes[:1] * 3, [], "1.2.3.4", Context(), False)


def _mp_update(attr_bytes, code, head, nlri, extended):
    value = head + nlri
    if extended or len(value) > 255:
        mp = bytes([0x90, code]) + struct.pack("!H", len(value)) + value
    else:
        mp = bytes([0x80, code, len(value)]) + value
    attrs = attr_bytes + mp
    body = b"\x00\x00" + struct.pack("!H", len(attrs)) + attrs
    return b"\xff" * 16 + struct.pack("!H", 19 + len(body)) + b"\x02" + body


@st.composite
def repeated_blocks(draw):
    """A stream of UPDATEs sharing one attribute block (and next hop), each
    with its own NLRI: routes, none, or bytes that are no valid route; some
    announce, some withdraw, some are KEEPALIVEs in between."""
    ctx = draw(st.sampled_from([CONTEXTS["default"], CONTEXTS["as2"], CONTEXTS["extended"]]))
    attrs = draw(S.attribute_sets(ctx, mandatory=draw(st.booleans()), exclude=(14, 15)))
    attr_bytes = b"".join(P.encode_attribute(a, ctx) for a in attrs)
    nh = draw(st.sampled_from((b"\x01\x02\x03\x04", b"\x00" * 16, b"\x01\x02\x03")))
    reach_head = b"\x00\x19\x46" + bytes([len(nh)]) + nh + b"\x00"
    msgs = []
    for _ in range(draw(st.integers(1, 5))):
        what = draw(st.sampled_from(("routes", "routes", "empty", "junk", "keepalive")))
        if what == "keepalive":
            msgs.append(b"\xff" * 16 + b"\x00\x13\x04")
            continue
        if what == "routes":
            nlri = b"".join(map(bytes, draw(st.lists(S.evpn_routes, min_size=1, max_size=4))))
        elif what == "empty":
            nlri = b""
        else:
            nlri = draw(st.binary(min_size=1, max_size=60))
        withdraw = draw(st.integers(0, 3)) == 0
        msg = _mp_update(b"" if withdraw else attr_bytes, 15 if withdraw else 14,
                         b"\x00\x19\x46" if withdraw else reach_head, nlri, draw(st.booleans()))
        if len(msg) <= ctx.max_message_length:
            msgs.append(msg)
    return b"".join(msgs), ctx


def test_decode_columns_repeated_blocks():
    """decode_columns when attribute blocks repeat: the same columns, the
    same errors (a repeated block is decoded once by the C twin)."""
    @settings(max_examples=EXTRA_EXAMPLES, deadline=None,
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(repeated_blocks())
    def run(args):
        data, ctx = args
        _check_decode_columns(data, ctx, len(data))
        _check_decode_columns(data + data, ctx, len(data) + 1)
    run()


def test_decode_columns_short_routes_grow_the_columns():
    """Routes of 2 and 4 octets (far more rows than a type-2 stream of the
    same size): the C twin's columns grow past their first reservation."""
    from bgpevpn.routes import RawEvpnRoute
    ctx = CONTEXTS["extended"]
    attrs = [bgpevpn.attributes.Origin(0), bgpevpn.attributes.AsPath([])]
    for body in (b"\x0c\x00", b"\x0b\x02\xab\xcd"):
        routes = [bytes.__new__(RawEvpnRoute, body)] * 40000
        msgs = P.pack_updates(routes, attrs, "192.0.2.1", ctx)
        msgs += P.pack_updates(routes[:5000], [], None, ctx, withdraw=True)
        data = b"".join(msgs)
        assert len(data) > 65536   # also the path that pauses the collector
        _check_decode_columns(data, ctx, 1)
        cols = C.decode_columns(data, ctx)
        assert len(cols) == 45000


def test_fast_objects_enabled():
    """The C twin builds attribute objects by setting their slots, checked at
    import against the classes' constructors; False means bgpevpn/attributes.py
    changed and _wire_c's fast constructors need the same change."""
    assert C.fast_objects_enabled()


# ============================================================ deterministic replays

@pytest.mark.parametrize("ctx", CONTEXT_LIST, ids=list(CONTEXTS))
def test_pcap_messages_unmutated(ctx):
    """Every pcap message alone and every pcap as one stream, every context."""
    streams = pcap_streams()
    assert streams, "no pcaps found"
    for name, msgs in streams.items():
        for i, m in enumerate(msgs):
            check_stream(m, ctx, seed=i)
        check_stream(b"".join(msgs), ctx, seed=len(msgs), slices=False)


def test_every_length_field_edited():
    """Deterministic sweep: every length field the walker locates in every
    pcap and corpus message, set to 0, one less, one more and its maximum
    (the header length then fixed so the body parsers are reached); the
    context rotates over the four."""
    msgs = pcap_messages() + [m for m in corpus_messages() if len(m) <= 4096]
    assert msgs
    edits = 0
    for i, msg in enumerate(msgs):
        ctx = CONTEXT_LIST[i % len(CONTEXT_LIST)]
        for off, size, _, _, what in length_fields(msg, ctx):
            if off + size > len(msg):
                continue
            old = int.from_bytes(msg[off:off + size], "big")
            top = (1 << (8 * size)) - 1
            for new in sorted({0, (old - 1) & top, (old + 1) & top, top} - {old}):
                buf = bytearray(msg)
                _set_field(buf, off, size, new)
                check_stream(bytes(buf), ctx, seed=i + off, slices=False)
                edits += 1
    assert edits > 1000


def _corpus_ids():
    return [os.path.basename(p) for p in corpus_files()]


@pytest.mark.parametrize("path", corpus_files(), ids=_corpus_ids())
@pytest.mark.parametrize("ctx", CONTEXT_LIST, ids=list(CONTEXTS))
def test_corpus(path, ctx):
    """The regression corpus, under every context, fed in several chunkings;
    ``name@pos-end-ap-len.bin`` also replays that raw slice, and short files
    have every slice checked."""
    with open(path, "rb") as f:
        data = f.read()
    for seed in (0, 1, 3, 19):
        check_stream(data, ctx, seed)
    stem = os.path.basename(path)[:-4]
    if "@" in stem:
        pos, end, ap, addr_len = map(int, stem.rsplit("@", 1)[1].split("-"))
        check_slice(data, pos, end, ctx, bool(ap), addr_len)
    if len(data) <= 24:
        for pos in range(len(data) + 1):
            for end in range(pos, len(data) + 1):
                for ap in (False, True):
                    check_slice(data, pos, end, ctx, ap, 16 if ap else 4)


@pytest.mark.parametrize("ctx", CONTEXT_LIST, ids=list(CONTEXTS))
def test_large_streams(ctx):
    """Buffers of 64 KiB and more (the C twin decodes those with the garbage
    collector paused): whole, cut short, and with one bad message at the end;
    the collector must be running again afterwards, whatever happened."""
    import gc
    def clean(m):
        try:
            P.decode_message(m, ctx)
            return True
        except BGPError:
            return False

    msgs = [m for m in pcap_messages() + corpus_messages()
            if len(m) >= 19 and m[18] == 2 and clean(m)]
    stream = b"".join(msgs)
    stream = stream * (1 + (1 << 16) // max(1, len(stream)))
    assert len(stream) >= 1 << 16
    bad = stream + frame(2, b"\x00\x00\x00\x04\x40\x01\x01\x07")  # ORIGIN 7: treat-as-withdraw
    for data in (stream, stream[:-7], bad):
        assert gc.isenabled()
        check_stream(data, ctx, seed=len(data), slices=False)
        assert gc.isenabled(), "a twin left the garbage collector disabled"


def test_corpus_has_seeds():
    names = _corpus_ids()
    assert any(n.startswith("seed-") for n in names), "tests/corpus/ lost its seeds"


def test_package_under_test():
    """tools/asan.sh sets BGPEVPN_DIFF_EXPECT_DIR: the package must be that copy."""
    want = os.environ.get("BGPEVPN_DIFF_EXPECT_DIR")
    if want:
        assert os.path.realpath(PACKAGE_DIR) == os.path.realpath(want), PACKAGE_DIR
        assert os.path.realpath(os.path.dirname(C.__file__)) == os.path.realpath(want), \
            C.__file__


# ============================================================ totals and saving

def test_zz_example_budget():
    """Last test of the module: the property tests together ran at least
    BGPEVPN_DIFF_EXAMPLES examples."""
    if COMPLETED != set(WEIGHTS):
        pytest.skip(f"not every property test ran to the end (ran: {sorted(COMPLETED)})")
    total = sum(COUNTS.values())
    print(f"\ndifferential: {total} Hypothesis examples ({COUNTS})")
    assert total >= TOTAL_EXAMPLES, f"{total} examples ran, {TOTAL_EXAMPLES} wanted"


def save_failures(directory: str = CORPUS_DIR) -> list:
    """Write the smallest failing stream per (kind, function) to the corpus."""
    written = []
    for (kind, function), (data, ctx, args) in sorted(FAILURES.items(), key=repr):
        if not isinstance(data, (bytes, bytearray)):
            continue  # pack_updates: its arguments are in the failure message, not a stream
        digest = hashlib.sha1(data).hexdigest()[:12]
        where = ""
        if function in SLICE_FUNCTIONS and args:
            where = "@" + "-".join(map(str, args))
        path = os.path.join(directory, f"found-{kind}-{function}-{digest}{where}.bin")
        if not os.path.exists(path):
            os.makedirs(directory, exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            written.append(path)
    return written


@pytest.fixture(scope="module", autouse=True)
def _save_failures_at_end():
    yield
    if os.environ.get("BGPEVPN_DIFF_SAVE", "1") != "0" and FAILURES:
        for path in save_failures():
            print(f"\ndifferential: saved a failing input to {path}")


def test_decode_columns_errors_in_message_order():
    """The C twin decodes every message's attributes before it writes any
    route: an NLRI error in an earlier UPDATE still wins over an attribute
    error in a later one (and the reverse), as in the Python twin."""
    from bgpevpn.routes import MacIpRoute
    ctx = CONTEXTS["extended"]
    routes = [MacIpRoute.build("192.0.2.1:7", (0x020000000000 + i).to_bytes(6, "big"),
                               labels=(100,)) for i in range(3)]
    attrs = [bgpevpn.attributes.Origin(0), bgpevpn.attributes.AsPath([])]
    good1 = P.pack_updates(routes, attrs, "192.0.2.1", ctx)[0]
    good2 = P.pack_updates(routes, attrs + [bgpevpn.attributes.LocalPref(5)], "192.0.2.2", ctx)[0]
    bad_nlri = bytearray(good1)
    bad_nlri[good1.index(bytes(routes[1])) + 24] = 47          # MAC length 47
    at = good2.index(b"\x40\x01\x01\x00")
    bad_attr = bytearray(good2)
    bad_attr[at + 3] = 9                                       # ORIGIN 9
    bad_nlri, bad_attr = bytes(bad_nlri), bytes(bad_attr)
    for n, data in enumerate((bad_nlri + bad_attr, bad_attr + bad_nlri, good1 + bad_attr,
                              good1 + bad_nlri + good2, good2 + good1 + bad_attr + bad_nlri)):
        _check_decode_columns(data, ctx, n)
    with pytest.raises(bgpevpn.UpdateMessageError) as e:
        C.decode_columns(bad_nlri + bad_attr, ctx)
    assert (e.value.code, e.value.subcode) == (3, 10)
    with pytest.raises(bgpevpn.UpdateMessageError) as e:
        C.decode_columns(good1 + bad_attr + bad_nlri, ctx)
    assert (e.value.code, e.value.subcode) == (3, 6)
