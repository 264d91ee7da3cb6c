"""The compile report (qopt.tools.report) on the trained digits LeNet.

The float model is imported from ONNX, its batchnorms folded, calibrated on
256 training digits and quantized with int8, pot4, spot2 and ternary weights;
the report's statistics are checked against independent computations (the
weight quantizer of qopt-quantize, the executor run on modules that return
every layer's value), its files against the schema, and report.html against
what headless Chromium renders.
"""

from __future__ import annotations

import html
import json
import math
import shlex
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import FunctionType, ModuleOp
from xdsl.parser import Parser

from qopt.backends.reference.nn import dense_to_numpy
from qopt.backends.reference.runner import run_function
from qopt.passes.calibrate import CalibratePass
from qopt.passes.fold_batchnorm import FoldBatchNormPass
from qopt.passes.quant_formats import parse_weight_format, quantize_weights
from qopt.passes.quantize import QuantizePass
from qopt.qdialect import nn, q
from qopt.tools import report
from qopt.tools.errors import ToolError
from qopt.tools.qopt_opt import all_dialects
from qopt.tools.report import (
    Layer,
    ReportError,
    ResourceCounts,
    Resources,
    Sim,
    Stage,
    Summary,
)

FORMATS = ("int8", "pot4", "spot2", "ternary")
NAMES = [
    "conv1_conv1.0_Conv_output",
    "conv2_conv2.0_Conv_output",
    "fc1_Gemm_output",
    "output_acc",
]
LOCATIONS = ["/conv1/conv1.0/Conv", "/conv2/conv2.0/Conv", "/fc1/Gemm", "/fc2/Gemm"]
CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)


# --------------------------------------------------------------------------- #
# fixtures
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def lenet(tmp_path_factory):
    """The calibrated float LeNet, its q modules per format, the digits split."""
    pytest.importorskip("sklearn")
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from qopt.frontends.onnx import import_onnx
    from qopt.models.data import load_digits_split
    from qopt.models.train import export_onnx, get_trained, write_calibration

    tmp = tmp_path_factory.mktemp("report")
    trained = get_trained("digits-lenet", 0)
    module = import_onnx(str(export_onnx(trained.model, tmp / "lenet.onnx")))
    FoldBatchNormPass().apply(Context(), module)
    calib = write_calibration(tmp / "calib.npz", 256, "digits", 0)
    CalibratePass(data=str(calib)).apply(Context(), module)
    quantized = {}
    for fmt in FORMATS:
        qm = module.clone()
        QuantizePass(weights=fmt).apply(Context(), qm)
        qm.verify()
        quantized[fmt] = qm
    return module, quantized, load_digits_split(0), trained


@pytest.fixture(scope="module")
def evaluated(lenet):
    """(layers, accuracy) per format on the 359 test digits."""
    module, quantized, split, _ = lenet
    return {
        fmt: report.evaluate(module, qm, split.x_test, split.y_test)
        for fmt, qm in quantized.items()
    }


def entry(module: ModuleOp) -> func.FuncOp:
    return next(op for op in module.body.block.ops if isinstance(op, func.FuncOp))


def returning(module: ModuleOp, pick) -> ModuleOp:
    """A clone of `module` whose function returns `pick(op)` of every op for
    which it is not None (dequantizing q values), in order."""
    out = module.clone()
    fn = entry(out)
    block = fn.body.blocks.first
    values = []
    for op in list(block.ops):
        value = pick(op)
        if value is None:
            continue
        if isinstance(value.type.element_type, q.QuantizedType):
            deq = q.DequantizeOp(value)
            block.insert_op_before(deq, block.last_op)
            value = deq.output
        values.append(value)
    block.erase_op(block.last_op)
    block.add_op(func.ReturnOp(*values))
    fn.function_type = FunctionType.from_lists(
        fn.function_type.inputs.data, [v.type for v in values]
    )
    out.verify()
    return out


def sqnr(ref: np.ndarray, got: np.ndarray) -> float:
    ref, got = ref.astype(np.float64), got.astype(np.float64)
    return 10 * math.log10(np.sum(ref**2) / np.sum((ref - got) ** 2))


def full_summary(layers, accuracy) -> Summary:
    """A summary with every optional part present (the hardware numbers are
    inputs of the renderer here, as the hardware stages will give them)."""
    layers = report.apply_estimates(
        layers,
        {
            NAMES[0]: {"lut": 812, "ff": 240, "dsp": 0, "cycles": 70, "ii": 64},
            LOCATIONS[1]: {"lut": 1630, "ii": 32},
        },
    )
    return Summary(
        model="digits-lenet",
        stages=[
            Stage(
                "import",
                0.81,
                "00-import.mlir",
                "qopt-opt lenet.onnx -o 00-import.mlir",
            ),
            Stage(
                "quantize",
                0.42,
                "10-quant.mlir",
                report.qopt_opt_command(
                    "00-import.mlir",
                    "builtin.module(qopt-quantize{weights=pot4})",
                    "10-quant.mlir",
                ),
            ),
            Stage("yosys", 12.5),
        ],
        accuracy=accuracy,
        layers=layers,
        resources=Resources(
            estimated=ResourceCounts(lut=2442, ff=240),
            measured=ResourceCounts(lut=2511, ff=260, dsp=0, bram=0, carry4=88),
            tool="yosys 0.23 synth_xilinx",
        ),
        sim=Sim(
            inputs=16, bit_exact=True, cycles_per_inference=140, simulator="verilator"
        ),
        target_ii=64,
        design="design.sv",
        options={"weights": "pot4", "calib": "calib.npz"},
    )


# --------------------------------------------------------------------------- #
# schema
# --------------------------------------------------------------------------- #


def test_summary_round_trip(evaluated):
    layers, accuracy = evaluated["pot4"]
    exact = Layer("w", "q.matmul", weight_format="int8", weight_sqnr_db=math.inf)
    summary = full_summary([*layers, exact], accuracy)
    text = summary.to_json()

    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    data = json.loads(text, parse_constant=no_constants)  # strict JSON
    assert data["layers"][-1]["weight_sqnr_db"] == "inf"
    assert data["layers"][0]["lut"] == 812
    assert data["layers"][1]["lut"] == 1630 and data["layers"][1]["ff"] is None
    assert data["accuracy"]["quantized_accuracy"] == accuracy.quantized_accuracy
    assert data["version"] == report.SCHEMA_VERSION
    back = Summary.from_json(text)
    assert back == summary
    assert back.to_json() == text
    assert Summary.from_json(Summary(model="m").to_json()) == Summary(model="m")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ('{"model": "m", "stages": [{"name": "a", "seconds": NaN}]}', "not JSON"),
        ('{"stages": []}', "summary lacks field 'model'"),
        ('{"model": "m", "colour": 1}', "unknown field 'colour'"),
        (
            '{"model": "m", "stages": [{"name": "a", "seconds": "fast"}]}',
            r"summary.stages\[0\].seconds must be a number",
        ),
        (
            '{"model": "m", "sim": {"inputs": 2, "bit_exact": 1}}',
            "must be true or false",
        ),
        ('{"model": "m", "layers": {}}', "summary.layers must be a list"),
        ('{"model": "m", "version": 2}', "version 2 is not supported"),
    ],
)
def test_summary_rejects_bad_json(text, message):
    with pytest.raises(ReportError, match=message):
        Summary.from_json(text)


def test_apply_estimates_by_name_or_location(evaluated):
    layers, _ = evaluated["int8"]
    out = report.apply_estimates(
        layers, {NAMES[2]: {"ii": 8, "cycles": 9}, LOCATIONS[3]: {"lut": 10}}
    )
    assert [(ly.ii, ly.cycles, ly.lut) for ly in out] == [
        (None, None, None),
        (None, None, None),
        (8, 9, None),
        (None, None, 10),
    ]
    assert layers[2].ii is None  # the input is left as it was
    with pytest.raises(ReportError, match="estimates for unknown layer 'fc9'"):
        report.apply_estimates(layers, {"fc9": {"ii": 1}})
    with pytest.raises(ReportError, match="estimate 'bram' of layer"):
        report.apply_estimates(layers, {NAMES[0]: {"bram": 1}})


def test_qopt_opt_command_quotes_for_the_shell():
    cmd = report.qopt_opt_command(
        "in dir/a.mlir", "builtin.module(qopt-calibrate{data=c d/x.npz})", "b.mlir"
    )
    assert shlex.split(cmd) == [
        "qopt-opt",
        "in dir/a.mlir",
        "--pass-pipeline=builtin.module(qopt-calibrate{data=c d/x.npz})",
        "-o",
        "b.mlir",
    ]


# --------------------------------------------------------------------------- #
# statistics from the IR
# --------------------------------------------------------------------------- #


def test_layer_stats_of_the_pot4_lenet(lenet, evaluated):
    module, quantized, split, _ = lenet
    layers, _ = evaluated["pot4"]
    assert [ly.name for ly in layers] == NAMES
    assert [ly.location for ly in layers] == LOCATIONS
    assert [ly.op for ly in layers] == ["q.conv2d", "q.conv2d", "q.matmul", "q.matmul"]
    assert {(ly.weight_format, ly.granularity, ly.bits) for ly in layers} == {
        ("pot4", "channel", 4.0)
    }
    assert [ly.weights for ly in layers] == [72, 1152, 2048, 320]
    # conv1: 8x8x8 outputs of 1x3x3 taps; conv2: 16x4x4 of 8x3x3; fc1 32x64; fc2 10x32
    assert [ly.macs for ly in layers] == [4608, 18432, 2048, 320]
    assert all(getattr(ly, f) is None for ly in layers for f in report.ESTIMATE_FIELDS)
    # the weight SQNR from qopt-quantize's own quantizer on the float weights
    fmt = parse_weight_format("pot4")
    fn = entry(module)
    float_layers = [
        op for op in fn.body.blocks.first.ops if isinstance(op, nn.Conv2dOp | nn.GemmOp)
    ]
    for layer, op in zip(layers, float_layers, strict=True):
        w = dense_to_numpy(op.operands[1].op.value).astype(np.float64)
        w, axis = (w, 0) if isinstance(op, nn.Conv2dOp) else (w.T, 1)
        levels, qtype = quantize_weights(w, fmt, axis, op.operands[1].type.element_type)
        want = sqnr(w, qtype.dequantize(levels))
        assert layer.weight_sqnr_db == pytest.approx(want, abs=1e-3)
    # the output SQNR from modules that return every layer's (accumulator) value
    ref = run_function(
        returning(
            module,
            lambda op: (
                op.results[0] if isinstance(op, nn.Conv2dOp | nn.GemmOp) else None
            ),
        ),
        [split.x_test],
    )
    got = run_function(
        returning(
            quantized["pot4"],
            lambda op: (
                op.results[0] if isinstance(op, q.Conv2dOp | q.MatmulOp) else None
            ),
        ),
        [split.x_test],
    )
    for layer, r, g in zip(layers, ref, got, strict=True):
        assert layer.output_sqnr_db == pytest.approx(sqnr(r, g), abs=1e-3)


def test_accuracy_against_the_trained_model(lenet, evaluated):
    module, quantized, split, trained = lenet
    _, acc = evaluated["int8"]
    assert acc.samples == len(split.y_test) == 359
    assert acc.float_accuracy == pytest.approx(trained.test_acc, abs=1e-12)
    y_float = run_function(module, [split.x_test])[0]
    y_int8 = run_function(quantized["int8"], [split.x_test])[0]
    assert acc.quantized_accuracy == np.mean(y_int8.argmax(1) == split.y_test)
    assert acc.agreement == np.mean(y_int8.argmax(1) == y_float.argmax(1))
    assert acc.output_sqnr_db == pytest.approx(sqnr(y_float, y_int8), abs=1e-6)
    assert abs(acc.quantized_accuracy - acc.float_accuracy) <= 0.005
    # without labels: the agreement only; batches of 100 give the same numbers
    # (up to the float32 rounding of the float model, which depends on the batch)
    layers, unlabelled = report.evaluate(
        module, quantized["int8"], [split.x_test], batch_size=100
    )
    assert unlabelled.float_accuracy is None and unlabelled.quantized_accuracy is None
    assert unlabelled.agreement == acc.agreement
    assert unlabelled.output_sqnr_db == pytest.approx(acc.output_sqnr_db, abs=1e-4)
    same = report.layer_stats(module, quantized["int8"], split.x_test)
    assert [ly.output_sqnr_db for ly in same] == pytest.approx(
        [ly.output_sqnr_db for ly in layers], abs=1e-4
    )


def test_sqnr_falls_with_the_bits(evaluated):
    """int8 > spot2 > pot4 > ternary, for weights and outputs of every layer,
    and the accuracy of the close formats follows: int8 and spot2 keep the
    float accuracy (within three of the 359 test digits of each other),
    ternary with nearest rounding does not. (pot4 with nearest rounding
    lands anywhere between, depending on the training run.)"""
    order = ["int8", "spot2", "pot4", "ternary"]
    for i in range(len(NAMES)):
        weight = [evaluated[f][0][i].weight_sqnr_db for f in order]
        output = [evaluated[f][0][i].output_sqnr_db for f in order]
        assert weight == sorted(weight, reverse=True), (NAMES[i], weight)
        assert output == sorted(output, reverse=True), (NAMES[i], output)
        # uniform 8-bit: ~6 dB per bit minus the crest factor of the weights
        assert 40 < weight[0] < 55
        assert 12 < weight[2] < 20  # pot4: 15 levels, relative steps of 2x
        assert 5 < weight[3] < 12  # ternary
    accuracy = [evaluated[f][1].quantized_accuracy for f in order]
    assert min(accuracy[0], accuracy[1]) > 0.95
    assert abs(accuracy[0] - accuracy[1]) <= 0.01
    assert accuracy[3] < 0.8


@pytest.mark.parametrize("fmt", FORMATS)
def test_histograms_carry_the_level_set_of_the_format(lenet, fmt):
    module, quantized, _, _ = lenet
    hists = report.weight_histograms(module, quantized[fmt], bins=40)
    assert [h.layer for h in hists] == NAMES
    levels = parse_weight_format(fmt).levels_attr.levels
    constants = [
        op.operands[1].op
        for op in entry(quantized[fmt]).body.blocks.first.ops
        if isinstance(op, q.Conv2dOp | q.MatmulOp)
    ]
    for h, const in zip(hists, constants, strict=True):
        assert h.weight_format == fmt
        np.testing.assert_array_equal(h.levels, levels)
        stored, counts = np.unique(const.levels(), return_counts=True)
        expect = np.zeros(len(levels), dtype=np.int64)
        expect[np.searchsorted(levels, stored)] = counts
        np.testing.assert_array_equal(h.level_counts, expect)
        assert h.counts.sum() == h.total == const.levels().size
        assert len(h.edges) == 41 and np.all(np.diff(h.edges) > 0)
        assert h.edges[0] <= levels[0] and h.edges[-1] >= levels[-1]
        assert h.symlog == (fmt in ("pot4", "spot2"))
    # the float weights of conv1 in level units, beyond the extreme levels
    w = dense_to_numpy(
        next(
            op
            for op in entry(module).body.blocks.first.ops
            if isinstance(op, nn.Conv2dOp)
        ).weight.op.value
    ).astype(np.float64)
    scale = np.array(q.qtype_of(constants[0].output).scale_values)[:, None, None, None]
    units = w / scale
    assert hists[0].beyond == np.sum((units < levels[0]) | (units > levels[-1]))


def test_mixed_weights(lenet):
    """qopt-mixed-precision's row formats: named by their level sets, the
    average bits of the type, histogram levels the union of the sets."""
    from qopt.passes.mixed_precision import MixedPrecisionPass

    module, _, split, _ = lenet
    mixed = module.clone()
    MixedPrecisionPass(avg_bits=3.0, granularity="row").apply(Context(), mixed)
    qm = mixed.clone()
    QuantizePass().apply(Context(), qm)
    layers = report.layer_stats(mixed, qm, split.x_test)
    weights = [
        op.operands[1].op.output.type
        for op in entry(qm).body.blocks.first.ops
        if isinstance(op, q.Conv2dOp | q.MatmulOp)
    ]
    for layer, ty in zip(layers, weights, strict=True):
        shift = ty.element_type.level_sets()[0].shift.data
        assert layer.weight_format == f"mixed(ternary << {shift}, int8; row)"
        assert layer.bits == ty.element_type.average_bits(ty.get_shape())
        assert 2 < layer.bits <= 3
    hists = report.weight_histograms(mixed, qm)
    np.testing.assert_array_equal(hists[0].levels, np.arange(-127, 128))
    assert not hists[0].symlog


def test_a_layer_left_float(tmp_path):
    """A gemm whose bias differs per row stays float in qopt-quantize: the
    report shows its float type and no weight SQNR; static batches of 2."""
    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(size=(4, 3)), rng.normal(size=(3, 2))
    text = f"""
    func.func @main(%x: tensor<2x4xf32>) -> tensor<2x2xf32> {{
      %w1 = nn.constant dense<{w1.tolist()}> : tensor<4x3xf32>
      %b1 = nn.constant dense<[0.1, -0.2, 0.3]> : tensor<3xf32>
      %h = nn.gemm %x, %w1, %b1
        : (tensor<2x4xf32>, tensor<4x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
      %w2 = nn.constant dense<{w2.tolist()}> : tensor<3x2xf32>
      %b2 = nn.constant dense<[[0.5, 0.0], [0.0, -0.5]]> : tensor<2x2xf32>
      %y = nn.gemm %h, %w2, %b2
        : (tensor<2x3xf32>, tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
      func.return %y : tensor<2x2xf32>
    }}
    """
    ctx = Context()
    for name, factory in all_dialects().items():
        ctx.register_dialect(name, factory)
    module = Parser(ctx, text).parse_module()
    x = rng.normal(size=(64, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    CalibratePass(data=str(tmp_path / "x.npy")).apply(ctx, module)
    qm = module.clone()
    QuantizePass().apply(ctx, qm)
    layers, acc = report.evaluate(module, qm, x)
    assert [(ly.name, ly.op, ly.weight_format, ly.bits) for ly in layers] == [
        ("h_acc", "q.matmul", "int8", 8.0),  # the accumulator's name in q IR
        ("y", "nn.gemm", "f32", 32.0),
    ]
    assert layers[0].weight_sqnr_db > 40 and layers[1].weight_sqnr_db is None
    ref = np.concatenate([run_function(module, [b])[0] for b in np.split(x, 32)])
    got = np.concatenate([run_function(qm, [b])[0] for b in np.split(x, 32)])
    assert layers[1].output_sqnr_db == pytest.approx(sqnr(ref, got), abs=1e-6)
    assert acc.output_sqnr_db == layers[1].output_sqnr_db
    assert [h.layer for h in report.weight_histograms(module, qm)] == ["h_acc"]
    with pytest.raises(ReportError, match="takes batches of 2: give a multiple of 2"):
        report.evaluate(module, qm, x[:5])


def test_bad_inputs_are_one_line_errors(lenet):
    module, quantized, split, _ = lenet
    qm = quantized["int8"]
    with pytest.raises(
        ReportError, match=r"input 0 has shape 5x64, @main expects \?x1x8x8$"
    ):
        report.evaluate(module, qm, split.x_test[:5].reshape(5, 64))
    with pytest.raises(ReportError, match="3 labels for 359 samples"):
        report.evaluate(module, qm, split.x_test, split.y_test[:3])
    with pytest.raises(ReportError, match="takes 1 inputs, 2 given"):
        report.evaluate(module, qm, [split.x_test, split.x_test])
    with pytest.raises(ReportError, match="bins must be at least 1"):
        report.weight_histograms(module, qm, bins=0)
    # a q module that was not quantized from this float module
    renamed = qm.clone()
    for op in entry(renamed).body.blocks.first.ops:
        if isinstance(op, q.Conv2dOp):
            op.output.name_hint = "other"
    with pytest.raises(
        ReportError,
        match=r"no layer for %conv1_conv1.0_Conv_output, %conv2_conv2.0_Conv_output "
        r"of the float module",
    ):
        report.layer_stats(module, renamed, split.x_test)
    with pytest.raises(ReportError, match="no function @nope to report on"):
        report.layer_stats(module, qm, split.x_test, entry="nope")


# --------------------------------------------------------------------------- #
# the files
# --------------------------------------------------------------------------- #


class _Outline(HTMLParser):
    """Section ids with their h2 text, every URL-carrying attribute, svgs."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, str] = {}
        self.urls: list[str] = []
        self.svgs = 0
        self._section: str | None = None
        self._h2: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self._section = a.get("id")
        if tag == "h2" and self._section is not None:
            self._h2 = []
        if tag == "svg":
            self.svgs += 1
        for key in ("src", "href", "xlink:href", "action"):
            if a.get(key):
                self.urls.append(a[key])

    def handle_data(self, data):
        if self._h2 is not None:
            self._h2.append(data)

    def handle_endtag(self, tag):
        if tag == "h2" and self._h2 is not None:
            self.sections[self._section] = "".join(self._h2)  # type: ignore[index]
            self._h2 = None


def outline(text: str) -> _Outline:
    parser = _Outline()
    parser.feed(text)
    return parser


@pytest.fixture(scope="module")
def written(lenet, evaluated, tmp_path_factory):
    """A real report of the pot4 LeNet: the four layers' statistics, the
    histograms, hardware estimates for two layers only."""
    pytest.importorskip("matplotlib")
    module, quantized, _, _ = lenet
    layers, accuracy = evaluated["pot4"]
    summary = full_summary(layers, accuracy)
    hists = report.weight_histograms(module, quantized["pot4"])
    out = tmp_path_factory.mktemp("build") / "build"
    paths = report.write_report(summary, out, hists)
    return summary, out, paths


def test_write_report_files(written):
    summary, out, paths = written
    assert [p.name for p in paths] == ["summary.json", "report.md", "report.html"]
    assert sorted(p.name for p in out.iterdir()) == [
        "report.html",
        "report.md",
        "summary.json",
    ]  # no temporary files left
    assert Summary.from_json((out / "summary.json").read_text()) == summary
    md = (out / "report.md").read_text()
    assert [line[3:] for line in md.splitlines() if line.startswith("## ")] == [
        title for _, title in report.SECTIONS
    ]
    assert "[10-quant.mlir](10-quant.mlir)" in md
    assert "[design.sv](design.sv)" in md
    assert summary.stages[1].command in md
    row = next(line for line in md.splitlines() if f"`{NAMES[2]}`" in line)
    assert row.count(report.DASH) == 5  # no hardware estimates for fc1
    assert "| 0 | `conv1_conv1.0_Conv_output` | q.conv2d | pot4 / channel | 4 |" in md


def test_report_html_is_self_contained(written):
    summary, out, _ = written
    text = (out / "report.html").read_text()
    page = outline(text)
    assert page.sections == dict(report.SECTIONS)
    # links: in-page anchors and the build folder's own files only
    external = [u for u in page.urls if not u.startswith("#") and ":" in u]
    assert external == [] and "http://" not in text and "https://" not in text
    assert "<link" not in text and "@import" not in text and "<script" not in text
    assert set(u for u in page.urls if not u.startswith("#")) == {
        "00-import.mlir",
        "10-quant.mlir",
    }
    assert page.svgs == 1 + 4 + 1  # SQNR, four histograms, resources per layer
    plain = html.unescape(text)
    assert summary.stages[1].command in plain
    assert (
        "Top-1 accuracy" in plain
        and f"{100 * summary.accuracy.quantized_accuracy:.2f} %" in plain
    )
    assert "II 64 · 70 cycles" in plain and "II —" in plain


def test_write_report_into_a_file_fails_cleanly(tmp_path):
    blocker = tmp_path / "build"
    blocker.write_text("not a folder")
    with pytest.raises(ToolError, match="cannot create"):
        report.write_report(Summary(model="m"), blocker)
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (apt-get install -y chromium)",
)
def test_report_renders_in_headless_chromium(written, tmp_path):
    _, out, _ = written
    png = tmp_path / "report.png"
    flags = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    url = (out / "report.html").resolve().as_uri()
    dom = subprocess.run(
        [*flags, "--dump-dom", url], capture_output=True, text=True, timeout=180
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = outline(dom.stdout)
    assert page.sections == dict(report.SECTIONS)
    assert page.svgs == 6
    shot = subprocess.run(
        [*flags, f"--screenshot={png}", "--window-size=1280,4000", url],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert shot.returncode == 0 and png.exists(), shot.stderr[-2000:]
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("RGB"), dtype=np.float64)
    assert pixels.shape == (4000, 1280, 3)
    assert pixels.std() > 20  # not a blank page
    colours = {tuple(c) for c in pixels[::2, ::2].reshape(-1, 3).astype(int)}
    # the plots drew: the bars of the SQNR plot, the level lines, the dark header
    for hex_colour in (report.BLUE, report.AMBER, "#0f172a"):
        rgb = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
        assert rgb in colours, hex_colour
