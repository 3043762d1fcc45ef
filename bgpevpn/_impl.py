"""The one place that chooses the codec twin.

``BGPEVPN_NO_EXTENSIONS=1`` forces the pure-Python twin;
``BGPEVPN_REQUIRE_EXTENSIONS=1`` makes a missing C twin an ImportError.
Otherwise the C twin is used when it was built, else the Python twin.
"""
from __future__ import annotations

from . import _wire_py
from ._env import NO_EXTENSIONS, REQUIRE_EXTENSIONS, extension  # noqa: F401 (re-exported)

wire_py = _wire_py
wire_c = extension("_wire_c")

codec = wire_c if wire_c is not None else wire_py
IMPLEMENTATION = codec.IMPLEMENTATION
