"""Our decoder against Wireshark's, on the real captures in pcaps/.

tests/expected/<capture>.jsonl holds one JSON object per BGP message, written
once by tools/tshark_expected.py from tshark's dissection and reviewed by hand
(tests/expected/README.md).  They are never regenerated from our decoder.

Per capture: read the BGP messages with ``bgpevpn.pcap.read_bgp_messages``,
decode each with the context its TCP direction negotiated (the OPEN seen in
each direction of the connection; ``Context()`` before any OPEN), group
decoded and expected messages by direction (src, dst) and compare them in
order: only the keys present in the expected object, recursively; a list must
have the same length and each element is compared the same way.  A message
tshark flagged (``tshark_error``) is compared on ``type`` only.  The frame that
completes each message must be the same for tshark and our reader.

Decoder errors (docs/errors.md):
- an RFC 7606 error below session reset carries the parsed UPDATE
  (``err.update``); that UPDATE is compared and the error only warned about
  (``DecoderWarning``), since tshark does not judge attribute semantics;
- on a message tshark flagged, a ``BGPError`` subclass of the same message
  type (``UpdateMessageError`` for an UPDATE, ...) counts as agreeing on the
  type: both dissectors call the message malformed (warned about too);
- any other exception is a difference.

Both codec twins run (the ``codec`` fixture of tests/conftest.py); the active
one is ``bgpevpn.decode_messages``.
"""
from __future__ import annotations

import json
import os
import warnings
from collections import defaultdict

import pytest

import bgpevpn
from bgpevpn.pcap import read_bgp_messages

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTED_DIR = os.path.join(HERE, "expected")
PCAP_DIR = os.path.join(os.path.dirname(HERE), "pcaps")

# Keys of an expected line that are not schema keys (see tools/tshark_expected.py).
META_KEYS = frozenset({"frame", "src", "dst", "tshark_error", "tshark_notes"})
MAX_REPORTED = 40


# The BGPError subclass a decoder raises for a malformed message of each type.
ERROR_CLASS = {"OPEN": "OpenMessageError", "UPDATE": "UpdateMessageError",
               "ROUTE-REFRESH": "RouteRefreshMessageError"}


class DecoderWarning(UserWarning):
    """Our decoder raised a BGPError the comparison tolerates (see the module doc)."""


def _captures() -> list:
    if not os.path.isdir(EXPECTED_DIR):
        return []
    return sorted(f[:-len(".jsonl")] for f in os.listdir(EXPECTED_DIR) if f.endswith(".jsonl"))


def _load_expected(name: str) -> list:
    with open(os.path.join(EXPECTED_DIR, name + ".jsonl"), encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _same_scalar(exp, got) -> bool:
    # bool is an int in Python: True must not pass for 1, nor 1.0 for 1
    if isinstance(exp, bool) or isinstance(got, bool):
        return type(exp) is type(got) and exp == got
    if isinstance(exp, int) and isinstance(got, int):
        return exp == got
    return type(exp) is type(got) and exp == got


def compare(exp, got, path: str, out: list) -> None:
    """Append (key path, expected, got) for every difference on the expected keys."""
    if isinstance(exp, dict):
        if not isinstance(got, dict):
            out.append((path or "<message>", exp, got))
            return
        for key, val in exp.items():
            if not path and key in META_KEYS:
                continue
            sub = f"{path}.{key}" if path else key
            if key not in got:
                out.append((sub, val, "<key missing>"))
            else:
                compare(val, got[key], sub, out)
    elif isinstance(exp, list):
        if not isinstance(got, list) or len(got) != len(exp):
            out.append((path + " (list)", exp, got))
            return
        for i, (e, g) in enumerate(zip(exp, got)):
            compare(e, g, f"{path}[{i}]", out)
    elif not _same_scalar(exp, got):
        out.append((path, exp, got))


def _short(v, limit: int = 300) -> str:
    s = v if v == "<key missing>" else json.dumps(v)
    return s if len(s) <= limit else s[:limit] + "..."


def decode_capture(path: str, decode_messages=None) -> list:
    """[(CapturedMessage, schema dict or None, error text or None)] in reader order.

    ``decode_messages`` defaults to ``bgpevpn.decode_messages`` (the active twin)."""
    decode_messages = decode_messages or bgpevpn.decode_messages
    opens: dict = {}  # (src, dst) -> decoded OPEN sent in that direction
    out = []
    for cm in read_bgp_messages(path):
        mine, other = opens.get((cm.src, cm.dst)), opens.get((cm.dst, cm.src))
        ctx = bgpevpn.Context.negotiated(mine, other) if mine is not None else bgpevpn.Context()
        try:
            msgs = decode_messages(cm.data, ctx)
        except bgpevpn.BGPError as exc:
            update = getattr(exc, "update", None)
            if update is None:
                out.append((cm, None, f"decode_messages raised {type(exc).__name__}: {exc}"))
                continue
            # RFC 7606 below session reset: the parsed UPDATE rides on the error
            # (docs/errors.md); tshark does not judge attribute semantics, so the
            # UPDATE is compared and the error only reported.
            warnings.warn(f"{os.path.basename(path)} frame {cm.frame}: {exc}", DecoderWarning)
            msgs = [update]
        except Exception as exc:  # noqa: BLE001 - a decoder failure is a finding, not a crash
            out.append((cm, None, f"decode_messages raised {type(exc).__name__}: {exc}"))
            continue
        if len(msgs) != 1:
            out.append((cm, None, f"decode_messages returned {len(msgs)} messages for one"))
            continue
        msg = msgs[0]
        if msg.type == "OPEN":
            opens[(cm.src, cm.dst)] = msg
        try:
            d = json.loads(json.dumps(msg.to_dict()))
        except Exception as exc:  # noqa: BLE001 - reported as a difference
            out.append((cm, None, f"to_dict() is not JSON: {type(exc).__name__}: {exc}"))
            continue
        out.append((cm, d, None))
    return out


def mismatches(name: str, decode_messages=None) -> list:
    """Human-readable differences between our decode and tshark's for one capture."""
    expected = _load_expected(name)
    got = decode_capture(os.path.join(PCAP_DIR, name), decode_messages)
    exp_by_dir, got_by_dir = defaultdict(list), defaultdict(list)
    for e in expected:
        exp_by_dir[(e["src"], e["dst"])].append(e)
    for g in got:
        got_by_dir[(g[0].src, g[0].dst)].append(g)
    problems = []
    for direction in sorted(set(exp_by_dir) | set(got_by_dir)):
        exps, gots = exp_by_dir.get(direction, []), got_by_dir.get(direction, [])
        where = f"{direction[0]} -> {direction[1]}"
        if len(exps) != len(gots):
            problems.append(f"{where}: tshark has {len(exps)} messages, our reader "
                            f"{len(gots)} (frames {[e['frame'] for e in exps]} vs "
                            f"{[g[0].frame for g in gots]})")
        for i, (e, (cm, d, err)) in enumerate(zip(exps, gots)):
            label = f"frame {e['frame']} ({where}, message {i + 1} of this direction)"
            if cm.frame != e["frame"]:
                problems.append(f"{label}: our reader completes it in frame {cm.frame}")
            if err is not None:
                if "tshark_error" in e and err.startswith(f"decode_messages raised "
                                                          f"{ERROR_CLASS.get(e['type'])}:"):
                    # Wireshark flagged the message and our decoder rejects it with the
                    # error class of the same message type: both call it malformed.
                    warnings.warn(f"{name} {label}: tshark: {e['tshark_error']}; ours: {err}",
                                  DecoderWarning)
                    continue
                problems.append(f"{label}: {err}")
                continue
            diffs: list = []
            if "tshark_error" in e:
                compare({"type": e["type"]}, d, "", diffs)
            else:
                compare(e, d, "", diffs)
            for key, ev, gv in diffs:
                problems.append(f"{label}: {key}: expected {_short(ev)}, got {_short(gv)}")
    return problems


@pytest.mark.parametrize("name", _captures())
def test_capture_matches_tshark(name, codec):
    """``codec`` (tests/conftest.py) runs both twins; the active one is what
    ``bgpevpn.decode_messages`` is."""
    assert os.path.exists(os.path.join(PCAP_DIR, name)), f"pcaps/{name} is missing"
    problems = mismatches(name, codec.decode_messages)
    if problems:
        shown = problems[:MAX_REPORTED]
        more = len(problems) - len(shown)
        pytest.fail(f"{name}: {len(problems)} difference(s) from tshark's decode:\n  "
                    + "\n  ".join(shown) + (f"\n  ... and {more} more" if more else ""),
                    pytrace=False)


def test_expected_files_exist():
    assert _captures(), "tests/expected/*.jsonl missing: run tools/tshark_expected.py"
