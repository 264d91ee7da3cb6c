"""qopt's dialects and passes inside a plain xDSL program: parse float `nn`
IR, calibrate and quantize it to power-of-two weights, run both versions."""

import tempfile
from pathlib import Path

import numpy as np
from xdsl.context import Context
from xdsl.dialects import builtin, func
from xdsl.parser import Parser
from xdsl.passes import PassPipeline

from qopt.backends.reference.runner import run_function
from qopt.passes import get_all_passes
from qopt.passes.quantize import QuantizePass
from qopt.qdialect import get_all_dialects

here = Path(__file__).parent
ctx = Context()
ctx.load_dialect(builtin.Builtin)
ctx.load_dialect(func.Func)
for name, factory in get_all_dialects().items():
    ctx.register_dialect(name, factory)
module = Parser(ctx, (here / "tiny_mlp.mlir").read_text()).parse_module()

rng = np.random.default_rng(0)
x = rng.uniform(0, 1, (1000, 4)).astype(np.float32)
(y_float,) = run_function(module, [x])

with tempfile.TemporaryDirectory() as tmp:
    calib = Path(tmp) / "calib.npy"  # 256 inputs for the calibration
    np.save(calib, rng.uniform(0, 1, (256, 4)).astype(np.float32))
    # Passes by name, in xDSL's pass-spec syntax ...
    PassPipeline.parse_spec(
        get_all_passes(), f'nn-canonicalize,qopt-calibrate{{data="{calib}"}}'
    ).apply(ctx, module)
# ... or by class.
QuantizePass(weights="pot4", activations="uint8").apply(ctx, module)

print(module)
(y_int,) = run_function(module, [x])
err = np.abs(y_int - y_float).max() / np.abs(y_float).max()
print(f"pot4 weights, uint8 activations: max error {100 * err:.1f} % of the range")
