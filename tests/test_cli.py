"""``python -m bgpevpn decode`` as a subprocess: input forms, JSON lines,
exit codes (0 clean, 1 something malformed or skipped, 2 unusable input)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import bgpevpn

from test_messages import (FRR_OPEN, FRR_RT2, GOBGP_OPEN, MARKER, NOTIFICATION_KEYS, OPEN_KEYS,
                           TYPE3_PMSI, UPDATE_KEYS, h)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(bgpevpn.__file__)))
FRR_CAPTURE = "/work/shared/pcaps/frr-edgecore-evpn-rt2-rt3-7msgs.pcapng"

KEEPALIVE = h(f"{MARKER} 0013 04")
NOTIFICATION = h(f"{MARKER} 0021 03 06 02 0b 6d61696e74656e616e6365")
# RFC 7606 §7.1: ORIGIN 3 is malformed (treat-as-withdraw) but framed correctly
BAD_ORIGIN = h(f"""{MARKER} 0030 02 0000 0015
40 01 01 03  40 02 00  40 03 04 c0000201  40 05 04 00000064  18 0a0000""")
KEYS = {"OPEN": OPEN_KEYS, "UPDATE": UPDATE_KEYS, "NOTIFICATION": NOTIFICATION_KEYS,
        "KEEPALIVE": {"type", "length"}}


def run(*args, stdin: bytes | None = None):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-m", "bgpevpn", "decode", *args], input=stdin,
                       capture_output=True, env=env, cwd=REPO, timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def json_lines(out: str) -> list:
    lines = [ln for ln in out.splitlines() if ln.strip()]
    return [json.loads(ln) for ln in lines]


def assert_clean_stderr(err: str):
    assert "Traceback" not in err
    assert "Error:" not in err.replace("ERROR", "")


STREAM = FRR_OPEN + KEEPALIVE + FRR_RT2 + TYPE3_PMSI + NOTIFICATION


@pytest.fixture
def stream_file(tmp_path):
    p = tmp_path / "stream.bin"
    p.write_bytes(STREAM)
    return p


def _check_stream_json(out):
    objs = json_lines(out)
    assert [o["type"] for o in objs] == ["OPEN", "KEEPALIVE", "UPDATE", "UPDATE",
                                        "NOTIFICATION"]
    for o in objs:
        assert set(o) >= KEYS[o["type"]], o["type"]
    assert objs[0]["my_as"] == 4200000000
    assert objs[2]["announced"][0]["mac"] == "50:54:33:00:00:0a"
    assert objs[2]["announced"][0]["labels"] == [100]
    assert objs[3]["attributes"]["pmsi_tunnel"]["endpoint"] == "203.0.113.1"
    assert objs[4]["shutdown_message"] == "maintenance"
    assert [o["length"] for o in objs] == [len(FRR_OPEN), 19, len(FRR_RT2), len(TYPE3_PMSI),
                                           len(NOTIFICATION)]
    return objs


def test_json_file(stream_file):
    code, out, err = run(str(stream_file), "--json")
    assert code == 0, err
    assert_clean_stderr(err)
    _check_stream_json(out)


def test_json_matches_to_dict(stream_file):
    code, out, err = run(str(stream_file), "--json")
    want = [m.to_dict() for m in bgpevpn.decode_messages(STREAM, bgpevpn.Context.negotiated(
        bgpevpn.decode_message(FRR_OPEN)))]
    got = json_lines(out)
    for g, w in zip(got, want):
        assert {k: v for k, v in g.items() if k in w} == w


def test_plain_text(stream_file):
    code, out, err = run(str(stream_file))
    assert code == 0, err
    assert_clean_stderr(err)
    assert "OPEN" in out and "UPDATE" in out and "NOTIFICATION" in out and "KEEPALIVE" in out
    assert "50:54:33:00:00:0a" in out


def test_hex_argument():
    code, out, err = run("--json", "--hex", (FRR_RT2 + KEEPALIVE).hex())
    assert code == 0, err
    objs = json_lines(out)
    assert [o["type"] for o in objs] == ["UPDATE", "KEEPALIVE"]
    assert objs[0]["announced"][0]["rd"] == "203.0.113.1:2"


def test_hex_with_separators():
    text = ":".join(f"{b:02x}" for b in KEEPALIVE)
    code, out, err = run("--json", "--hex", text)
    assert code == 0, err
    assert [o["type"] for o in json_lines(out)] == ["KEEPALIVE"]


def test_hex_from_stdin():
    code, out, err = run("--json", "--hex", "-", stdin=(GOBGP_OPEN.hex() + "\n").encode())
    assert code == 0, err
    (o,) = json_lines(out)
    assert o["type"] == "OPEN" and o["my_as"] == 65000


def test_stdin():
    code, out, err = run("-", "--json", stdin=STREAM)
    assert code == 0, err
    assert_clean_stderr(err)
    _check_stream_json(out)


def test_malformed_message_in_the_middle(tmp_path):
    """Exit 1; the messages before and after the malformed one are printed."""
    p = tmp_path / "bad.bin"
    p.write_bytes(KEEPALIVE + FRR_RT2 + BAD_ORIGIN + TYPE3_PMSI + KEEPALIVE)
    code, out, err = run(str(p), "--json")
    assert code == 1
    assert_clean_stderr(err)
    objs = json_lines(out)
    assert [o["type"] for o in objs] == ["KEEPALIVE", "UPDATE", "ERROR", "UPDATE", "KEEPALIVE"]
    e = objs[2]
    assert (e["code"], e["subcode"], e["action"]) == (3, 6, "treat-as-withdraw")
    # plain text too
    code, out, err = run(str(p))
    assert code == 1
    assert_clean_stderr(err)
    assert out.count("UPDATE") >= 2 and "ERROR" in out


def test_garbage_between_messages(tmp_path):
    """A broken header mid-stream: skipped (exit 1), decoding resumes at the next marker."""
    p = tmp_path / "gap.bin"
    p.write_bytes(KEEPALIVE + b"\x00" * 13 + FRR_RT2 + KEEPALIVE)
    code, out, err = run(str(p), "--json")
    assert code == 1
    assert_clean_stderr(err)
    types = [o["type"] for o in json_lines(out)]
    assert types[0] == "KEEPALIVE" and types.count("SKIPPED") == 1
    assert types[-2:] == ["UPDATE", "KEEPALIVE"]


def test_truncated_last_message(tmp_path):
    p = tmp_path / "trunc.bin"
    p.write_bytes(KEEPALIVE + FRR_RT2[:50])
    code, out, err = run(str(p), "--json")
    assert code == 1
    assert_clean_stderr(err)
    assert [o["type"] for o in json_lines(out)] == ["KEEPALIVE", "SKIPPED"]


@pytest.mark.parametrize("content", [b"hello world, not BGP\n", b"\x00" * 64, b""])
def test_not_bgp(tmp_path, content):
    p = tmp_path / "junk.bin"
    p.write_bytes(content)
    code, out, err = run(str(p), "--json")
    assert code == 2
    assert_clean_stderr(err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("bgpevpn decode:")
    assert out == ""


def test_missing_file(tmp_path):
    code, out, err = run(str(tmp_path / "does-not-exist.bin"))
    assert code == 2
    assert_clean_stderr(err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "does-not-exist.bin" in lines[0]


def test_bad_hex():
    code, out, err = run("--hex", "ffzz")
    assert code == 2
    assert_clean_stderr(err)
    assert len([ln for ln in err.splitlines() if ln.strip()]) == 1


@pytest.mark.skipif(not os.path.exists(FRR_CAPTURE), reason="shared capture not present")
def test_frr_capture_7_updates():
    code, out, err = run(FRR_CAPTURE, "--json")
    assert code == 0, err
    assert_clean_stderr(err)
    objs = json_lines(out)
    updates = [o for o in objs if o["type"] == "UPDATE"]
    assert len(updates) == 7
    assert all(set(o) >= UPDATE_KEYS for o in updates)
    evpn = [r for o in updates for r in o["announced"] if r.get("safi") == "evpn"]
    assert sorted({r["route_type"] for r in evpn}) == [2, 3]
    assert sum(r["route_type"] == 2 for r in evpn) == 10
    assert sum(r["route_type"] == 3 for r in evpn) == 3
    code, out, err = run(FRR_CAPTURE)
    assert code == 0
    assert out.count("UPDATE") == 7
