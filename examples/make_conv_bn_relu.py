"""Write `examples/conv_bn_relu.mlir`: a small conv + batchnorm + relu model.

    python examples/make_conv_bn_relu.py [out.mlir]

The model (NCHW, batch dimension dynamic, so any batch size runs):

    x: [?, 3, 8, 8]
    conv2d 3->8, 3x3, pad 1, with bias   -> [?, 8, 8, 8]
    batchnorm (8 channels)
    relu
    conv2d 8->4, 3x3, stride 2, pad 1    -> [?, 4, 4, 4]
    relu
    reshape                              -> [?, 64]
    gemm 64->10 (transB, with C)         -> [?, 10]

The weights come from a seeded numpy generator, so the file is the same on
every run; they are `nn.constant`s whose dense values round-trip exactly.
The IR is built with the `nn` ops (conv2d and gemm through `Op.create` with
explicit result types) and printed by xDSL.
"""

from __future__ import annotations

import argparse
import sys
from io import StringIO
from pathlib import Path

import numpy as np
from xdsl.builder import Builder
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType, f32
from xdsl.ir import Block, Region, SSAValue
from xdsl.printer import Printer
from xdsl.rewriter import InsertPoint

from qopt.backends.reference.nn import numpy_to_dense
from qopt.qdialect import nn
from qopt.qdialect.shapes import DYN

OUT = Path(__file__).with_name("conv_bn_relu.mlir")
SEED = 0


def build(seed: int = SEED) -> ModuleOp:
    """The conv + batchnorm + relu module with weights from `seed`."""
    rng = np.random.default_rng(seed)

    def randn(*shape: int, std: float = 1.0) -> np.ndarray:
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def uniform(lo: float, hi: float, *shape: int) -> np.ndarray:
        return rng.uniform(lo, hi, shape).astype(np.float32)

    x_type = TensorType(f32, [DYN, 3, 8, 8])
    out_type = TensorType(f32, [DYN, 10])
    block = Block(arg_types=[x_type])
    block.args[0].name_hint = "x"
    builder = Builder(InsertPoint.at_end(block))

    def const(name: str, value: np.ndarray) -> SSAValue:
        attr = numpy_to_dense(value, TensorType(f32, value.shape))
        assert attr is not None
        op = builder.insert(nn.ConstantOp(attr))
        op.output.name_hint = name
        return op.output

    def named(op, name: str) -> SSAValue:
        builder.insert(op)
        op.results[0].name_hint = name
        return op.results[0]

    w1 = const("w1", randn(8, 3, 3, 3, std=(2 / 27) ** 0.5))
    b1 = const("b1", randn(8, std=0.1))
    gamma = const("gamma", uniform(0.5, 1.5, 8))
    beta = const("beta", randn(8, std=0.1))
    mean = const("mean", randn(8, std=0.2))
    var = const("var", uniform(0.5, 1.5, 8))
    w2 = const("w2", randn(4, 8, 3, 3, std=(2 / 72) ** 0.5))
    b2 = const("b2", randn(4, std=0.1))
    w3 = const("w3", randn(10, 64, std=(1 / 64) ** 0.5))
    b3 = const("b3", randn(10, std=0.1))

    def conv(x, w, b, shape, strides, name):
        props = {
            "strides": nn.i64_array(strides),
            "pads": nn.i64_array((1, 1, 1, 1)),
            "dilations": nn.i64_array((1, 1)),
            "group": nn.i64_attr(1),
        }
        op = nn.Conv2dOp.create(
            operands=[x, w, b],
            result_types=[TensorType(f32, shape)],
            properties=props,
        )
        return named(op, name)

    x = block.args[0]
    y = conv(x, w1, b1, (DYN, 8, 8, 8), (1, 1), "conv1")
    y = named(nn.BatchNormOp(y, gamma, beta, mean, var, epsilon=1e-5), "bn1")
    y = named(nn.ReluOp(y), "relu1")
    y = conv(y, w2, b2, (DYN, 4, 4, 4), (2, 2), "conv2")
    y = named(nn.ReluOp(y), "relu2")
    y = named(nn.ReshapeOp(y, (DYN, 64)), "flat")
    gemm = nn.GemmOp.create(
        operands=[y, w3, b3],
        result_types=[out_type],
        properties={"transB": nn.bool_attr(True)},
    )
    y = named(gemm, "logits")
    builder.insert(func.ReturnOp(y))

    fn = func.FuncOp("main", ((x_type,), (out_type,)), Region(block))
    module = ModuleOp([fn])
    module.verify()
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "output", nargs="?", type=Path, default=OUT, help=f"default {OUT}"
    )
    out = parser.parse_args(argv).output
    buffer = StringIO()
    Printer(stream=buffer).print_op(build())
    text = (
        "// A small conv + batchnorm + relu model (see examples/make_conv_bn_relu.py,\n"
        f"// which writes this file from numpy seed {SEED}). Input: x of shape\n"
        "// [?, 3, 8, 8] (any batch size); output: 10 logits per sample.\n"
        f"{buffer.getvalue()}\n"
    )
    out.write_text(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
