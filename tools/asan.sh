#!/usr/bin/env bash
# Run the differential tests against an AddressSanitizer build of the C twin.
#
# Copies bgpevpn/ (sources only) and setup.py into a temporary directory,
# builds bgpevpn._wire_c there with
#     CFLAGS='-fsanitize=address -fno-omit-frame-pointer -O1 -g'  LDFLAGS=-fsanitize=address
# (the in-place build of this checkout is left alone), then runs
# tests/test_differential.py against that copy with libasan preloaded into
# CPython, PYTHONMALLOC=malloc (so every Python object is its own malloc
# block with red zones around it: an over-read past a bytes buffer is seen)
# and ASAN_OPTIONS=detect_leaks=0 (CPython itself leaks at exit).
#
#   tools/asan.sh                       # 3000 Hypothesis examples (reduced)
#   BGPEVPN_DIFF_EXAMPLES=20000 tools/asan.sh
#   tools/asan.sh -k corpus             # extra arguments go to pytest
#   tools/asan.sh "$PWD/tests/test_columns.py"   # more test files: absolute paths
#   KEEP=1 tools/asan.sh                # keep the temporary directory
#   SRC=/some/tree tools/asan.sh        # build bgpevpn/ + setup.py of another tree
#                                       # (e.g. an old commit, to see ASan catch a bug)
#
# Exit status: 99 when AddressSanitizer reported anything (the reports are
# printed), 2 when the build or the set-up failed, else pytest's own status
# (0 = every differential test passed, 1 = a test failed without any ASan report).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="${SRC:-$REPO}"
PYTHON="${PYTHON:-python}"
EXAMPLES="${BGPEVPN_DIFF_EXAMPLES:-3000}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/bgpevpn-asan.XXXXXX")"
if [ -z "${KEEP:-}" ]; then
    trap 'rm -rf "$WORK"' EXIT
else
    echo "asan: keeping $WORK"
fi

die() { echo "asan: $*" >&2; exit 2; }

LIBASAN="$(gcc -print-file-name=libasan.so)"
[ -e "$LIBASAN" ] || die "gcc has no libasan.so (Debian: apt-get install libasan8 or gcc)"
LIBASAN="$(readlink -f "$LIBASAN")"

# --- the copy: sources only, no compiled twin, no caches ----------------------------
mkdir -p "$WORK/src" "$WORK/logs"
cp -r "$SRC/bgpevpn" "$WORK/src/bgpevpn"
# every extension is rebuilt instrumented (the codec, the RIB loops, the pcap
# walk, the route layout): no compiled module or generated C file is copied
find "$WORK/src/bgpevpn" \( -name __pycache__ -o -name '*.so' -o -name '*.pyd' \
    -o -name '*_c.c' \) -prune -exec rm -rf {} +
# setup.py alone declares the extension; pyproject.toml (package metadata) is not
# needed for build_ext and is left out so its metadata cannot break this build
cp "$SRC/setup.py" "$WORK/src/setup.py"

# --- the AddressSanitizer build -------------------------------------------------------
echo "asan: building the extensions with AddressSanitizer in $WORK/src"
(
    cd "$WORK/src" &&
    CFLAGS='-fsanitize=address -fno-omit-frame-pointer -O1 -g' \
    LDFLAGS='-fsanitize=address' \
    "$PYTHON" setup.py -q build_ext --inplace --build-temp "$WORK/build" \
        >"$WORK/logs/build.log" 2>&1
) || { tail -40 "$WORK/logs/build.log"; die "the ASan build failed"; }
SO="$(ls "$WORK/src/bgpevpn/"_wire_c*.so 2>/dev/null | head -1)"
[ -n "$SO" ] || die "the build made no _wire_c*.so"
[ "$(nm -D "$SO" | grep -c '__asan_')" -gt 0 ] || die "$SO is not instrumented (no __asan_ symbols)"
[ "$(ldd "$SO" | grep -c libasan)" -gt 0 ] || die "$SO is not linked against libasan"
echo "asan: built $(basename "$SO") (instrumented, $(ldd "$SO" | grep -o 'libasan[^ ]*'))"

# --- the run ------------------------------------------------------------------------
export LD_PRELOAD="$LIBASAN"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=99:detect_stack_use_after_return=0:log_path=$WORK/logs/asan"
export PYTHONMALLOC=malloc
export PYTHONPATH="$WORK/src"
export BGPEVPN_DIFF_EXPECT_DIR="$WORK/src/bgpevpn"  # test_package_under_test checks it
export BGPEVPN_DIFF_EXAMPLES="$EXAMPLES"
export BGPEVPN_REQUIRE_EXTENSIONS=1
unset BGPEVPN_NO_EXTENSIONS

# the package under test must be the instrumented copy, not this checkout or site-packages
WHERE="$(cd "$WORK/src" && "$PYTHON" -c 'import bgpevpn._wire_c as c; print(c.__file__)' 2>&1)" \
    || die "the instrumented twin does not import: $WHERE"
case "$WHERE" in
    "$WORK/src/bgpevpn/"*) ;;
    *) die "python imports $WHERE, not the copy in $WORK/src" ;;
esac
echo "asan: running tests/test_differential.py ($EXAMPLES Hypothesis examples) against $WHERE"

START=$(date +%s)
(cd "$WORK/src" && "$PYTHON" -m pytest -q -p no:cacheprovider -o addopts="" \
    --rootdir "$REPO" "$REPO/tests/test_differential.py" "$@") 2>&1 | tee "$WORK/logs/pytest.log"
STATUS=${PIPESTATUS[0]}
END=$(date +%s)

REPORTS=$(ls "$WORK/logs/"asan.* 2>/dev/null || true)
if [ -n "$REPORTS" ] || grep -q "ERROR: AddressSanitizer" "$WORK/logs/pytest.log"; then
    for r in $REPORTS; do
        echo "==================== $r"
        cat "$r"
    done
    echo "asan: AddressSanitizer REPORTED ERRORS (pytest status $STATUS, $((END - START)) s)"
    exit 99
fi
echo "asan: no AddressSanitizer report; pytest status $STATUS ($((END - START)) s)"
exit "$STATUS"
