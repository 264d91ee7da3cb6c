"""`qopt`: the end-to-end command (subcommands `compile`, `demo`, `sim`, `synth`).

    qopt compile MODEL.onnx --calib calib.npz [--labels y.npy]
                 --recipe pot4|spot2|int8|int4|mixed|FILE --target-ii N [-o DIR]
    qopt demo [-o DIR] [--target-ii N]
    qopt sim design.sv [more.sv ...] --top T --input x.npy [--output y.npy]
             [--stall 0.3 | --stall-in P --stall-out P] [--seed N]
             [--out-lanes N | --out-width W] [--in-width W] [--unsigned]
             [--outputs N] [--build-dir DIR] [--meta design.json]
    qopt synth design.sv [more.sv ...] --top T [--family xc7] [--no-dsp]
               [--build-dir DIR]

`sim` streams the rows of `x.npy` (`[items, lanes]` integers; a 1-d array is
one lane) through the design in Verilator with random input gaps and output
stalls (qopt.backends.rtl.verilator), writes the output items to `y.npy`
(`[items, out_lanes]` int64) or prints them, and prints a summary: cycles,
cycles per item, the initiation interval and latency without stalls, the
build and simulation times. Lane widths follow from the port widths: the input
lane width is in_data's width / lanes, the output has as many lanes as the
input unless `--out-lanes` or `--out-width` says otherwise.

A lowered model (`qopt.passes.to_hw.lower_to_hw`, `qopt-to-hw`) comes with
its port metadata in a JSON sidecar: `--meta FILE`, else `design.json`
beside the first design file `design.sv` / `design.mlir`. It holds the
fields of `HwDesign` of the same names: `top`, `in_shape`, `out_shape`
(one inference, batch excluded), `in_lanes`, `in_width`, `in_signed`,
`out_lanes`, `out_width`, `out_signed`, `beats_in`, `beats_out`, and
optionally the model's `ii` and `latency`. With it, `x.npy` holds the input
*levels* `[N, *in_shape]` (the integers of the quantized input type, what
`q.quantize` produces; quantizing and dequantizing stay on the host; one
inference may drop the batch axis), streamed in the order of
docs/dialects/dataflow.md (an NCHW image pixel by pixel, channels
innermost), and `y.npy` gets the output levels `[N, *out_shape]`; `--top`
and the lane options come from the sidecar.

`compile` runs a model through every stage (import, canonicalize, the
recipe's quantization passes, accuracy check, tile, lower, SystemVerilog,
Verilator, Yosys) into a build folder with the IR of each stage, design.sv,
report.html, report.md and summary.json (qopt.tools.compile). `demo` trains
the digits CNN (cached), writes its ONNX and data, and compiles it with the
pot4 recipe (qopt.tools.demo).

`synth` runs Yosys's synth_xilinx (qopt.backends.rtl.yosys) and prints the
resource table (LUT, FF, CARRY4, DSP48E1, RAMB18, RAMB36, LUTRAM, SRL, MUXF,
cells).

A design file ending in `.mlir` holds hw/comb/seq IR: it is turned into
SystemVerilog with qopt's emitter (`--emitter circt`: CIRCT's ExportVerilog),
and `--top` defaults to its last hw.module. The design must follow the
streaming convention of docs/backends/rtl.md.

Errors (missing files or tools, bad inputs, a design that breaks the
handshake or deadlocks) are one `qopt: error:` line on stderr with exit
status 2, and no output file is written (`compile` keeps the complete files
of the stages before the error). A compiled design that fails to build in
Verilator or simulates differently from the reference executor (a qopt bug)
exits with status 1.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qopt.tools.errors import (
    INTERNAL_ERROR,
    USAGE_ERROR,
    ToolError,
    one_line,
    report,
    report_internal,
    write_atomically,
)

TOOL = "qopt"


def _add_design_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "designs",
        nargs="+",
        metavar="DESIGN",
        help="SystemVerilog (.sv, .v) or hw/comb/seq IR (.mlir) files",
    )
    p.add_argument(
        "--top", help="the top-level module (default for one .mlir: its last hw.module)"
    )
    p.add_argument(
        "--emitter",
        choices=("qopt", "circt"),
        default="qopt",
        help="how .mlir designs become SystemVerilog (default: qopt's emitter)",
    )
    p.add_argument(
        "--build-dir",
        help="cache folder for builds and reports (default $QOPT_RTL_BUILD, "
        "else build/rtl)",
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=TOOL,
        description="qopt: quantization compiler for neural networks, end "
        "to end (compile a model; simulate and synthesize streaming designs)",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    from qopt.tools import compile as compile_
    from qopt.tools import demo

    compile_.add_arguments(
        sub.add_parser(
            "compile",
            help="an ONNX model to a checked SystemVerilog design and a report",
            description="Import, quantize with a recipe, check the accuracy, "
            "lower to a streaming design for a target II, emit SystemVerilog, "
            "check it bit for bit in Verilator, measure it with Yosys; write "
            "every stage's IR and a report into the build folder.",
        )
    )
    demo.add_arguments(
        sub.add_parser(
            "demo",
            help="train the digits CNN and compile it (pot4)",
            description="Train the digits CNN (seeded, cached), write its ONNX "
            "and data, and run `qopt compile` on it with the pot4 recipe.",
        )
    )

    sim = sub.add_parser(
        "sim",
        help="simulate a streaming design in Verilator with random stalls",
        description="Stream the rows of an .npy array through a design in "
        "Verilator with random valid gaps and ready stalls.",
    )
    _add_design_arguments(sim)
    sim.add_argument("--input", "-i", required=True, help="[items, lanes] .npy")
    sim.add_argument("--output", "-o", help="write the outputs here (.npy)")
    sim.add_argument(
        "--stall",
        type=float,
        default=0.3,
        help="probability of an input gap and of an output stall per cycle "
        "(default 0.3)",
    )
    sim.add_argument("--stall-in", type=float, help="input gap probability")
    sim.add_argument("--stall-out", type=float, help="output stall probability")
    sim.add_argument("--seed", type=int, default=0, help="stall pattern seed")
    sim.add_argument("--in-width", type=int, help="bits per input lane")
    sim.add_argument("--out-lanes", type=int, help="output lanes")
    sim.add_argument("--out-width", type=int, help="bits per output lane")
    sim.add_argument(
        "--unsigned", action="store_true", help="read output lanes as unsigned"
    )
    sim.add_argument(
        "--outputs", type=int, help="output items expected (default: one per input)"
    )
    sim.add_argument(
        "--meta",
        help="port metadata of a lowered model (default: DESIGN.json beside "
        "the first design, if there is one); the input is then q levels",
    )

    synth = sub.add_parser(
        "synth",
        help="Xilinx 7-series resource counts from Yosys",
        description="Synthesize a design with Yosys's synth_xilinx and print "
        "its resource counts.",
    )
    _add_design_arguments(synth)
    synth.add_argument("--family", default="xc7", help="Xilinx family (xc7)")
    synth.add_argument(
        "--no-dsp", action="store_true", help="map multipliers to LUTs (-nodsp)"
    )
    return p


# ------------------------------------------------------------------ designs


def _read_ir(path: Path):
    """Parse and verify a .mlir design with every dialect qopt knows."""
    from xdsl.context import Context
    from xdsl.parser import Parser
    from xdsl.utils.exceptions import DiagnosticException

    from qopt.tools.qopt_opt import all_dialects, diagnostic_text

    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ToolError(f"cannot read '{path}': {getattr(e, 'strerror', e)}") from None
    ctx = Context()
    for name, factory in all_dialects().items():
        ctx.register_dialect(name, factory)
    module = Parser(ctx, text, str(path)).parse_module()
    try:
        module.verify()
    except DiagnosticException as e:
        raise ToolError(f"'{path}' does not verify: {diagnostic_text(e)}") from None
    return module


def prepare_designs(args: argparse.Namespace, workdir: Path) -> tuple[list[Path], str]:
    """The SystemVerilog files of the design (emitting .mlir ones) and the top."""
    from xdsl.dialects import hw

    from qopt.backends.rtl.circt import circt_export_verilog
    from qopt.backends.rtl.verilog import emit_verilog

    files: list[Path] = []
    last_module: str | None = None
    for i, name in enumerate(args.designs):
        path = Path(name)
        if not path.is_file():
            raise ToolError(f"cannot read '{name}': no such file")
        if path.suffix != ".mlir":
            files.append(path)
            continue
        module = _read_ir(path)
        tops = [op for op in module.ops if isinstance(op, hw.HWModuleOp)]
        if not tops:
            raise ToolError(f"'{name}' holds no hw.module")
        last_module = tops[-1].sym_name.data
        if args.emitter == "circt":
            text = circt_export_verilog(module)
        else:
            text = emit_verilog(module)
        emitted = workdir / f"{i}-{path.stem}.sv"
        emitted.write_text(text)
        files.append(emitted)
    top = args.top
    if top is None:
        if last_module is None or len(args.designs) > 1:
            raise ToolError("give the top-level module with --top")
        top = last_module
    return files, top


# ------------------------------------------------------------------ commands


def _load_input(path: str) -> np.ndarray:
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ToolError(f"cannot read '{path}': no such file") from None
    except (OSError, ValueError) as e:
        raise ToolError(f"cannot read '{path}' as .npy: {one_line(str(e))}") from None
    if not isinstance(data, np.ndarray):
        raise ToolError(f"'{path}' must be one .npy array, not an .npz archive")
    return data


META_FIELDS = {
    "top": (str, "a string"),
    "in_shape": (list, "a list"),
    "out_shape": (list, "a list"),
    "in_lanes": (int, "an integer"),
    "in_width": (int, "an integer"),
    "in_signed": (bool, "a boolean"),
    "out_lanes": (int, "an integer"),
    "out_width": (int, "an integer"),
    "out_signed": (bool, "a boolean"),
    "beats_in": (int, "an integer"),
    "beats_out": (int, "an integer"),
}
"""The required fields of a lowered design's sidecar: JSON type, its name."""


def load_meta(args: argparse.Namespace) -> dict | None:
    """The sidecar of a lowered design (`--meta`, else DESIGN.json), or None."""
    path = Path(args.meta) if args.meta else Path(args.designs[0]).with_suffix(".json")
    if not args.meta and not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise ToolError(f"cannot read '{path}': no such file") from None
    except (OSError, ValueError) as e:
        raise ToolError(f"cannot read '{path}' as JSON: {one_line(str(e))}") from None
    for key, (kind, what) in META_FIELDS.items():
        value = meta.get(key) if isinstance(meta, dict) else None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ToolError(f"'{path}': field '{key}' must be {what}")
    return meta


def levels_to_beats(levels: np.ndarray, meta: dict) -> np.ndarray:
    """Input levels `[N, *in_shape]` -> beats `[N * beats_in, in_lanes]`."""
    from qopt.qdialect.dataflow import frame_axes

    shape = tuple(meta["in_shape"])
    if levels.shape == shape:
        levels = levels[None]
    if levels.ndim != len(shape) + 1 or levels.shape[1:] != shape:
        raise ToolError(
            f"the input must be q levels of shape [N, {', '.join(map(str, shape))}]"
            f", got {list(levels.shape)}"
        )
    if not np.issubdtype(levels.dtype, np.integer):
        raise ToolError(f"the input must be integer q levels, got {levels.dtype}")
    frames = levels.astype(np.int64).transpose(0, *frame_axes(levels.ndim))
    return np.ascontiguousarray(frames).reshape(-1, meta["in_lanes"])


def beats_to_levels(beats: np.ndarray, meta: dict) -> np.ndarray:
    """Output beats `[N * beats_out, out_lanes]` -> levels `[N, *out_shape]`."""
    from qopt.qdialect.dataflow import frame_axes

    shape = meta["out_shape"]
    axes = frame_axes(len(shape) + 1)
    frames = beats.reshape(-1, *(shape[a - 1] for a in axes))
    return np.ascontiguousarray(frames.transpose(np.argsort((0, *axes))))


def run_sim(args: argparse.Namespace) -> None:
    from qopt.backends.rtl.verilator import simulate

    stall_in = args.stall if args.stall_in is None else args.stall_in
    stall_out = args.stall if args.stall_out is None else args.stall_out
    inputs = _load_input(args.input)
    meta = load_meta(args)
    if meta is not None:
        inputs = levels_to_beats(inputs, meta)
        args.top = args.top or meta["top"]
        args.in_width, args.out_width = meta["in_width"], meta["out_width"]
        args.out_lanes, args.unsigned = meta["out_lanes"], not meta["out_signed"]
        args.outputs = len(inputs) // meta["beats_in"] * meta["beats_out"]
    with tempfile.TemporaryDirectory(prefix="qopt-") as tmp:
        files, top = prepare_designs(args, Path(tmp))
        result = simulate(
            files,
            top,
            inputs,
            out_lanes=args.out_lanes,
            in_width=args.in_width,
            out_width=args.out_width,
            signed=not args.unsigned,
            n_outputs=args.outputs,
            stall_prob_in=stall_in,
            stall_prob_out=stall_out,
            seed=args.seed,
            build_dir=args.build_dir,
        )
    outputs = result.outputs
    if meta is not None:
        outputs = beats_to_levels(outputs, meta)
    if args.output:
        buffer = io.BytesIO()
        np.save(buffer, outputs)
        write_atomically(args.output, buffer.getvalue())
    else:
        for row in outputs:
            print(", ".join(str(v) for v in row.reshape(-1)))
    build = result.build
    lanes = result.outputs.shape[1]
    width = build.out_bits // lanes
    kind = "unsigned" if args.unsigned else "signed"
    rows = [
        (
            "items",
            f"{len(result.in_cycles)} in, {len(result.outputs)} out "
            f"({lanes} lanes of {width} bits, {kind})",
        ),
        (
            "cycles",
            f"{result.cycles} ({result.cycles_per_item:.3f} per item, "
            f"stalls in {stall_in:g} / out {stall_out:g}, seed {args.seed})",
        ),
        ("initiation interval", f"{result.ii:.3f} cycles (no stalls)"),
        ("latency", f"{result.latency} cycles (first item, no stalls)"),
        ("build", "cached" if build.cached else f"{build.seconds:.1f} s"),
        ("simulation", f"{result.sim_seconds:.2f} s"),
    ]
    if meta is not None:
        model = ", ".join(
            f"{key} {meta[key]}" for key in ("ii", "latency") if key in meta
        )
        rows.insert(
            1,
            (
                "inferences",
                f"{len(outputs)} ({meta['beats_in']} beats in, {meta['beats_out']} "
                f"out each); {result.ii * meta['beats_in']:.1f} cycles each "
                f"without stalls" + (f" (model: {model})" if model else ""),
            ),
        )
    print(f"simulated {top}:")
    for key, value in rows:
        print(f"  {key:<20} {value}")


def run_synth(args: argparse.Namespace) -> None:
    from qopt.backends.rtl.yosys import RESOURCES, find_yosys, synth_report

    with tempfile.TemporaryDirectory(prefix="qopt-") as tmp:
        files, top = prepare_designs(args, Path(tmp))
        report_ = synth_report(
            files,
            top,
            family=args.family,
            use_dsp=not args.no_dsp,
            build_dir=args.build_dir,
        )
    _, version = find_yosys()
    flags = " -nodsp" if args.no_dsp else ""
    print(f"synth_xilinx -family {args.family} -top {top}{flags} ({version})")
    print(f"  {'resource':<10} {'count':>8}")
    for key in (*RESOURCES, "cells"):
        print(f"  {key:<10} {report_[key]:>8}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `qopt`; returns the exit status."""
    from xdsl.utils.exceptions import DiagnosticException, ParseError

    from qopt.tools.compile import DesignError, run_compile
    from qopt.tools.demo import run_demo

    args = _parser().parse_args(argv)
    commands = {
        "compile": run_compile,
        "demo": run_demo,
        "sim": run_sim,
        "synth": run_synth,
    }
    try:
        commands[args.command](args)
    except DesignError as e:
        report(TOOL, str(e))
        return INTERNAL_ERROR
    except ToolError as e:
        report(TOOL, str(e))
        return USAGE_ERROR
    except ParseError as e:
        from qopt.tools.qopt_opt import parse_error_text

        report(TOOL, parse_error_text(e))
        return USAGE_ERROR
    except DiagnosticException as e:  # RtlError, ToolMissingError
        report(TOOL, one_line(str(e)))
        return USAGE_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as e:
        report_internal(TOOL, e)
        return INTERNAL_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
