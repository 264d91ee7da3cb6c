#!/usr/bin/env bash
# Set up qopt in .venv and run the built-in example: fold batchnorm into the
# convolutions of examples/conv_bn_relu.mlir, canonicalize, and check with the
# reference executor that the rewritten model computes the same outputs.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/qopt-opt ]; then
    "$PY" -m venv .venv
    .venv/bin/pip install --quiet --upgrade pip
    .venv/bin/pip install --quiet -e .
fi
export PATH="$PWD/.venv/bin:$PATH"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== input: examples/conv_bn_relu.mlir"
grep -o 'nn\.[a-z_0-9]*' examples/conv_bn_relu.mlir | sort | uniq -c

qopt-opt examples/conv_bn_relu.mlir \
    --pass-pipeline='builtin.module(nn-fold-batchnorm, nn-canonicalize)' \
    -o "$out/folded.mlir"
echo "== after nn-fold-batchnorm, nn-canonicalize"
grep -o 'nn\.[a-z_0-9]*' "$out/folded.mlir" | sort | uniq -c

python - "$out" <<'PY'
import sys
import numpy as np
np.save(f"{sys.argv[1]}/x.npy", np.random.default_rng(0).normal(size=(4, 3, 8, 8)).astype(np.float32))
PY
qopt-run examples/conv_bn_relu.mlir --input "$out/x.npy" --output "$out/ref.npz" > /dev/null
qopt-run "$out/folded.mlir" --input "$out/x.npy" --output "$out/folded.npz"

python - "$out" <<'PY'
import sys
import numpy as np
ref = np.load(f"{sys.argv[1]}/ref.npz")["result0"]
new = np.load(f"{sys.argv[1]}/folded.npz")["result0"]
err = float(np.abs(ref - new).max())
print(f"== max |original - folded| over a batch of {ref.shape[0]}: {err:.2e}")
sys.exit(0 if err <= 1e-5 else 1)
PY
