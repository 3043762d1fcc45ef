"""The environment switches of the C extensions (read once, at import).

``BGPEVPN_NO_EXTENSIONS=1``: use none of them (pure Python on purpose);
``BGPEVPN_REQUIRE_EXTENSIONS=1``: a missing one is an ImportError.
"""
from __future__ import annotations

import os


def flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


NO_EXTENSIONS = flag("BGPEVPN_NO_EXTENSIONS")
REQUIRE_EXTENSIONS = flag("BGPEVPN_REQUIRE_EXTENSIONS")
