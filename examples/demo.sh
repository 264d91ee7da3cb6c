#!/usr/bin/env bash
# The README's first command: set up qopt in .venv, then `qopt demo`: train
# the digits CNN (seeded, cached), quantize it to power-of-two weights, lower
# it to pipelined SystemVerilog, check it bit for bit in Verilator and count
# its LUTs with Yosys. Extra arguments go to `qopt demo` (`--help` lists them).
set -euo pipefail
exec </dev/null
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
# Verilator's testbenches need a C++ toolchain; Yosys reports the LUTs.
missing=()
for p in yosys g++ make perl; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ] && command -v apt-get >/dev/null; then
    echo "== apt-get install ${missing[*]}"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -x .venv/bin/qopt ]; then
    "$PY" -m venv .venv
fi
pip_args=(--quiet --progress-bar off)
[ -d /opt/wheels ] && pip_args+=(--find-links /opt/wheels) # torch's CPU build
.venv/bin/python -m pip install "${pip_args[@]}" -e '.[models,hw,report]' 2>&1 |
    { grep -v "^WARNING: Location 'file:.*' is ignored" || true; }
exec .venv/bin/qopt demo "$@"
