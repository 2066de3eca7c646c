#!/usr/bin/env bash
# Runs the Python client tests (tests/python: hvac and the `bao` CLI against
# a real `coffer` dev server). Expects scripts/setup.sh to have been sourced.
#
# pytest exits 5 when it collected no test; since tests/python has test
# files, that can only mean something went wrong (a bad rename, an import
# error hidden by a plugin), so it is a failure here.
set -euo pipefail
cd "$(dirname "$0")/.."

shopt -s nullglob
files=(tests/python/test_*.py)
if [[ ${#files[@]} -eq 0 ]]; then
    echo "pytest.sh: no tests/python/test_*.py; nothing to run"
    exit 0
fi

# The server the tests start (cheap no-op when already fresh).
cargo build --quiet -p coffer-host --bin coffer

rc=0
python3 -m pytest tests/python -q -p no:cacheprovider "$@" || rc=$?
if [[ $rc -eq 5 ]]; then
    echo "pytest.sh: pytest collected no tests from ${files[*]}" >&2
fi
exit "$rc"
