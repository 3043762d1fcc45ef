"""What the daemons (``bgpevpn rr``, ``bgpevpn vtep``) share: reading their
TOML configuration, and the local JSON status socket they answer on (one
command line in, one JSON document out)."""
from __future__ import annotations

import asyncio
import ipaddress
import json
import os


def read_toml(path: str, error: type) -> dict:
    """The TOML file at ``path``; ``error`` (the daemon's ConfigError) with
    the path when it cannot be read or parsed."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise error(f"cannot read {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise error(f"{path}: {e}") from None


def bgp_section(cfg: dict, error: type) -> dict:
    """The ``[bgp]`` section every daemon needs, with its ``asn`` and an IPv4
    ``router_id``; ``error`` naming what is missing or wrong."""
    bgp = cfg.get("bgp")
    if not isinstance(bgp, dict):
        raise error("missing [bgp] section")
    for k in ("asn", "router_id"):
        if k not in bgp:
            raise error(f"[bgp] needs {k}")
    try:
        ipaddress.IPv4Address(bgp["router_id"])
    except ValueError as e:
        raise error(f"[bgp]: {e}") from None
    return bgp


def peer_entry(entry: dict, section: str, error: type) -> None:
    """One ``[[section]]`` peer entry: an IP ``address`` and a ``mode`` of
    active, passive or both (the default); ``error`` otherwise."""
    if "address" not in entry:
        raise error(f"a [[{section}]] entry needs an address")
    try:
        ipaddress.ip_address(entry["address"])
    except ValueError as e:
        raise error(f"[[{section}]]: {e}") from None
    if entry.get("mode", "both") not in ("active", "passive", "both"):
        raise error(f"[[{section}]] {entry['address']}: mode is active, passive or both")


class StatusSocket:
    """A unix socket answering ``answer(command line)`` as JSON; the file
    is replaced at start and removed at close."""

    def __init__(self, path: str | None, answer):
        self.path, self.answer, self._server = path, answer, None

    async def start(self) -> None:
        if not self.path:
            return
        if os.path.exists(self.path):
            os.unlink(self.path)
        self._server = await asyncio.start_unix_server(self._handle, self.path)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
            if os.path.exists(self.path):
                os.unlink(self.path)

    async def _handle(self, reader, writer) -> None:
        try:
            line = (await asyncio.wait_for(reader.readline(), 5)).decode().strip()
            writer.write(json.dumps(self.answer(line)).encode() + b"\n")
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()


async def query(socket_path: str, command: str):
    """Ask a running daemon: ``command`` on its status socket, the JSON answer."""
    reader, writer = await asyncio.open_unix_connection(socket_path)
    writer.write(command.encode() + b"\n")
    await writer.drain()
    data = await reader.read()
    writer.close()
    return json.loads(data)


__all__ = ["read_toml", "bgp_section", "StatusSocket", "query"]
