#!/usr/bin/env bash
# Set up qopt in .venv and run the built-in example: fold batchnorm into the
# convolutions of examples/conv_bn_relu.mlir, canonicalize, check with the
# reference executor that the rewritten model computes the same outputs, then
# calibrate and quantize it to 8-bit integers (and to power-of-two weights) and
# compare the integer model with the float one.
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
rng = np.random.default_rng(0)
np.save(f"{sys.argv[1]}/x.npy", rng.normal(size=(4, 3, 8, 8)).astype(np.float32))
np.savez(f"{sys.argv[1]}/calib.npz", rng.normal(size=(512, 3, 8, 8)).astype(np.float32))
np.save(f"{sys.argv[1]}/test.npy", rng.normal(size=(1000, 3, 8, 8)).astype(np.float32))
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

qopt-opt "$out/folded.mlir" \
    --pass-pipeline="builtin.module(qopt-calibrate{data=$out/calib.npz method=percentile})" \
    -o "$out/calibrated.mlir"
qopt-run "$out/folded.mlir" --input "$out/test.npy" --output "$out/float.npz" -q
for fmt in int8 pot4; do
    qopt-opt "$out/calibrated.mlir" \
        --pass-pipeline="builtin.module(qopt-quantize{weights=$fmt activations=int8})" \
        -o "$out/q_$fmt.mlir"
    qopt-run "$out/q_$fmt.mlir" --input "$out/test.npy" --output "$out/q_$fmt.npz" -q
done
echo "== quantized (q dialect) integer models, 1000 random inputs:"
grep -oE '= q\.[a-z_0-9]+' "$out/q_pot4.mlir" | sort | uniq -c
python - "$out" <<'PY'
import sys
import numpy as np
d = sys.argv[1]
ref = np.load(f"{d}/float.npz")["result0"]
for fmt in ("int8", "pot4"):
    y = np.load(f"{d}/q_{fmt}.npz")["result0"]
    agree = float((y.argmax(1) == ref.argmax(1)).mean()) * 100
    cos = float(np.mean(np.sum(y * ref, 1) / np.linalg.norm(y, axis=1) / np.linalg.norm(ref, axis=1)))
    print(f"   weights {fmt:5s} activations int8: top-1 agreement {agree:5.1f} %, cosine {cos:.4f}")
PY
