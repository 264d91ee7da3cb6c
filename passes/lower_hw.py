"""`qopt-lower-hw`: a `dataflow` design -> CIRCT `hw`/`comb`/`seq` modules.

    qopt-opt tiled.mlir --pass-pipeline='builtin.module(qopt-lower-hw)' \\
        -t verilog -o design.sv

Every unit of the entry function becomes one `hw.module` named
`<kind>_<layer>` (the layer from the unit's result name), built by the
generators of `qopt.backends.hw.units` with the step order and depth of the
cycle model (docs/dialects/dataflow.md, docs/backends/hw.md); a top
`hw.module @<function name>` instantiates them and wires the streams
(data, valid forward; ready backward). `dataflow.reshape` is wiring; the
input and output streams become the top's streaming ports
(qopt.backends.rtl.stream: clk, rst, in_data/in_valid/in_ready,
out_data/out_valid/out_ready, lane 0 in the low bits). The module's content
is replaced by the hardware: the host-side ops around the design
(`q.quantize`, a flatten of the input, `q.dequantize`) are left to the
caller (`qopt.passes.to_hw.HwDesign` converts tensors and beats).

The top carries the cycle model's numbers, `qopt.ii` and `qopt.latency`
(cycles), and every instance its unit's estimate as
`qopt.estimate = {ii, first, lut, ff, dsp, bram}`.

Options: `entry` (the function; default: the only one, else @main).

Requires: `dataflow` IR (qopt-lower-dataflow, usually qopt-tile after it)
with one input and one output stream. Units without a generator, or that
a generator cannot build, are reported in one error line.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func, hw
from xdsl.dialects.builtin import (
    DictionaryAttr,
    FlatSymbolRefAttr,
    IntegerAttr,
    ModuleOp,
    NameLoc,
    i64,
)
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException

from qopt.backends.hw import cost_model as cm
from qopt.backends.hw.units import UNIT_BUILDERS
from qopt.backends.hw.units.common import UnitBuilder, UnitError, stream_prefixes
from qopt.backends.rtl.verilog import legal_identifier
from qopt.passes.entry import entry_function
from qopt.qdialect import dataflow as df

ESTIMATE_ATTR = "qopt.estimate"
II_ATTR = "qopt.ii"
LATENCY_ATTR = "qopt.latency"


class HwLoweringError(Exception):
    """The design cannot be lowered; the message is one line."""


@dataclass(frozen=True)
class Ports:
    """The top module's streams: lanes and element bits of input and output."""

    in_lanes: int
    in_width: int
    in_signed: bool
    out_lanes: int
    out_width: int
    out_signed: bool
    beats_in: int
    beats_out: int


def _layer_name(op: Operation, index: int) -> str:
    hint = op.results[0].name_hint if op.results else None
    if not hint and isinstance(op.location, NameLoc):
        hint = op.location.desc.data
    return hint or f"u{index}"


def _stream_operands(op: Operation) -> list[SSAValue]:
    return [v for v in op.operands if isinstance(v.type, df.StreamType)]


def design_ports(fn: func.FuncOp) -> Ports:
    """The top ports of `fn`'s design; HwLoweringError unless it has one input
    and one output stream."""
    inputs = [op for op in fn.body.block.ops if isinstance(op, df.InputOp)]
    outputs = [op for op in fn.body.block.ops if isinstance(op, df.OutputOp)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise HwLoweringError(
            f"@{fn.sym_name.data} has {len(inputs)} dataflow.input and "
            f"{len(outputs)} dataflow.output streams; the hardware top takes "
            "exactly one of each"
        )
    a, z = df.stream_of(inputs[0].output), df.stream_of(outputs[0].input)
    return Ports(
        a.lanes.data,
        a.bits,
        a.elem.min_level < 0,
        z.lanes.data,
        z.bits,
        z.elem.min_level < 0,
        a.beats,
        z.beats,
    )


def _estimate_attr(u: cm.UnitEstimate) -> DictionaryAttr:
    r = u.res
    values = {
        "ii": u.ii,
        "first": u.first,
        "lut": r.lut,
        "ff": r.ff,
        "dsp": r.dsp,
        "bram": r.bram,
    }
    return DictionaryAttr({k: IntegerAttr(int(v), i64) for k, v in values.items()})


def _connect(top: UnitBuilder, cell: list[SSAValue], value: SSAValue) -> None:
    """Replace a stream's ready placeholder by the consumer's ready."""
    top.close(cell[0], value)
    cell.append(value)


def lower_function(fn: func.FuncOp) -> list[hw.HWModuleOp]:
    """The unit modules and (last) the top module of `fn`'s design."""
    ports = design_ports(fn)
    top_name = legal_identifier(fn.sym_name.data)
    est = cm.estimate(fn)
    estimates = {u.op: u for u in est.units}
    used = {top_name}
    modules: list[hw.HWModuleOp] = []
    top = UnitBuilder.stream(
        top_name,
        [ports.in_lanes * ports.in_width],
        [ports.out_lanes * ports.out_width],
    )
    data: dict[SSAValue, tuple[SSAValue, SSAValue]] = {}  # stream -> (data, valid)
    # stream -> [placeholder of its ready, then the ready once connected]
    ready: dict[SSAValue, list[SSAValue]] = {}
    problems: list[str] = []
    out_ready = top["out_ready"]
    in_ready: list[SSAValue] = []
    for index, op in enumerate(fn.body.block.ops):
        if isinstance(op, df.InputOp):
            data[op.output] = (top["in_data"], top["in_valid"])
            ready[op.output] = in_ready = [top.feedback(1)]
            continue
        if isinstance(op, df.ReshapeOp):
            data[op.output] = data[op.input]
            ready[op.output] = ready[op.input]
            continue
        if isinstance(op, df.OutputOp):
            _connect(top, ready[op.input], out_ready)
            out_data, out_valid = data[op.input]
            continue
        if not isinstance(op, df.DataflowOp):
            continue
        kind = op.name.split(".")[1]
        name = legal_identifier(f"{kind}_{_layer_name(op, index)}")
        base, k = name, 1
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        builder = UNIT_BUILDERS.get(type(op))
        try:
            if builder is None:
                raise UnitError(f"{op.name} ({name}) has no RTL generator")
            module = builder(op, name)
            module.verify()
        except UnitError as e:
            problems.append(str(e))
            for r in op.results:  # keep going to report every problem
                data[r] = (top["in_data"], top["in_valid"])
                ready[r] = [top.feedback(1)]
            continue
        modules.append(module)
        ins = _stream_operands(op)
        outs = [r for r in op.results if isinstance(r.type, df.StreamType)]
        in_names = stream_prefixes(len(ins), "in")
        out_names = stream_prefixes(len(outs), "out")
        connections: list[tuple[str, SSAValue]] = [
            ("clk", top["clk"]),
            ("rst", top["rst"]),
        ]
        for prefix, v in zip(in_names, ins, strict=True):
            d, valid = data[v]
            connections += [(f"{prefix}_data", d), (f"{prefix}_valid", valid)]
        for prefix, r in zip(out_names, outs, strict=True):
            ready[r] = [top.feedback(1)]
            connections.append((f"{prefix}_ready", ready[r][0]))
        results = [
            (p.port_name.data, p.type)
            for p in module.module_type.ports.data
            if p.dir.data.is_output_like()
        ]
        inst = hw.InstanceOp(
            name, FlatSymbolRefAttr(module.sym_name.data), connections, results
        )
        inst.attributes[ESTIMATE_ATTR] = _estimate_attr(estimates[op])
        top.builder.insert(inst)
        by_port = dict(zip((n for n, _ in results), inst.results, strict=True))
        for prefix, v in zip(in_names, ins, strict=True):
            _connect(top, ready[v], by_port[f"{prefix}_ready"])
        for prefix, r in zip(out_names, outs, strict=True):
            data[r] = (by_port[f"{prefix}_data"], by_port[f"{prefix}_valid"])
    if problems:
        raise HwLoweringError("; ".join(problems))
    top_module = top.output(
        in_ready=in_ready[-1], out_data=out_data, out_valid=out_valid
    )
    top_module.attributes[II_ATTR] = IntegerAttr(est.ii, i64)
    top_module.attributes[LATENCY_ATTR] = IntegerAttr(est.latency, i64)
    return [*modules, top_module]


@dataclass(frozen=True)
class LowerHwPass(ModulePass):
    """Replaces the module's content by the hw/comb/seq modules of the
    entry function's dataflow design: one module per unit and a top module
    with streaming ports. The module docstring gives the rules.

    Requires: dataflow IR with one input and one output stream
    (qopt-lower-dataflow, qopt-tile).
    """

    name = "qopt-lower-hw"

    entry: str | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        fn = entry_function(op, self.entry, "lower to hardware", PassFailedException)
        if not cm.units_of(fn):
            raise PassFailedException(
                f"@{fn.sym_name.data} has no dataflow units: run "
                "qopt-lower-dataflow first"
            )
        try:
            modules = lower_function(fn)
        except HwLoweringError as e:
            raise PassFailedException(" ".join(str(e).split())) from None
        block = op.body.block
        for old in list(block.ops):
            old.detach()
            old.erase(safe_erase=False)
        for module in modules:
            block.add_op(module)
