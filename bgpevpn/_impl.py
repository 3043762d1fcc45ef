"""The one place that chooses the codec twin.

``BGPEVPN_NO_EXTENSIONS=1`` forces the pure-Python twin;
``BGPEVPN_REQUIRE_EXTENSIONS=1`` makes a missing C twin an ImportError.
Otherwise the C twin is used when it was built, else the Python twin.
"""
from __future__ import annotations

from . import _wire_py
from ._env import NO_EXTENSIONS, REQUIRE_EXTENSIONS

wire_py = _wire_py
wire_c = None
if not NO_EXTENSIONS:
    try:
        from . import _wire_c as wire_c  # type: ignore[attr-defined,no-redef]
    except ImportError as exc:
        if REQUIRE_EXTENSIONS:
            raise ImportError("BGPEVPN_REQUIRE_EXTENSIONS is set but the C twin "
                              f"bgpevpn._wire_c is not importable: {exc}") from exc
        wire_c = None
elif REQUIRE_EXTENSIONS:
    raise ImportError("BGPEVPN_NO_EXTENSIONS and BGPEVPN_REQUIRE_EXTENSIONS are both set")

codec = wire_c if wire_c is not None else wire_py
IMPLEMENTATION = codec.IMPLEMENTATION
