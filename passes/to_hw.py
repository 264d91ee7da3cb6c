"""`qopt-to-hw`: quantized `q` IR -> hw/comb/seq hardware in one pass.

    qopt-opt q.mlir --pass-pipeline='builtin.module(qopt-to-hw{target-ii=16})' \\
        -t verilog -o design.sv

The compound of `qopt-lower-dataflow` (q -> streaming units), `qopt-tile`
(folding for a target II or a LUT budget) and `qopt-lower-hw` (one
`hw.module` per unit and a streaming top module), so one command goes from a
quantized model to SystemVerilog. The Python API `lower_to_hw` does the same
and returns an `HwDesign`: the hardware module, the top's port layout, the
cycle model's II and latency, per-unit estimates, and the conversions
between tensors of levels and stream beats (docs/backends/hw.md).

Options: `target-ii` (cycles per inference), `lut-budget` (LUTs; one of the
two at least, as qopt-tile), `threshold-bits` (as qopt-lower-dataflow),
`report` (print qopt-tile's table, default false), `entry`.

Requires: `q` IR with constant weights (qopt-quantize).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import FunctionType, ModuleOp
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException

from qopt.backends.hw import cost_model as cm
from qopt.passes.entry import entry_function
from qopt.passes.lower_dataflow import LowerDataflowPass
from qopt.passes.lower_hw import LowerHwPass, Ports, design_ports
from qopt.passes.tile import TilePass
from qopt.qdialect import dataflow as df


@dataclass(frozen=True)
class ToHwPass(ModulePass):
    """qopt-lower-dataflow, qopt-tile and qopt-lower-hw in one pass: a
    quantized model to hw/comb/seq modules with a streaming top module.

    Requires: q IR with constant weights (qopt-quantize).
    """

    name = "qopt-to-hw"

    target_ii: int = 0
    lut_budget: int = 0
    unroll: bool = False
    threshold_bits: int = 0
    report: bool = False
    entry: str | None = None

    def __post_init__(self) -> None:
        # the same checks as qopt-tile's, with this pass's name
        try:
            self._tile()
        except ValueError as e:
            raise ValueError(str(e).replace("qopt-tile", "qopt-to-hw")) from None

    def _tile(self) -> TilePass:
        return TilePass(
            target_ii=self.target_ii,
            lut_budget=self.lut_budget,
            unroll=self.unroll,
            report=self.report,
            entry=self.entry,
        )

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        LowerDataflowPass(self.threshold_bits, self.entry).apply(ctx, op)
        self._tile().apply(ctx, op)
        LowerHwPass(self.entry).apply(ctx, op)


@dataclass
class HwDesign:
    """A model lowered to hardware, and how to talk to it.

    `module` holds the hw modules, `top` names the top module. A tensor of
    levels `[N, ...]` (what reaches `dataflow.input`) becomes
    `N * beats_in` beats of `in_lanes` lanes (`to_beats`, element order of
    docs/dialects/dataflow.md); output beats become a tensor of levels
    (`from_beats`). `ii` and `latency` are the cycle model's; `estimates`
    maps each unit instance to the model's {lut, ff, dsp, bram, ii, cycles}
    (ii: cycles per frame; cycles: from its first input beat to its first
    output beat, also as `first`).
    `dataflow` is the tiled dataflow module the hardware was built from;
    `reference(x)` runs it on float inputs and returns the levels at the
    design's ports, which the hardware must reproduce bit for bit.
    """

    module: ModuleOp
    top: str
    ports: Ports
    ii: int
    latency: int
    estimates: dict[str, dict[str, int]]
    dataflow: ModuleOp
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    entry: str = "main"
    sources: dict[str, str] = field(default_factory=dict)

    in_lanes = property(lambda self: self.ports.in_lanes)
    in_width = property(lambda self: self.ports.in_width)
    in_signed = property(lambda self: self.ports.in_signed)
    out_lanes = property(lambda self: self.ports.out_lanes)
    out_width = property(lambda self: self.ports.out_width)
    out_signed = property(lambda self: self.ports.out_signed)
    beats_in = property(lambda self: self.ports.beats_in)
    beats_out = property(lambda self: self.ports.beats_out)

    def to_beats(self, levels: np.ndarray) -> np.ndarray:
        """Tensor levels `[N, *in_shape]` -> beats `[N * beats_in, in_lanes]`."""
        return _tensor_to_beats(np.asarray(levels, np.int64), self.in_lanes)

    def from_beats(self, beats: np.ndarray) -> np.ndarray:
        """Beats `[N * beats_out, out_lanes]` -> tensor levels `[N, *out_shape]`."""
        return _beats_to_tensor(np.asarray(beats, np.int64), self.out_shape)

    def reference(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(input levels, output levels) of the dataflow design on inputs `x`
        (the model's float inputs), from qopt's reference executor."""
        from qopt.backends.reference.runner import run_function

        probe = self.dataflow.clone()
        fn = entry_function(probe, self.entry, "run", ValueError)
        block = fn.body.block
        ins = next(op for op in block.ops if isinstance(op, df.InputOp))
        outs = next(op for op in block.ops if isinstance(op, df.OutputOp))
        ret = block.last_op
        assert isinstance(ret, func.ReturnOp)
        block.insert_op_before(func.ReturnOp(ins.input, outs.output), ret)
        block.erase_op(ret)
        fn.function_type = FunctionType.from_lists(
            fn.function_type.inputs.data, [ins.input.type, outs.output.type]
        )
        levels, result = run_function(probe, [x], fn.sym_name.data)
        return levels.astype(np.int64), result.astype(np.int64)

    def meta(self) -> dict[str, object]:
        """The port metadata `qopt sim` reads from the `design.json` sidecar
        (tools/qopt_main.py, META_FIELDS), with the model's `ii` and
        `latency`."""
        return {
            "top": self.top,
            "in_shape": list(self.in_shape),
            "out_shape": list(self.out_shape),
            "in_lanes": self.in_lanes,
            "in_width": self.in_width,
            "in_signed": self.in_signed,
            "out_lanes": self.out_lanes,
            "out_width": self.out_width,
            "out_signed": self.out_signed,
            "beats_in": self.beats_in,
            "beats_out": self.beats_out,
            "ii": self.ii,
            "latency": self.latency,
        }

    def verilog(self) -> str:
        """The design as SystemVerilog (qopt's emitter)."""
        from qopt.backends.rtl.verilog import emit_verilog

        if "verilog" not in self.sources:
            self.sources["verilog"] = emit_verilog(self.module)
        return self.sources["verilog"]

    def simulate(
        self,
        levels: np.ndarray,
        build_dir: str | os.PathLike[str] | None = None,
        **options,
    ):
        """Stream input levels `[N, *in_shape]` through the design in
        Verilator (`qopt.backends.rtl.verilator.simulate`, options passed on)
        and return (output levels `[N, *out_shape]`, the SimResult)."""
        from qopt.backends.rtl.verilator import simulate

        levels = np.asarray(levels, np.int64)
        folder = Path(build_dir or tempfile.mkdtemp(prefix="qopt-hw-"))
        folder.mkdir(parents=True, exist_ok=True)
        source = folder / f"{self.top}.sv"
        text = self.verilog()
        if not source.exists() or source.read_text() != text:
            source.write_text(text)
        result = simulate(
            [source],
            self.top,
            self.to_beats(levels),
            out_lanes=self.out_lanes,
            in_width=self.in_width,
            out_width=self.out_width,
            signed=self.out_signed,
            n_outputs=len(levels) * self.beats_out,
            build_dir=folder / "build",
            **options,
        )
        return self.from_beats(result.outputs), result

    def measured_latency(self, out_cycles: np.ndarray, in_cycles: np.ndarray) -> int:
        """The model's latency measured in a run: cycles from the first input
        beat to one past frame 0's last output beat."""
        return int(out_cycles[self.beats_out - 1] - in_cycles[0]) + 1


def _tensor_to_beats(levels: np.ndarray, lanes: int) -> np.ndarray:
    axes = df.frame_axes(levels.ndim)
    frames = levels.transpose(0, *axes)
    return np.ascontiguousarray(frames).reshape(-1, lanes)


def _beats_to_tensor(beats: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    axes = df.frame_axes(len(shape) + 1)
    frame = [shape[a - 1] for a in axes]
    frames = beats.reshape(-1, *frame)
    inverse = np.argsort((0, *axes))
    return np.ascontiguousarray(frames.transpose(*inverse))


def lower_to_hw(
    q_module: ModuleOp,
    target_ii: int | None = None,
    lut_budget: int | None = None,
    *,
    unroll: bool = False,
    threshold_bits: int = 0,
    entry: str | None = None,
    ctx: Context | None = None,
) -> HwDesign:
    """Lower a quantized `q` module (left unchanged) to an `HwDesign`
    (qopt-tile's options: `target_ii`, `lut_budget`, `unroll`)."""
    if not target_ii and not lut_budget and not unroll:
        raise ValueError("lower_to_hw needs target_ii, lut_budget or unroll")
    ctx = ctx or Context()
    module = q_module.clone()
    LowerDataflowPass(threshold_bits, entry).apply(ctx, module)
    TilePass(
        target_ii=target_ii or 0,
        lut_budget=lut_budget or 0,
        unroll=unroll,
        report=False,
        entry=entry,
    ).apply(ctx, module)
    fn = entry_function(module, entry, "lower to hardware", PassFailedException)
    ports = design_ports(fn)
    est = cm.estimate(fn)
    in_op = next(op for op in fn.body.block.ops if isinstance(op, df.InputOp))
    out_op = next(op for op in fn.body.block.ops if isinstance(op, df.OutputOp))
    in_shape = tuple(in_op.input.type.get_shape()[1:])
    out_shape = tuple(out_op.output.type.get_shape()[1:])
    dataflow = module.clone()
    LowerHwPass(entry).apply(ctx, module)
    top = next(iter(reversed(list(module.ops))))
    estimates = {}
    for op in top.walk():
        if op.name == "hw.instance":
            attr = op.attributes["qopt.estimate"]
            values = {k: v.value.data for k, v in attr.data.items()}
            estimates[op.instance_name.data] = values | {"cycles": values["first"]}
    return HwDesign(
        module=module,
        top=top.sym_name.data,
        ports=ports,
        ii=est.ii,
        latency=est.latency,
        estimates=estimates,
        dataflow=dataflow,
        in_shape=in_shape,
        out_shape=out_shape,
        entry=fn.sym_name.data,
    )
