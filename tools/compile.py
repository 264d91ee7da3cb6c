"""`qopt compile`: an ONNX model to a checked SystemVerilog design, in stages.

    qopt compile MODEL.onnx --calib calib.npz [--labels y.npy]
                 --recipe pot4|spot2|int8|int4|mixed|FILE --target-ii N [-o build/]
                 [--val x.npz --val-labels y.npy] [--qat-epochs N]
                 [--lut-budget N] [--sim-samples N] [--no-sim] [--no-synth]
                 [--cache-dir DIR]

The stages, each timed and shown on the terminal as it runs, and the file
each writes into the build folder:

- import: ONNX -> `nn` with qopt-opt's importer (`00-import.mlir`);
- canonicalize: nn-fold-batchnorm, nn-canonicalize (`01-canonicalize.mlir`);
- the recipe's passes, one stage each (`02-<pass>.mlir`, ...): some of
  qopt-equalize, qopt-mixed-precision, qopt-calibrate, qopt-qat or
  qopt-adaround (`RECIPES`);
- quantize: qopt-quantize (`10-quant.mlir`);
- accuracy: the `q` model against the float one on the calibration data or
  `--val` (`report.evaluate`; top-1 with labels, else agreement);
- tile: qopt-lower-dataflow, qopt-tile{target-ii=N} (`20-tile.mlir`);
- lower: `lower_to_hw` (qopt-lower-hw), hw/comb/seq modules (`30-hw.mlir`);
- systemverilog: qopt's emitter (`design.sv`), and beside it `design.json`,
  the port metadata `qopt sim design.sv` reads (`HwDesign.meta`);
- verilator: `--sim-samples` inputs streamed through design.sv under random
  stalls, every output level compared with the reference executor's;
- yosys: synth_xilinx resource counts;

then `summary.json`, `report.md` and `report.html` (tools/report.py).
Every file-producing stage runs through qopt-opt's own driver with the
command the report shows (`qopt-opt PREVIOUS --pass-pipeline='...' -o
FILE`), so running that command from the same working folder rewrites the
same file, byte for byte: every stage can be re-run alone from the file
before it. design.sv's command starts from `20-tile.mlir`
(`--pass-pipeline='builtin.module(qopt-lower-hw)' -t verilog`): the
emitter names wires after SSA names, which a print and parse of
`30-hw.mlir` renames. Paths in the commands are relative to the working
folder when they lie inside it, else absolute.

Recipes (`RECIPES`; activations are uint8 in all of them; calibration is
minmax over the `--calib` data; `--labels` hold one integer class per
calibration sample):

| recipe | weights | without --labels | with --labels |
|---|---|---|---|
| int8 | int8 | calibrate | calibrate |
| int4 | int4 | CLE, calibrate, AdaRound | calibrate, QAT |
| pot4 | 0, +-2^e (4 bits) | CLE, calibrate, AdaRound | the same |
| spot2 | sums of 2 powers of two | CLE, calibrate, AdaRound | calibrate, QAT |
| mixed | int2, int8 outliers (3 bits) | MP, calibrate, AdaRound | + QAT |

(CLE = qopt-equalize, AdaRound = qopt-adaround, QAT = qopt-qat for
`--qat-epochs`, default 5; MP = qopt-mixed-precision with `MIXED_OPTIONS`:
per layer, the outlier weights with the largest Hessian-weighted error get
int8, the rest int2, 3 bits per weight on average.)
A recipe FILE is a qopt-quantize recipe (passes/quant_recipe.lark) over
int8 weights and uint8 activations (a last rule `* : weights=pot4` changes
the default): calibrate, then QAT when labels are given.

The choice comes from this measurement: top-1 accuracy (%) of the `q`
reference executor on the digits test split (359 images), mean over the
models of seeds 0, 1, 2, calibration (and QAT) on the 1,259 training
digits, uint8 activations; time of the passes for LeNet on a loaded 2-core
machine, torch on one thread:

| weights | algorithms | LeNet | MLP | time (LeNet) |
|---|---|---:|---:|---:|
| float | - | 98.05 | 97.77 | |
| int8 | plain | 98.14 | 97.77 | 0.4 s |
| int4 | plain | 97.49 | 97.87 | 0.4 s |
| int4 | CLE + bias correction | 97.31 | 97.68 | 1 s |
| int4 | CLE + AdaRound | 97.49 | 97.87 | 9 s |
| int4 | QAT 5 | 98.14 | 97.77 | 3 s |
| int4 | CLE + AdaRound + QAT 5 | 97.86 | 97.68 | 18 s |
| pot4 | plain | 92.20 | 97.21 | 0.5 s |
| pot4 | CLE + bias correction | 96.01 | 97.87 | 1 s |
| pot4 | CLE + AdaRound | 97.77 | 98.33 | 9 s |
| pot4 | QAT 5 | 97.40 | 97.59 | 3 s |
| pot4 | QAT 10 | 97.86 | 97.87 | 7 s |
| pot4 | CLE + AdaRound + QAT 5 | 98.14 | 97.49 | 19 s |
| spot2 | plain | 97.77 | 97.87 | 0.5 s |
| spot2 | CLE + AdaRound | 98.05 | 97.77 | 8 s |
| spot2 | QAT 5 | 98.33 | 97.77 | 3 s |
| spot2 | CLE + AdaRound + QAT 5 | 98.42 | 97.87 | 19 s |
| mixed | plain | 76.23 | 96.28 | 1 s |
| mixed | AdaRound | 96.75 | 97.31 | 9 s |
| mixed | QAT 5 | 96.75 | 97.21 | 3 s |
| mixed | AdaRound + QAT 5 | 96.84 | 97.49 | 16 s |

One test image is 0.28 points, so most differences above 97 % are one or
two images. pot4 keeps CLE + AdaRound with labels too (better than QAT on
the mean of both models); where a tie, the cheaper or label-free choice.
SVA (qopt-sva) is not in a recipe: its shared exponents are less accurate
than per-weight spot2 (docs/passes.md) and the hardware does not exploit
them yet.

Errors in what the user gives (a missing or malformed calibration file,
labels of the wrong length, an unknown recipe, a model with unsupported
ops, an unreachable target II, a missing Verilator or Yosys - `--no-sim` /
`--no-synth` skip them) are one `qopt: error:` line and exit status 2. The
inputs, the recipe and the tools are checked and the model imported before
anything is written. Each file is written to a temporary name and renamed,
so the build folder never holds a partial file; a run first removes the
files of an earlier run from the folder (`NN-*.mlir`, design.sv,
design.json, summary.json, report.*). Verilator builds and Yosys reports are cached by
content in `--cache-dir` (default `$QOPT_RTL_BUILD`, else `build/rtl`).
A design that simulates differently from the reference executor is a
compiler bug: the report is written, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from qopt.tools.errors import ToolError, one_line, write_atomically

T = TypeVar("T")

ACTIVATIONS = "uint8"
"""The activation format of every built-in recipe."""

QAT_EPOCHS = 5
"""qopt-qat epochs of the built-in recipes when labels are given."""

SIM_SAMPLES = 16
"""Inputs streamed through the design in Verilator by default."""

STALL = 0.3
"""Probability of an input gap and of an output stall per cycle in the
Verilator check (qopt.backends.rtl.verilator)."""

MIXED_OPTIONS = "avg-bits=3 granularity=outliers low=int2 high=int8 criterion=hessian"
"""qopt-mixed-precision's options in the `mixed` recipe."""

STALE = re.compile(
    r"([0-9][0-9]-[A-Za-z0-9_.-]+\.mlir|design\.(sv|json)|summary\.json"
    r"|report\.(html|md))\Z"
)
"""Names of the files a compile writes (removed from the folder before a run)."""


class DesignError(Exception):
    """The generated design does not build, breaks the stream protocol or
    computes other levels than the reference executor: a qopt bug (exit
    status 1), not a problem of the input."""


# --------------------------------------------------------------------------- #
# Recipes
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Recipe:
    """What `--recipe` names: the formats and the algorithms that run before
    qopt-quantize, without labels (`plain`) and with them (`labelled`): any
    of `equalize` (qopt-equalize), `adaround` (qopt-adaround), `qat`
    (qopt-qat). `mixed` holds qopt-mixed-precision's options, `file` a
    qopt-quantize recipe file."""

    name: str
    weights: str
    plain: tuple[str, ...] = ()
    labelled: tuple[str, ...] = ()
    activations: str = ACTIVATIONS
    mixed: str | None = None
    file: str | None = None

    def algorithms(self, labels: bool) -> tuple[str, ...]:
        return self.labelled if labels else self.plain

    def quant_options(self) -> str:
        """The format options shared by qopt-qat / qopt-adaround / qopt-quantize."""
        text = f"weights={self.weights} activations={self.activations}"
        if self.file is not None:
            text += f" recipe={option_value(self.file)}"
        return text


CLE_ADAROUND = ("equalize", "adaround")

RECIPES: dict[str, Recipe] = {
    "pot4": Recipe("pot4", "pot4", CLE_ADAROUND, CLE_ADAROUND),
    "spot2": Recipe("spot2", "spot2", CLE_ADAROUND, ("qat",)),
    "int8": Recipe("int8", "int8"),
    "int4": Recipe("int4", "int4", CLE_ADAROUND, ("qat",)),
    "mixed": Recipe(
        "mixed", "int8", ("adaround",), ("adaround", "qat"), mixed=MIXED_OPTIONS
    ),
}
"""The built-in recipes by name (the module docstring has the measurements)."""


def resolve_recipe(text: str) -> Recipe:
    """A built-in recipe by name, or a recipe file (checked); ToolError else."""
    if text in RECIPES:
        return RECIPES[text]
    if not os.path.isfile(text):
        raise ToolError(
            f"unknown recipe '{text}' (built-in: {', '.join(RECIPES)}; or the "
            "path of a qopt-quantize recipe file)"
        )
    from qopt.passes.quant_recipe import load_recipe

    try:
        load_recipe(text)
    except ValueError as e:  # RecipeError: FILE:LINE:COL: message
        raise ToolError(f"recipe {one_line(str(e))}") from None
    return Recipe(Path(text).name, "int8", labelled=("qat",), file=text)


_BARE = re.compile(r"[^\s,=(){}\"'\[\]]+\Z")


def option_value(text: str) -> str:
    """`text` as a pass-pipeline option value: bare when it can be, else quoted."""
    if _BARE.match(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def plan_passes(
    recipe: Recipe, data: str, labels: str | None, epochs: int
) -> list[tuple[str, str]]:
    """(stage name, passes) of the stages from the imported model to q IR."""
    d = option_value(data)
    quant = recipe.quant_options()
    algorithms = recipe.algorithms(labels is not None)
    stages = [("canonicalize", "nn-fold-batchnorm, nn-canonicalize")]
    if "equalize" in algorithms:
        stages.append(("equalize", "qopt-equalize"))
    if recipe.mixed is not None:
        mixed = f"qopt-mixed-precision{{{recipe.mixed} data={d}}}"
        stages.append(("mixed-precision", mixed))
    stages.append(("calibrate", f"qopt-calibrate{{data={d}}}"))
    if "adaround" in algorithms:
        stages.append(("adaround", f"qopt-adaround{{data={d} {quant}}}"))
    if "qat" in algorithms:
        assert labels is not None
        y = option_value(labels)
        qat = f"qopt-qat{{data={d} labels={y} {quant} epochs={epochs}}}"
        stages.append(("qat", qat))
    stages.append(("quantize", f"qopt-quantize{{{quant}}}"))
    return stages


# --------------------------------------------------------------------------- #
# Running stages through qopt-opt's driver
# --------------------------------------------------------------------------- #


def shown_path(path: str | os.PathLike[str]) -> str:
    """`path` relative to the working folder if inside it, else absolute."""
    full = os.path.abspath(path)
    rel = os.path.relpath(full)
    return full if rel == ".." or rel.startswith(".." + os.sep) else rel


def run_qopt_opt(argv: Sequence[str]):
    """Run qopt-opt's driver on `argv` (no `-o`): (output text, module).

    The same code path as the `qopt-opt` command; its errors become one-line
    ToolErrors."""
    from xdsl.utils.exceptions import DiagnosticException, ParseError

    from qopt.tools.qopt_opt import QoptOptMain, parse_error_text

    driver = QoptOptMain(args=list(argv))
    chunks, extension = driver.prepare_input()
    ((chunk, offset),) = chunks
    try:
        module = driver.parse_chunk(chunk, extension, offset)
        assert module is not None
        driver.apply_passes(module)
        text = driver.output_resulting_program(module)
    except ParseError as e:
        raise ToolError(parse_error_text(e)) from None
    except DiagnosticException as e:
        raise ToolError(driver.describe_failure(e)) from None
    finally:
        chunk.close()
    return text, module


def parse_mlir(text: str, name: str):
    """A module from IR text, with every dialect qopt-opt knows."""
    from xdsl.context import Context
    from xdsl.parser import Parser

    from qopt.tools.qopt_opt import all_dialects

    ctx = Context()
    for dialect, factory in all_dialects().items():
        ctx.register_dialect(dialect, factory)
    return Parser(ctx, text, name).parse_module()


def mlir_text(module) -> str:
    """`module` printed as qopt-opt prints its output (the `mlir` target)."""
    from xdsl.context import Context
    from xdsl.targets.mlir import MLIRTarget

    out = io.StringIO()
    MLIRTarget().emit(Context(), module, out)
    return out.getvalue()


# --------------------------------------------------------------------------- #
# Progress on the terminal
# --------------------------------------------------------------------------- #


class Progress:
    """One line per stage on stderr: `name ...` while it runs (on a terminal,
    where the passes' own progress bars appear too), then its time."""

    def __init__(self, total: int, stream=None):
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()

    def start(self, name: str) -> None:
        if self.tty:
            self.stream.write(f"  [{self.done + 1:>2}/{self.total}] {name} ...")
            self.stream.flush()

    def finish(self, name: str, seconds: float, output: str | None) -> None:
        self.done += 1
        line = f"  [{self.done:>2}/{self.total}] {name:<15} {seconds:7.2f} s"
        if output:
            line += f"  {output}"
        prefix = "\r\033[K" if self.tty else ""
        self.stream.write(prefix + line + "\n")
        self.stream.flush()

    def abort(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


# --------------------------------------------------------------------------- #
# The compile
# --------------------------------------------------------------------------- #


@dataclass
class Options:
    """What `qopt compile` was asked to do."""

    model: str
    calib: str
    recipe: str
    target_ii: int | None
    out: str
    labels: str | None = None
    val: str | None = None
    val_labels: str | None = None
    qat_epochs: int = QAT_EPOCHS
    lut_budget: int | None = None
    sim_samples: int = SIM_SAMPLES
    sim: bool = True
    synth: bool = True
    cache_dir: str | None = None


@dataclass
class Result:
    """What a compile produced (the summary and where the files are)."""

    summary: Any  # report.Summary
    out: Path
    files: list[Path] = field(default_factory=list)
    hw: Any = None  # the HwDesign, when the hardware stages ran


def _check_file(path: str, what: str) -> None:
    if not os.path.isfile(path):
        reason = "is a folder" if os.path.isdir(path) else "no such file"
        raise ToolError(f"cannot read {what} '{path}': {reason}")


def _check_options(opts: Options) -> Recipe:
    """The checks that need no model: files, numbers, recipe, tools."""
    _check_file(opts.model, "the model")
    _check_file(opts.calib, "the calibration data")
    for path, what in (
        (opts.labels, "the labels"),
        (opts.val, "the validation data"),
        (opts.val_labels, "the validation labels"),
    ):
        if path is not None:
            _check_file(path, what)
    if opts.val_labels is not None and opts.val is None:
        raise ToolError("--val-labels needs --val (the data they label)")
    if opts.target_ii is None and opts.lut_budget is None:
        raise ToolError("give --target-ii N (cycles per inference) or --lut-budget N")
    for name, value in (
        ("--target-ii", opts.target_ii),
        ("--lut-budget", opts.lut_budget),
    ):
        if value is not None and value < 1:
            raise ToolError(f"{name} must be at least 1, got {value}")
    if opts.qat_epochs < 0:
        raise ToolError(f"--qat-epochs must be >= 0, got {opts.qat_epochs}")
    if opts.sim_samples < 1:
        raise ToolError(f"--sim-samples must be at least 1, got {opts.sim_samples}")
    recipe = resolve_recipe(opts.recipe)
    _check_tools(opts)
    return recipe


def _check_tools(opts: Options) -> None:
    """Verilator and Yosys must be there unless their stage is skipped."""
    from qopt.backends.rtl import ToolMissingError
    from qopt.backends.rtl.verilator import find_verilator
    from qopt.backends.rtl.yosys import find_yosys

    for wanted, find, flag in (
        (opts.sim, find_verilator, "--no-sim"),
        (opts.synth, find_yosys, "--no-synth"),
    ):
        if not wanted:
            continue
        try:
            find()
        except ToolMissingError as e:
            raise ToolError(
                f"{one_line(str(e))}; or skip the stage with {flag}"
            ) from None


def _load_data(path: str, fn, what: str) -> list[np.ndarray]:
    from qopt.passes.calibrate import CalibrationError, load_calibration_data

    try:
        return load_calibration_data(path, fn)
    except CalibrationError as e:
        raise ToolError(f"{what}: {one_line(str(e))}") from None


def _load_labels(path: str, samples: int, fn, what: str) -> np.ndarray:
    from qopt.passes.qat import QatError, load_labels, logits_classes

    try:
        return load_labels(path, samples, logits_classes(fn))
    except QatError as e:
        raise ToolError(f"{what}: {one_line(str(e))}") from None


def _prepare_folder(out: Path) -> bool:
    """Create the build folder (True if it was made) and remove the files of
    an earlier compile from it."""
    if out.exists() and not out.is_dir():
        raise ToolError(f"'{out}' exists and is not a folder")
    made = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        for entry in out.iterdir():
            if entry.is_file() and STALE.match(entry.name):
                entry.unlink()
    except OSError as e:
        raise ToolError(f"cannot prepare '{out}': {e.strerror or e}") from None
    return made


class _Run:
    """The stages of one compile so far (timed, shown) and their files."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.stages: list = []  # report.Stage
        self.files: list[Path] = []

    def timed(self, name: str, work: Callable[[], T], output: Path | None = None) -> T:
        """`work()`, timed and shown as stage `name` (writing `output`)."""
        from qopt.tools.report import Stage

        self.progress.start(name)
        start = time.perf_counter()
        try:
            value = work()
        except BaseException:
            self.progress.abort()
            raise
        seconds = time.perf_counter() - start
        self.progress.finish(name, seconds, shown_path(output) if output else None)
        self.stages.append(Stage(name, seconds))
        return value

    def record(self, output: Path, command: str | None) -> None:
        """Give the last stage its file (relative to the build folder) and the
        command that reproduces it."""
        stage = self.stages[-1]
        stage.ir_file = output.name
        stage.command = command
        self.files.append(output)


def _argv(command: str) -> list[str]:
    """The arguments of a `qopt-opt IN ... -o OUT` command, without `-o OUT`."""
    words = shlex.split(command)
    assert words[0] == "qopt-opt" and words[-2] == "-o"
    return words[1:-2]


def _pass_stage(run: _Run, name: str, source: Path, pipeline: str, output: Path):
    """Run `pipeline` on `source` with qopt-opt's driver, write `output`;
    returns the module."""
    from qopt.tools.report import qopt_opt_command

    command = qopt_opt_command(
        shown_path(source), f"builtin.module({pipeline})", shown_path(output)
    )

    def work():
        text, module = run_qopt_opt(_argv(command))
        write_atomically(str(output), text)
        return module

    module = run.timed(name, work, output)
    run.record(output, command)
    return module


@contextlib.contextmanager
def _one_torch_thread(plan: Sequence[tuple[str, str]]) -> Iterator[None]:
    """torch on one thread while the plan's torch passes (qopt-adaround,
    qopt-qat) run: their small tensor ops are slower with more threads, and
    much slower when the cores are busy. Restored on exit."""
    if not any(name in ("adaround", "qat") for name, _ in plan):
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def compile_model(opts: Options, progress: Progress | None = None) -> Result:
    """Run every stage of `qopt compile`; see the module docstring."""
    recipe = _check_options(opts)
    plan = plan_passes(
        recipe,
        shown_path(opts.calib),
        None if opts.labels is None else shown_path(opts.labels),
        opts.qat_epochs,
    )
    with _one_torch_thread(plan):
        return _compile(opts, recipe, plan, progress)


def _compile(
    opts: Options,
    recipe: Recipe,
    plan: list[tuple[str, str]],
    progress: Progress | None,
) -> Result:
    from qopt.passes.entry import entry_function
    from qopt.tools.report import (
        Resources,
        Summary,
        evaluate,
        qopt_opt_command,
        weight_histograms,
        write_report,
    )

    hw_stages = ["tile", "lower", "systemverilog"]
    hw_stages += ["verilator"] * opts.sim + ["yosys"] * opts.synth
    progress = progress or Progress(2 + len(plan) + len(hw_stages))
    run = _Run(progress)
    out = Path(opts.out)

    # import, in memory first: the data are checked against the model
    # before anything is written
    import_file = out / "00-import.mlir"
    command = qopt_opt_command(
        shown_path(opts.model), "builtin.module()", shown_path(import_file)
    )
    text, module = run.timed(
        "import", lambda: run_qopt_opt(_argv(command)), import_file
    )
    fn = entry_function(module, None, "compile", ToolError)
    calib = _load_data(opts.calib, fn, "--calib")
    eval_data, eval_labels = calib, None
    if opts.labels is not None:
        eval_labels = _load_labels(opts.labels, len(calib[0]), fn, "--labels")
    if opts.val is not None:
        eval_data = _load_data(opts.val, fn, "--val")
        eval_labels = None
        if opts.val_labels is not None:
            eval_labels = _load_labels(
                opts.val_labels, len(eval_data[0]), fn, "--val-labels"
            )
    if opts.sim and len(eval_data) != 1:
        raise ToolError(
            f"the hardware streams one input, the model takes {len(eval_data)}"
        )
    made = _prepare_folder(out)
    try:
        write_atomically(str(import_file), text)
    except ToolError:
        if made:
            out.rmdir()
        raise
    run.record(import_file, command)

    # the recipe's passes, up to q IR
    modules = {}
    source = import_file
    for i, (name, pipeline) in enumerate(plan, start=1):
        output = out / (
            "10-quant.mlir" if name == "quantize" else f"{i:02d}-{name}.mlir"
        )
        modules[name] = _pass_stage(run, name, source, pipeline, output)
        source = output
    # the float model; the one whose weights the quantized layers are
    # compared with (equalized, before qopt-qat / qopt-adaround move them)
    float_module, reference = modules["canonicalize"], modules["calibrate"]
    same_function = "equalize" not in modules

    def check_accuracy():
        # the q module as the next stages read it from 10-quant.mlir
        q_module = parse_mlir(source.read_text(), str(source))
        layers, accuracy = evaluate(reference, q_module, eval_data, eval_labels)
        if not same_function:
            _, accuracy = evaluate(float_module, q_module, eval_data, eval_labels)
        return q_module, layers, accuracy, weight_histograms(reference, q_module)

    q_module, layers, accuracy, histograms = run.timed("accuracy", check_accuracy)
    summary = Summary(
        model=Path(opts.model).name,
        stages=run.stages,
        accuracy=accuracy,
        layers=layers,
        target_ii=opts.target_ii,
        options=_summary_options(opts, recipe, len(calib[0])),
    )

    # hardware
    tile_options = []
    if opts.target_ii is not None:
        tile_options.append(f"target-ii={opts.target_ii}")
    if opts.lut_budget is not None:
        tile_options.append(f"lut-budget={opts.lut_budget}")
    tile_file = out / "20-tile.mlir"
    tile_passes = (
        f"qopt-lower-dataflow, qopt-tile{{{' '.join(tile_options)} report=false}}"
    )
    _pass_stage(run, "tile", source, tile_passes, tile_file)
    hw_file = out / "30-hw.mlir"
    design = run.timed("lower", lambda: _lower(q_module, opts, hw_file), hw_file)
    run.record(
        hw_file,
        qopt_opt_command(
            shown_path(tile_file), "builtin.module(qopt-lower-hw)", shown_path(hw_file)
        ),
    )
    # (from 20-tile.mlir: the emitter names wires after SSA names, which
    # printing 30-hw.mlir would make unique in another way)
    sv = out / "design.sv"
    run.timed("systemverilog", lambda: write_atomically(str(sv), design.verilog()), sv)
    # the port metadata `qopt sim design.sv` reads beside it
    meta = json.dumps(design.meta(), indent=1) + "\n"
    write_atomically(str(sv.with_suffix(".json")), meta)
    run.record(
        sv,
        qopt_opt_command(
            shown_path(tile_file), "builtin.module(qopt-lower-hw)", shown_path(sv)
        )
        + " -t verilog",
    )
    summary.design = sv.name
    summary.layers = _apply_estimates(layers, design)
    summary.resources = Resources(estimated=_estimated_totals(design))
    if opts.sim:
        x = eval_data[0][: opts.sim_samples]
        summary.sim = run.timed("verilator", lambda: _simulate(design, sv, x, opts))
    if opts.synth:
        measured, tool = run.timed("yosys", lambda: _synthesize(design, sv, opts))
        summary.resources.measured = measured
        summary.resources.tool = tool
        run.stages[-1].command = shlex.join(
            ["qopt", "synth", shown_path(sv), "--top", design.top]
        )

    summary.stages = run.stages
    run.files += write_report(summary, out, histograms)
    result = Result(summary, out, run.files, design)
    if summary.sim is not None and not summary.sim.bit_exact:
        raise DesignError(
            f"the design simulates differently from the reference executor on "
            f"{summary.sim.mismatches} of {summary.sim.inputs} inputs (a qopt "
            f"bug; the report is {shown_path(out / 'report.html')})"
        )
    return result


def _summary_options(opts: Options, recipe: Recipe, samples: int) -> dict[str, str]:
    """The options the report shows (summary.json `options`)."""
    weights = recipe.weights
    if recipe.mixed is not None:
        weights = "mixed"
    elif recipe.file is not None:
        weights = f"per layer (default {recipe.weights})"
    options = {
        "recipe": opts.recipe,
        "weights": weights,
        "activations": recipe.activations,
        "algorithms": ", ".join(recipe.algorithms(opts.labels is not None)) or "none",
        "calibration": f"{shown_path(opts.calib)} ({samples:,} samples)",
    }
    if opts.labels is not None and "qat" in recipe.labelled:
        options["qat"] = f"{opts.qat_epochs} epochs on {shown_path(opts.labels)}"
    if opts.val is not None:
        options["validation"] = shown_path(opts.val)
    if opts.lut_budget is not None:
        options["lut budget"] = str(opts.lut_budget)
    return options


def _lower(q_module, opts: Options, output: Path):
    """The q module as an HwDesign (`lower_to_hw`); writes its hw IR to
    `output`."""
    from xdsl.utils.exceptions import DiagnosticException

    from qopt.passes.to_hw import lower_to_hw

    try:
        design = lower_to_hw(q_module, opts.target_ii, opts.lut_budget)
    except DiagnosticException as e:
        raise ToolError(f"lowering to hardware: {one_line(str(e))}") from None
    write_atomically(str(output), mlir_text(design.module))
    return design


def _unit_owner(unit: str, idents: dict[str, str]) -> str | None:
    """The layer (name) whose sanitized name the unit's name continues."""
    _, _, rest = unit.partition("_")
    best = None
    for ident, name in idents.items():
        if (rest == ident or rest.startswith(ident + "_")) and (
            best is None or len(ident) > len(best[0])
        ):
            best = (ident, name)
    return None if best is None else best[1]


def layer_estimates(
    layer_names: Sequence[str], estimates: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    """Per-layer hardware estimates from per-unit ones.

    Units are named `<kind>_<layer>` (qopt-lower-hw); a unit whose name
    continues a layer's (the layer's sliding window, width converters, its
    matrix-vector unit) belongs to it; any other unit (requantize, pools,
    forks, FIFOs) to the last layer before it in stream order, or to the
    first layer if it comes before all of them. A layer's LUT / FF / DSP are
    its units' sums, its II their largest, its cycles the sum of their
    first-output delays (a sample's way through the layer)."""
    from qopt.backends.rtl.verilog import legal_identifier

    idents = {legal_identifier(n): n for n in layer_names}
    owners: list[str | None] = []
    current = None
    for unit in estimates:
        owner = _unit_owner(unit, idents)
        current = owner or current
        owners.append(current)
    first = next((o for o in owners if o is not None), None)
    out: dict[str, dict[str, int]] = {}
    for est, owner in zip(estimates.values(), owners, strict=True):
        owner = owner or first
        if owner is None:
            continue
        acc = out.setdefault(owner, {"lut": 0, "ff": 0, "dsp": 0, "cycles": 0, "ii": 0})
        for key in ("lut", "ff", "dsp"):
            acc[key] += int(est.get(key, 0))
        acc["cycles"] += int(est.get("cycles", est.get("first", 0)))
        acc["ii"] = max(acc["ii"], int(est.get("ii", 0)))
    return out


def _apply_estimates(layers, design):
    from qopt.tools.report import apply_estimates

    per_layer = layer_estimates([ly.name for ly in layers], design.estimates)
    return apply_estimates(layers, per_layer)


def _estimated_totals(design):
    from qopt.tools.report import ResourceCounts

    totals = dict.fromkeys(("lut", "ff", "dsp", "bram"), 0)
    for unit in design.estimates.values():
        for key in totals:
            totals[key] += int(unit.get(key, 0))
    return ResourceCounts(**totals)


def _simulate(design, sv: Path, x: np.ndarray, opts: Options):
    """Stream the inputs `x` through design.sv in Verilator, once under random
    input gaps and output stalls (every output level compared with the
    reference executor's) and once without (cycles per inference: the mean
    interval between finished inferences over the middle half)."""
    from qopt.backends.rtl import RtlError
    from qopt.backends.rtl.verilator import find_verilator, simulate
    from qopt.tools.report import Sim

    levels_in, want = design.reference(np.asarray(x))
    n = len(levels_in)

    def run(stall: float):
        return simulate(
            [sv],
            design.top,
            design.to_beats(levels_in),
            out_lanes=design.out_lanes,
            in_width=design.in_width,
            out_width=design.out_width,
            signed=design.out_signed,
            n_outputs=n * design.beats_out,
            stall_prob_in=stall,
            stall_prob_out=stall,
            measure_ii=False,
            build_dir=opts.cache_dir,
        )

    try:
        stalled, calm = run(STALL), run(0.0)
    except RtlError as e:
        raise DesignError(f"Verilator: {one_line(str(e))} (a qopt bug)") from None
    got = [design.from_beats(r.outputs) for r in (stalled, calm)]
    differs = np.zeros(n, bool)
    for levels in got:
        differs |= np.any((levels != want).reshape(n, -1), axis=1)
    ends = calm.out_cycles[design.beats_out - 1 :: design.beats_out]
    steady = ends[n // 4 : n - n // 4] if n >= 4 else ends
    cycles = round(float(np.diff(steady).mean())) if len(steady) > 1 else None
    return Sim(
        inputs=n,
        bit_exact=not bool(differs.any()),
        cycles_per_inference=cycles,
        mismatches=int(differs.sum()),
        simulator=find_verilator().version,
    )


def _synthesize(design, sv: Path, opts: Options):
    from qopt.backends.rtl import RtlError
    from qopt.backends.rtl.yosys import find_yosys, synth_report
    from qopt.tools.report import ResourceCounts

    try:
        counts = synth_report([sv], design.top, build_dir=opts.cache_dir)
    except RtlError as e:
        raise ToolError(f"Yosys: {one_line(str(e))}") from None
    _, version = find_yosys()
    measured = ResourceCounts(
        lut=counts["LUT"],
        ff=counts["FF"],
        dsp=counts["DSP48E1"],
        bram=counts["RAMB18"] + 2 * counts["RAMB36"],
        carry4=counts["CARRY4"],
    )
    return measured, f"{version} synth_xilinx"


# --------------------------------------------------------------------------- #
# The final table
# --------------------------------------------------------------------------- #


def final_table(result: Result) -> str:
    """The short table printed at the end of a compile: accuracy, weights,
    cycles, resources, the Verilator check, time and files."""
    s = result.summary
    rows: list[tuple[str, str]] = []
    acc = s.accuracy
    if acc is not None:
        if acc.float_accuracy is not None and acc.quantized_accuracy is not None:
            text = (
                f"{100 * acc.quantized_accuracy:.2f} % quantized, "
                f"{100 * acc.float_accuracy:.2f} % float"
            )
            if acc.agreement is not None:
                text += f" (agreement {100 * acc.agreement:.2f} %)"
        elif acc.agreement is not None:
            text = f"agreement with float {100 * acc.agreement:.2f} % (no labels)"
        else:
            text = "no classes to compare"
        rows.append(("accuracy", f"{text}, {acc.samples:,} samples"))
    bits = [(ly.bits, ly.weights) for ly in s.layers if ly.bits and ly.weights]
    if bits:
        total = sum(b * n for b, n in bits)
        count = sum(n for _, n in bits)
        rows.append(
            (
                "weights",
                f"{s.options.get('weights')}: {total / count:.2f} bits per weight, "
                f"{total / 8 / 1024:.2f} KiB",
            )
        )
    if result.hw is not None:
        measured = ""
        if s.sim is not None and s.sim.cycles_per_inference is not None:
            measured = f"; {s.sim.cycles_per_inference:,} measured in Verilator"
        rows.append(
            (
                "cycles",
                f"{result.hw.ii:,} per inference (II), latency "
                f"{result.hw.latency:,} (cost model){measured}",
            )
        )
    res = s.resources
    if res is not None and res.estimated is not None:
        e = res.estimated
        rows.append(
            (
                "LUT estimated",
                f"{e.lut:,} LUT, {e.ff:,} FF, {e.dsp:,} DSP, {e.bram:,} BRAM18",
            )
        )
    if res is not None and res.measured is not None:
        m = res.measured
        rows.append(
            (
                "LUT (Yosys)",
                f"{m.lut:,} LUT, {m.ff:,} FF, {m.dsp:,} DSP, {m.bram:,} BRAM18, "
                f"{m.carry4:,} CARRY4",
            )
        )
    if s.sim is not None:
        verdict = (
            "bit-exact"
            if s.sim.bit_exact
            else f"{s.sim.mismatches} of {s.sim.inputs} inputs DIFFER"
        )
        rows.append(
            (
                "simulation",
                f"{verdict} on {s.sim.inputs:,} inputs (Verilator, random stalls)",
            )
        )
    rows.append(("time", f"{s.total_seconds:.1f} s in {len(s.stages)} stages"))
    rows.append(("report", shown_path(result.out / "report.html")))
    width = max(len(k) for k, _ in rows)
    head = f"qopt compile {s.model}: recipe {s.options.get('recipe')}"
    if s.target_ii is not None:
        head += f", target II {s.target_ii:,}"
    return "\n".join([head, *(f"  {k:<{width}}  {v}" for k, v in rows)])


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `qopt compile`."""
    p.add_argument("model", metavar="MODEL.onnx", help="the float model (ONNX)")
    p.add_argument(
        "--calib",
        required=True,
        metavar="DATA",
        help="calibration inputs: .npz with one array per model input, or .npy",
    )
    p.add_argument(
        "--labels",
        metavar="Y.npy",
        help="one integer class per calibration sample: enables QAT and the "
        "top-1 accuracies",
    )
    p.add_argument(
        "--recipe",
        required=True,
        metavar="RECIPE",
        help=f"{'|'.join(RECIPES)}, or a qopt-quantize recipe file",
    )
    add_hardware_arguments(p)
    p.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        help="build folder (default: build/<model name>)",
    )
    p.add_argument(
        "--val",
        metavar="DATA",
        help="data for the accuracy check "
        "and the simulation (default: the calibration data)",
    )
    p.add_argument("--val-labels", metavar="Y.npy", help="labels of --val")
    p.add_argument(
        "--qat-epochs",
        type=int,
        default=QAT_EPOCHS,
        metavar="N",
        help=f"qopt-qat epochs when --labels is given (default {QAT_EPOCHS})",
    )


def add_hardware_arguments(p: argparse.ArgumentParser, target_ii: int | None = None):
    """The hardware options shared by `qopt compile` and `qopt demo`."""
    p.add_argument(
        "--target-ii",
        type=int,
        default=target_ii,
        metavar="N",
        help="cycles per inference the design must reach"
        + (f" (default {target_ii})" if target_ii else ""),
    )
    p.add_argument(
        "--lut-budget",
        type=int,
        metavar="N",
        help="the fastest design within N LUTs (estimated)",
    )
    p.add_argument(
        "--sim-samples",
        type=int,
        default=SIM_SAMPLES,
        metavar="N",
        help=f"inputs simulated in Verilator (default {SIM_SAMPLES})",
    )
    p.add_argument("--no-sim", action="store_true", help="skip the Verilator check")
    p.add_argument("--no-synth", action="store_true", help="skip Yosys")
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="cache of Verilator builds and Yosys reports "
        "(default $QOPT_RTL_BUILD, else build/rtl)",
    )


def options_from_args(args: argparse.Namespace) -> Options:
    out = args.output or str(Path("build") / Path(args.model).stem)
    return Options(
        model=args.model,
        calib=args.calib,
        recipe=args.recipe,
        target_ii=args.target_ii,
        out=out,
        labels=args.labels,
        val=args.val,
        val_labels=args.val_labels,
        qat_epochs=args.qat_epochs,
        lut_budget=args.lut_budget,
        sim_samples=args.sim_samples,
        sim=not args.no_sim,
        synth=not args.no_synth,
        cache_dir=args.cache_dir,
    )


def run_compile(args: argparse.Namespace) -> None:
    """`qopt compile`: compile, then print the final table."""
    result = compile_model(options_from_args(args))
    print(final_table(result))
