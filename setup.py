"""Build script: the package metadata lives in pyproject.toml; this file only
declares the Cython twin of the codec when its source is present.

BGPEVPN_NO_EXTENSIONS=1 builds the pure-Python package on purpose.  Otherwise
a failure to compile the extension fails the build (no silent slow install).
"""
import os

from setuptools import setup

ext_modules = []
here = os.path.dirname(os.path.abspath(__file__))
pyx = os.path.join("bgpevpn", "_wire_c.pyx")
if os.environ.get("BGPEVPN_NO_EXTENSIONS", "").strip().lower() in ("", "0", "false", "no") \
        and os.path.exists(os.path.join(here, pyx)):
    from Cython.Build import cythonize
    from setuptools import Extension

    ext_modules = cythonize(
        [Extension("bgpevpn._wire_c", [pyx])],
        compiler_directives={"language_level": "3"},
    )

setup(ext_modules=ext_modules)
