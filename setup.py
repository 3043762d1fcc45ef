"""Build script: the package metadata lives in pyproject.toml; this file only
declares the Cython twins: the codec, the RIB's update loops and the pcap
record walk.

BGPEVPN_NO_EXTENSIONS=1 builds the pure-Python package on purpose.  Otherwise
a failure to compile the extension fails the build with a message saying so
(no silent fallback to the slow twin).  BGPEVPN_CFLAGS / BGPEVPN_LDFLAGS add
compiler and linker flags (tools/asan.sh uses them for AddressSanitizer).
"""
import os
import shlex

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
# The C twins: the codec, the RIB's update loops, the record walk of bgpevpn.pcap;
# and the route objects' memory (no GC header, their own allocator).
EXTENSIONS = {"bgpevpn._wire_c": os.path.join("bgpevpn", "_wire_c.pyx"),
              "bgpevpn.rib._update_c": os.path.join("bgpevpn", "rib", "_update_c.pyx"),
              "bgpevpn._pcap_c": os.path.join("bgpevpn", "_pcap_c.pyx"),
              "bgpevpn._routemem_c": os.path.join("bgpevpn", "_routemem_c.pyx")}


def _flag(name):
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


class BuildExt(build_ext):
    """Turns a compiler failure into one clear message."""

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # distutils raises CompileError/LinkError
            raise SystemExit(
                f"\nbgpevpn: compiling the C twin {ext.name} failed: {exc}\n"
                "A C compiler and the Python headers are needed (Debian: gcc python3-dev).\n"
                "To install the pure-Python package on purpose, set BGPEVPN_NO_EXTENSIONS=1.\n"
            ) from exc


ext_modules = []
if not _flag("BGPEVPN_NO_EXTENSIONS"):
    from Cython.Build import cythonize
    from setuptools import Extension

    cflags = shlex.split(os.environ.get("BGPEVPN_CFLAGS", ""))
    ldflags = shlex.split(os.environ.get("BGPEVPN_LDFLAGS", ""))
    ext_modules = cythonize(
        [Extension(name, [pyx], extra_compile_args=cflags, extra_link_args=ldflags)
         for name, pyx in EXTENSIONS.items()],
        compiler_directives={"language_level": "3"},
    )

setup(ext_modules=ext_modules, cmdclass={"build_ext": BuildExt})
