"""QONNX importer: quantizers of QONNX / Brevitas / FINN models become `q` types.

The ONNX importer (`qopt.frontends.onnx`) loads this module as a plugin; it
registers converters for the custom domains `qonnx.custom_op.general`,
`finn.custom_op.general` and `onnx.brevitas`, and for the standard
`QuantizeLinear` / `DequantizeLinear`. The float graph around them is
imported as usual; every quantizer becomes `q` ops whose types carry its
exact parameters (bit width, signedness, narrow range, scale, zero point),
followed by `q.dequantize` back into the float graph, so that the imported
function computes what the QONNX reference executes, bit for bit.

- Quant / IntQuant on a constant (a weight or bias): `q.constant` of a
  `!q.uniform` type holding the levels QONNX computes (any rounding mode,
  per-tensor / per-axis / per-block scales and zero points) + `q.dequantize`.
- Quant on an activation: `q.quantize` + `q.dequantize`, a fake-quant pair.
  The type is `!q.uniform` when `q.quantize`'s rule (round half to even of
  ``x / s``, then add the zero point, saturate) is exactly QONNX's (round
  of ``x / s + zeropt``): for ROUND / HALF_EVEN with a zero point of 0. For
  any other rounding mode or a nonzero zero point, `q.quantize` to
  `!q.thresholds` with the same scale and zero point, whose thresholds are
  the exact float inputs at which QONNX's levels step (so the codes are
  ``level - min_level``); one scale and zero point per tensor.
- BipolarQuant: ±scale. A constant becomes `!q.uniform<i2<-1:1>...>` (only
  ±1 occur); an activation `!q.thresholds<u2:f32, s:1, [0.0, 0.0]>`: codes 0
  and 2 (the middle bin is empty), real values s·(code - 1) = ±s exactly.
- Trunc (qonnx opset 1 or 2, rounding mode FLOOR by default): `q.quantize`
  to `!q.thresholds` (the levels of its double rounding are monotone in x) +
  `q.dequantize` with the output scale and zero point. Version 2 clamps to
  the output bit width, so it is exact for every input; version 1 does not
  clamp, and qopt saturates the rounded input integer to its declared input
  bit width (the op's contract), so inputs outside it are the one case where
  qopt and QONNX v1 differ.
- MultiThreshold (FINN): `q.quantize` to `!q.thresholds` (per channel along
  the `data_layout`'s C axis, or per tensor for one row of thresholds, rows
  sorted) with scale `out_scale`; `out_bias` becomes the zero point
  ``-out_bias / out_scale`` when that reproduces QONNX's float
  ``out_scale * code + out_bias`` exactly for every code, and otherwise
  (zero point 0) an `nn.add` of `out_bias` after the dequantize, which does.
- QuantizeLinear (opsets 10-21): `!q.uniform` with the storage of the zero
  point (int8/uint8, int16/uint16, int4/uint4), per tensor, per axis
  (opset 13) or per block (opset 21): `q.quantize` (its rule is ONNX's), or
  `q.constant` when the input is a constant. Its output may be read only by
  DequantizeLinear (or be a graph output). DequantizeLinear: `q.dequantize`
  of a QuantizeLinear output with the same parameters, or of a constant
  integer tensor (weights, int32 biases) as a `q.constant`.

Rules and errors (one line, naming the node): scales, zero points and bit
widths must be constants (a parameter kept as a graph input needs
`--inline-params`); scales positive and finite, of the input's float type;
zero points integers inside the level range; bit widths integers, 1 to 16
for activations and 1 to 32 for constants (Brevitas' Int32Bias); a signed
1-bit Quant is bipolar (as qonnx executes it). Unknown rounding modes,
FloatQuant, per-channel scales on an activation that needs `!q.thresholds`,
and QuantizeLinear outputs read by other ops are reported with the other
unsupported ops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from qopt.frontends.onnx import (
    Node,
    NodeInfo,
    Unsupported,
    Value,
    ir_element_type,
    known_value,
    location,
    register_op,
    ssa_name,
)
from qopt.frontends.onnx_ops import binary
from qopt.frontends.onnx_shapes import Sym, is_partial
from qopt.frontends.qonnx_numerics import (
    HALF_EVEN,
    ROUNDING_MODES,
    ThresholdError,
    bipolar_levels,
    int_bounds,
    monotone_thresholds,
    quant_levels,
    rounding,
    trunc_scale_v2,
    trunc_v1_levels,
    trunc_v1_scale,
    trunc_v2_levels,
)
from qopt.qdialect import nn, q
from qopt.qdialect.qtypes import QuantizedType, ThresholdsType, UniformType

QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general", "onnx.brevitas")
"""The domains of QONNX's operators (FINN's older name and Brevitas' own)."""

MAX_ACTIVATION_BITS = 16
MAX_CONSTANT_BITS = 32

_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


# --------------------------------------------------------------------------- #
# Parameters
# --------------------------------------------------------------------------- #


def _graph_param_hint(n: Node, value: Value) -> str:
    inits = getattr(n.imp, "_qonnx_initializers", None)
    if inits is None:
        inits = {t.name for t in n.imp.graph.initializer}
        n.imp._qonnx_initializers = inits
    if value.name in inits:
        return (
            f" ('{value.name}' is a graph input with an initializer: import with "
            "--inline-params / inline_params=True to make it a constant)"
        )
    return ""


def _const(n: Node, i: int, what: str) -> np.ndarray:
    """An input that must be a constant."""
    if not n.has_input(i):
        raise n.error(f"the {what} (input {i}) is missing")
    v = n.input(i)
    if not v.is_known or is_partial(v.known):
        raise n.error(
            f"the {what} must be a constant, but '{v.name}' is computed at run "
            "time" + _graph_param_hint(n, v)
        )
    return np.asarray(v.known)


def _float_input(n: Node, x: Value, what: str = "input") -> None:
    if x.dtype not in _FLOATS:
        raise n.error(f"the {what} must be a float tensor, got {x.dtype}")


def _scale(n: Node, i: int, x: Value, what: str = "scale") -> np.ndarray:
    s = _const(n, i, what)
    if s.dtype.kind != "f":
        raise n.error(f"the {what} must be a float tensor, got {s.dtype}")
    if s.dtype != x.dtype:
        raise n.error(
            f"the {what} is {s.dtype} but the input is {x.dtype} (qopt quantizes "
            "in the input's float type)"
        )
    if s.size == 0 or not np.all(np.isfinite(s)) or not np.all(s > 0):
        bad = s.ravel()[~(np.isfinite(s.ravel()) & (s.ravel() > 0))]
        shown = f" ({float(bad[0]):g})" if bad.size else ""
        raise n.error(f"the {what} must be positive and finite{shown}")
    return s


def _zero_point(n: Node, i: int, what: str = "zero point") -> np.ndarray:
    z = _const(n, i, what)
    if z.dtype.kind not in "fiu":
        raise n.error(f"the {what} must be numeric, got {z.dtype}")
    zf = z.astype(np.float64)
    if not np.all(np.isfinite(zf)) or np.any(zf != np.round(zf)):
        bad = zf.ravel()[
            (~np.isfinite(zf.ravel())) | (zf.ravel() != np.round(zf.ravel()))
        ]
        raise n.error(
            f"the {what} {float(bad[0]):g} is not an integer (q types need integer "
            "zero points)"
        )
    return z


def _bit_width(
    n: Node, i: int, limit: int, what: str = "bit width"
) -> tuple[np.ndarray, int]:
    b = _const(n, i, what)
    if b.size != 1 or b.dtype.kind not in "fiu":
        raise n.error(f"the {what} must be one number, got shape {list(b.shape)}")
    value = float(b.ravel()[0])
    if not np.isfinite(value) or value != round(value):
        raise n.error(f"the {what} {value:g} is not an integer")
    bits = int(value)
    if not 1 <= bits <= limit:
        raise n.error(f"the {what} {bits} is outside 1..{limit}")
    return b.reshape(()), bits


def _mode(n: Node, default: str) -> str:
    mode = str(n.attr("rounding_mode", default) or default)
    if rounding(mode) is None:
        raise Unsupported(
            f"rounding mode '{mode}' (known: {', '.join(ROUNDING_MODES)})",
            f"rounding {mode}",
        )
    return mode.upper()


def _check_mode(default: str) -> Callable[[NodeInfo], str | None]:
    def check(info: NodeInfo) -> str | None:
        mode = str(info.attrs.get("rounding_mode", default) or default)
        return None if rounding(mode) is not None else f"rounding {mode}"

    return check


def _flag(n: Node, name: str) -> bool:
    value = n.attr(name)
    if value is None:
        return {"signed": True, "narrow": False}[name]
    if int(value) not in (0, 1):
        raise n.error(f"attribute '{name}' must be 0 or 1, got {value}")
    return bool(int(value))


# --------------------------------------------------------------------------- #
# Scale layouts
# --------------------------------------------------------------------------- #


class Grid:
    """Parameters broadcast against the input: the axes along which they vary,
    and their values on those axes (row-major over the axes)."""

    def __init__(self, axes: list[int], shape: list[int], values: list[np.ndarray]):
        self.axes = axes
        self.shape = shape
        self.values = values

    @property
    def per_tensor(self) -> bool:
        return not self.axes


def _grid(n: Node, x: Value, params: Sequence[tuple[str, np.ndarray]]) -> Grid:
    rank = x.rank
    axes: set[int] = set()
    aligned = []
    for what, a in params:
        if a.ndim > rank:
            raise n.error(f"the {what} has rank {a.ndim}, more than the input's {rank}")
        b = a.reshape((1,) * (rank - a.ndim) + a.shape)
        for axis, d in enumerate(b.shape):
            if d == 1:
                continue
            dim = x.shape[axis]
            if isinstance(dim, Sym):
                raise n.error(
                    f"the {what} varies along axis {axis}, whose size is dynamic "
                    "(the batch)"
                )
            if d != dim:
                raise n.error(
                    f"the {what} of shape {list(a.shape)} does not broadcast to the "
                    f"input's axis {axis} of size {dim}"
                )
            axes.add(axis)
        aligned.append(b)
    order = sorted(axes)
    full = [int(x.shape[a]) if a in axes else 1 for a in range(rank)]  # type: ignore[arg-type]
    shape = [full[a] for a in order]
    values = [np.broadcast_to(b, full).reshape(shape) for b in aligned]
    return Grid(order, shape, values)


def _uniform_type(
    n: Node,
    bits: int,
    signed: bool,
    lo: int,
    hi: int,
    grid: Grid,
    scale: np.ndarray,
    zp: np.ndarray,
    expressed: Any,
) -> UniformType:
    """A `!q.uniform` type; `scale` and `zp` are the grid's values."""
    zps = np.rint(zp.astype(np.float64)).astype(np.int64)
    if np.any(zps < lo) or np.any(zps > hi):
        bad = int(zps.ravel()[(zps.ravel() < lo) | (zps.ravel() > hi)][0])
        raise n.error(f"the zero point {bad} is outside the level range [{lo}, {hi}]")
    scales = scale.astype(np.float64)
    common = dict(low=lo, high=hi, expressed=expressed)
    if grid.per_tensor:
        return UniformType(bits, signed, float(scales), int(zps), **common)
    if len(grid.axes) == 1:
        return UniformType(
            bits,
            signed,
            scales.ravel().tolist(),
            zps.ravel().tolist(),
            axis=grid.axes[0],
            **common,
        )
    return UniformType(
        bits,
        signed,
        scales,
        zps.ravel().tolist(),
        blocks=dict.fromkeys(grid.axes, 1),
        grid=grid.shape,
        **common,
    )


def _code_width(count: int) -> int:
    return max(1, int(count).bit_length())


def _thresholds_type(
    n: Node,
    fn: Callable[[np.ndarray], np.ndarray],
    x: Value,
    scale: float,
    zero_point: int,
    bounds: tuple[int, int] | None = None,
) -> ThresholdsType:
    """`!q.thresholds` reproducing the monotone level function `fn` exactly;
    the real value of level L is scale * (L - zero_point)."""
    if bounds is None:
        ends = np.asarray(fn(np.array([-np.inf, np.inf], dtype=x.dtype)))
        bounds = int(ends[0]), int(ends[1])
    lo, hi = bounds
    count = hi - lo
    if count < 1:
        raise n.error(f"the quantizer has a single level ({lo})")
    if _code_width(count) > MAX_ACTIVATION_BITS:
        raise n.error(
            f"the quantizer has {count + 1} levels; q.thresholds codes hold at most "
            f"{1 << MAX_ACTIVATION_BITS}"
        )
    if not lo <= zero_point <= hi:
        raise n.error(
            f"the zero point {zero_point} is outside the level range [{lo}, {hi}]"
        )
    try:
        t = monotone_thresholds(fn, x.dtype, lo, hi)
    except ThresholdError as e:
        raise n.error(str(e)) from None
    return ThresholdsType(
        _code_width(count),
        scale,
        t,
        zero_point - lo,
        expressed=ir_element_type(x.dtype),
    )


# --------------------------------------------------------------------------- #
# Emitting
# --------------------------------------------------------------------------- #


def _q_value(n: Node, op: Any, shape: Sequence[Any], dtype: Any) -> Value:
    """A Value for a q-typed result (which `Node.out` cannot type)."""
    n.emit(op)
    return Value("", np.dtype(dtype), tuple(shape), ssa=op.results[0])


def _fake_quant(n: Node, x: Value, qtype: QuantizedType) -> Value:
    quantized = q.QuantizeOp(n.ssa(x), qtype)
    n.emit(quantized)
    name = ssa_name(n.proto.output[0]) if n.proto.output else None
    if name:
        quantized.results[0].name_hint = name + "_q"
    return n.out(q.DequantizeOp(quantized.results[0]), x.shape)


def _constant(n: Node, source: Value, levels: np.ndarray, qtype: QuantizedType) -> Any:
    """A q.constant of `levels` named after `source` (a weight)."""
    levels = np.asarray(levels)
    if levels.dtype.kind == "f":
        levels = levels.astype(np.float64)
        if not np.all(np.isfinite(levels)):
            raise n.error("a quantized constant has a non-finite level (NaN input?)")
    levels = np.asarray(levels).astype(np.int64)
    bad = ~qtype.representable(levels)
    if np.any(bad):
        raise n.error(
            f"the level {int(levels[bad].ravel()[0])} of '{source.name}' does not "
            f"fit {qtype}"
        )
    op = q.ConstantOp.from_levels(levels, qtype)
    n.emit(op)
    name = source.name or source.hint
    if name:
        op.location = location(name)
        op.results[0].name_hint = ssa_name(name + "_q")
    return op


def _dequantized_constant(
    n: Node, source: Value, levels: np.ndarray, qtype: QuantizedType
) -> Value:
    op = _constant(n, source, levels, qtype)
    return n.out(q.DequantizeOp(op.results[0]), source.shape)


# --------------------------------------------------------------------------- #
# Quant / IntQuant
# --------------------------------------------------------------------------- #


def convert_quant(n: Node):
    x = n.input(0)
    _float_input(n, x)
    scale = _scale(n, 1, x)
    zeropt = _zero_point(n, 2)
    signed, narrow = _flag(n, "signed"), _flag(n, "narrow")
    mode = _mode(n, "ROUND")
    constant = x.is_const
    bw, bits = _bit_width(n, 3, MAX_CONSTANT_BITS)
    if not constant and bits > MAX_ACTIVATION_BITS:
        raise n.error(
            f"the bit width {bits} is outside 1..{MAX_ACTIVATION_BITS} (the input is "
            f"computed at run time; constants may have up to {MAX_CONSTANT_BITS} "
            "bits)" + _graph_param_hint(n, x)
        )
    bipolar = bits == 1 and signed
    lo, hi = (-1, 1) if bipolar else int_bounds(signed, narrow, bits)
    grid = _grid(n, x, [("scale", scale), ("zero point", zeropt)])
    expressed = ir_element_type(x.dtype)
    if constant:
        levels = quant_levels(x.known, scale, zeropt, bw, signed, narrow, mode)
        width, lo_t, hi_t = (2, -1, 1) if bipolar else (bits, lo, hi)
        qtype = _uniform_type(
            n, width, signed or bipolar, lo_t, hi_t, grid, *grid.values, expressed
        )
        return _dequantized_constant(n, x, levels, qtype)
    if mode in HALF_EVEN and not np.any(zeropt) and not bipolar:
        if len(grid.axes) > 1:
            raise Unsupported(
                "scales that vary along more than one axis of an activation",
                "per-block activation",
            )
        qtype = _uniform_type(n, bits, signed, lo, hi, grid, *grid.values, expressed)
        return _fake_quant(n, x, qtype)
    if not grid.per_tensor:
        why = f"rounding mode {mode}" if mode not in HALF_EVEN else "a zero point"
        raise Unsupported(
            f"{why} with per-channel scales or zero points on an activation (qopt "
            "expresses it exactly as !q.thresholds, which has one scale and zero "
            "point)",
            "per-channel thresholds",
        )
    s = scale.reshape(())
    z = zeropt.reshape(())

    def fn(v: np.ndarray) -> np.ndarray:
        return quant_levels(v, s, z, bw, signed, narrow, mode)

    qtype = _thresholds_type(n, fn, x, float(s), int(float(z)), (lo, hi))
    return _fake_quant(n, x, qtype)


# --------------------------------------------------------------------------- #
# BipolarQuant
# --------------------------------------------------------------------------- #


def convert_bipolar_quant(n: Node):
    x = n.input(0)
    _float_input(n, x)
    scale = _scale(n, 1, x)
    grid = _grid(n, x, [("scale", scale)])
    expressed = ir_element_type(x.dtype)
    if x.is_const:
        qtype = _uniform_type(
            n, 2, True, -1, 1, grid, grid.values[0], np.zeros(grid.shape), expressed
        )
        return _dequantized_constant(n, x, bipolar_levels(x.known), qtype)
    if not grid.per_tensor:
        raise Unsupported(
            "per-channel scales on a bipolar activation (!q.thresholds has one scale)",
            "per-channel activation",
        )
    qtype = _thresholds_type(n, bipolar_levels, x, float(scale.reshape(())), 0, (-1, 1))
    return _fake_quant(n, x, qtype)


# --------------------------------------------------------------------------- #
# Trunc
# --------------------------------------------------------------------------- #


def _per_tensor(n: Node, x: Value, what: str, a: np.ndarray) -> np.ndarray:
    if a.size != 1:
        raise Unsupported(
            f"a per-channel {what} (Trunc becomes !q.thresholds, which has one "
            "scale and zero point)",
            f"per-channel {what}",
        )
    return a.reshape(())


def convert_trunc(n: Node):
    x = n.input(0)
    _float_input(n, x)
    declared = n.domain in n.imp.opsets
    # the domain's opset says which version; without one, the inputs do
    v2 = n.version >= 2 if declared else n.n_inputs == 6
    want = 6 if v2 else 5
    if n.n_inputs != want:
        raise n.error(
            f"Trunc version {2 if v2 else 1} (the model's {n.domain} opset) takes "
            f"{want} inputs, got {n.n_inputs}"
        )
    mode = _mode(n, "FLOOR")
    scale = _per_tensor(n, x, "scale", _scale(n, 1, x))
    zeropt = _per_tensor(n, x, "zero point", _zero_point(n, 2))
    in_bw, in_bits = _bit_width(n, 3, MAX_CONSTANT_BITS, "input bit width")
    if v2:
        out_scale = _per_tensor(n, x, "output scale", _scale(n, 4, x, "output scale"))
        out_bw, out_bits = _bit_width(n, 5, MAX_ACTIVATION_BITS, "output bit width")
        signed, narrow = _flag(n, "signed"), _flag(n, "narrow")
        ts = trunc_scale_v2(scale, out_scale)
        if not np.isfinite(ts) or ts <= 0:
            raise n.error("the ratio of output scale to scale is not a power of two")
        out_zp = float(zeropt / ts)
        if out_zp != round(out_zp):
            raise n.error(
                f"the output zero point (zero point / {float(ts):g} = {out_zp:g}) is "
                "not an integer"
            )

        def fn(v: np.ndarray) -> np.ndarray:
            return trunc_v2_levels(
                v, scale, zeropt, out_scale, out_bw, signed, narrow, mode
            )

        bounds = int_bounds(signed, narrow, out_bits)
        qtype = _thresholds_type(n, fn, x, float(out_scale), int(out_zp), bounds)
        return _fake_quant(n, x, qtype)
    out_bw, out_bits = _bit_width(n, 4, MAX_ACTIVATION_BITS, "output bit width")
    if out_bits > in_bits:
        raise n.error(
            f"the output bit width {out_bits} exceeds the input bit width {in_bits}"
        )
    if not np.isfinite(trunc_v1_scale(in_bw, out_bw)):
        raise n.error("the truncation scale overflows")
    # v1 does not clamp: saturate the input integer to its bit width (signed
    # or unsigned: the op does not say which)
    in_bounds = (-(1 << (in_bits - 1)), (1 << in_bits) - 1)

    def fn1(v: np.ndarray) -> np.ndarray:
        return trunc_v1_levels(v, scale, zeropt, in_bw, out_bw, mode, in_bounds)

    qtype = _thresholds_type(n, fn1, x, float(scale), int(float(zeropt)))
    return _fake_quant(n, x, qtype)


# --------------------------------------------------------------------------- #
# MultiThreshold
# --------------------------------------------------------------------------- #

_DEFAULT_LAYOUTS = {2: "NC", 3: "NWC", 4: "NCHW"}


def _channel_axis(n: Node, rank: int) -> int:
    layout = str(n.attr("data_layout", "") or "")
    if not layout and rank < 5:
        layout = _DEFAULT_LAYOUTS.get(rank, "")
    axis = layout.index("C") if "C" in layout else 1
    if axis >= rank:
        raise n.error(
            f"data_layout '{layout}' puts the channels at axis {axis} of a rank-{rank} "
            "input"
        )
    return axis


def convert_multithreshold(n: Node):
    x = n.input(0)
    _float_input(n, x)
    if x.rank < 2:
        raise n.error(f"the input must have rank >= 2 (N, C, ...), got {x.rank}")
    t = _const(n, 1, "thresholds")
    if t.ndim != 2 or t.shape[1] < 1 or t.dtype.kind not in "fiu":
        raise n.error(
            f"the thresholds must be a numeric [channels, steps] matrix, got shape "
            f"{list(t.shape)}"
        )
    t64 = np.sort(t.astype(np.float64), axis=1)
    if not np.all(np.isfinite(t64)):
        raise n.error(
            "the thresholds must be finite (q.thresholds compares with finite values)"
        )
    axis = _channel_axis(n, x.rank)
    rows, count = t64.shape
    channels = x.shape[axis]
    if rows == 1:
        per_axis = None
        t64 = t64[0]
    elif isinstance(channels, int) and rows == channels:
        per_axis = axis
    else:
        raise n.error(
            f"{rows} threshold rows for {channels} channels (axis {axis}); give one "
            "row per channel or a single row"
        )
    if _code_width(count) > MAX_ACTIVATION_BITS:
        raise n.error(f"{count} thresholds per channel; at most {(1 << 16) - 1}")
    out_scale = float(n.attr("out_scale", 1.0))
    out_bias = float(n.attr("out_bias", 0.0))
    if not (np.isfinite(out_scale) and out_scale > 0) or not np.isfinite(out_bias):
        raise n.error(
            f"out_scale {out_scale:g} must be positive and finite, out_bias finite"
        )
    dtype = x.dtype
    codes = np.arange(count + 1).astype(dtype)
    s = np.asarray(out_scale, dtype=dtype)
    b = np.asarray(out_bias, dtype=dtype)
    # QONNX: out_scale * code + out_bias, in the input's float type
    want = s * codes + b
    zp = 0
    z = -out_bias / out_scale
    if out_bias and z == round(z) and 0 <= z <= count:
        candidate = round(z)
        got = (np.arange(count + 1) - candidate).astype(dtype) * s
        if np.array_equal(got, want):
            zp = candidate
    qtype = ThresholdsType(
        _code_width(count),
        out_scale,
        t64,
        zp,
        axis=per_axis,
        expressed=ir_element_type(dtype),
    )
    y = _fake_quant(n, x, qtype)
    if zp == 0 and out_bias:
        y = binary(n, nn.AddOp, y, known_value("", np.asarray(out_bias, dtype=dtype)))
    return y


# --------------------------------------------------------------------------- #
# QuantizeLinear / DequantizeLinear
# --------------------------------------------------------------------------- #

_STORAGE = {
    "int8": (8, True),
    "uint8": (8, False),
    "int16": (16, True),
    "uint16": (16, False),
    "int4": (4, True),
    "uint4": (4, False),
    "int32": (32, True),
}


def _storage(n: Node, dtype: np.dtype, what: str) -> tuple[int, bool]:
    name = np.dtype(dtype).name
    if name not in _STORAGE or (name == "int32" and n.op_type == "QuantizeLinear"):
        raise Unsupported(f"{what} of type {name}", f"{name}")
    return _STORAGE[name]


def _qdq_type(
    n: Node,
    x: Value,
    scale: np.ndarray,
    zp: np.ndarray | None,
    storage: tuple[int, bool],
    expressed: Any,
) -> UniformType:
    """The `!q.uniform` type of a QuantizeLinear output / DequantizeLinear
    input with these parameters (per tensor, per axis, per block)."""
    bits, signed = storage
    lo, hi = int_bounds(signed, False, bits)
    if zp is not None and zp.shape != scale.shape:
        raise n.error(
            f"the zero point has shape {list(zp.shape)}, the scale {list(scale.shape)}"
        )
    zps = np.zeros(scale.shape, np.int64) if zp is None else zp.astype(np.int64)
    block = int(n.attr("block_size", 0) or 0) if n.version >= 21 else 0
    axis = int(n.attr("axis", 1)) if n.version >= 13 else 1
    if scale.size == 1 and scale.ndim <= 1 and not block:
        grid = Grid([], [], [])
        return _uniform_type(
            n, bits, signed, lo, hi, grid, scale.reshape(()), zps.reshape(()), expressed
        )
    if n.version < 13:
        raise n.error(
            f"the scale must be a scalar before opset 13, got shape {list(scale.shape)}"
        )
    if not -x.rank <= axis < x.rank:
        raise n.error(f"axis {axis} is out of range for rank {x.rank}")
    axis %= x.rank
    if not block:
        if scale.ndim != 1:
            raise n.error(
                f"a per-axis scale must be 1-D, got shape {list(scale.shape)}"
            )
        grid = _grid(
            n,
            x,
            [
                (
                    "scale",
                    scale.reshape([-1 if a == axis else 1 for a in range(x.rank)]),
                ),
            ],
        )
        if grid.axes != [axis]:
            raise n.error(
                f"a per-axis scale of {scale.size} values does not fit axis {axis} of "
                "the input"
            )
        return _uniform_type(n, bits, signed, lo, hi, grid, scale, zps, expressed)
    if scale.ndim != x.rank:
        raise n.error(
            f"a blocked scale must have the input's rank {x.rank}, got {scale.ndim}"
        )
    blocks: dict[int, int] = {}
    for a, d in enumerate(scale.shape):
        dim = x.shape[a]
        if a == axis:
            if not isinstance(dim, int) or dim != block * d:
                raise n.error(
                    f"block_size {block} times {d} blocks does not cover axis {a} of "
                    f"size {dim} (qopt needs whole blocks)"
                )
            blocks[a] = block
        elif d != 1:
            if not isinstance(dim, int) or d != dim:
                raise n.error(
                    f"the blocked scale's axis {a} has {d} values for size {dim}"
                )
            blocks[a] = 1
    order = sorted(blocks)
    squeeze = tuple(a for a in range(x.rank) if a not in blocks)
    svals = scale.astype(np.float64).squeeze(axis=squeeze)
    zvals = zps.squeeze(axis=squeeze)
    if any(zvals.ravel() < lo) or any(zvals.ravel() > hi):
        raise n.error(f"a zero point is outside the level range [{lo}, {hi}]")
    return UniformType(
        bits,
        signed,
        svals,
        zvals.ravel().tolist(),
        blocks={a: blocks[a] for a in order},
        grid=list(svals.shape),
        expressed=expressed,
    )


def _consumers(n: Node, name: str) -> list[str]:
    table = getattr(n.imp, "_qonnx_consumers", None)
    if table is None:
        table = {}
        for node in n.imp.graph.node:
            for i in node.input:
                if i:
                    table.setdefault(i, []).append(node.op_type)
        for o in n.imp.graph.output:
            table.setdefault(o.name, []).append("(graph output)")
        n.imp._qonnx_consumers = table
    return table.get(name, [])


def convert_quantize_linear(n: Node):
    x = n.input(0)
    if x.dtype not in _FLOATS:
        raise Unsupported(f"QuantizeLinear of {x.dtype}", f"{x.dtype} input")
    out = n.proto.output[0]
    others = sorted(
        {
            c
            for c in _consumers(n, out)
            if c not in ("DequantizeLinear", "(graph output)")
        }
    )
    if others:
        raise Unsupported(
            f"its quantized output is read by {', '.join(others)} (qopt reads "
            "quantized tensors only with DequantizeLinear)",
            "output not read by DequantizeLinear",
        )
    scale = _scale(n, 1, x)
    zp = _const(n, 2, "zero point") if n.has_input(2) else None
    if zp is not None:
        dtype = zp.dtype
    elif n.version >= 21 and n.attr("output_dtype"):
        from qopt.frontends.onnx import onnx_np_dtype

        dtype = onnx_np_dtype(int(n.attr("output_dtype")))
    else:
        dtype = np.dtype(np.uint8)
    storage = _storage(n, dtype, "a quantized output")
    qtype = _qdq_type(n, x, scale, zp, storage, ir_element_type(x.dtype))
    if x.is_const:
        op = _constant(n, x, qtype.quantize(x.known), qtype)
        return Value("", np.dtype(dtype), x.shape, ssa=op.results[0])
    return _q_value(n, q.QuantizeOp(n.ssa(x), qtype), x.shape, dtype)


def convert_dequantize_linear(n: Node):
    x = n.input(0)
    scale = _const(n, 1, "scale")
    if scale.dtype not in _FLOATS:
        raise n.error(f"the scale must be a float tensor, got {scale.dtype}")
    if scale.size == 0 or not np.all(np.isfinite(scale)) or not np.all(scale > 0):
        raise n.error("the scale must be positive and finite")
    zp = _const(n, 2, "zero point") if n.has_input(2) else None
    expressed = ir_element_type(scale.dtype if n.version >= 19 else np.float32)
    if x.ssa is not None and isinstance(
        getattr(x.ssa.type, "element_type", None), QuantizedType
    ):
        source = x.ssa.type.element_type
        storage = (
            (source.width, source.is_signed)
            if isinstance(source, UniformType)
            else None
        )
        if storage is None:
            raise n.error(f"cannot dequantize {source} as ONNX integers")
        mine = _qdq_type(n, x, scale, zp, storage, expressed)
        if mine != source:
            raise n.error(
                f"its scale / zero point ({mine}) differ from those of the "
                f"QuantizeLinear that produced '{x.name}' ({source})"
            )
        return n.out(q.DequantizeOp(x.ssa), x.shape)
    if not x.is_const:
        raise Unsupported(
            f"DequantizeLinear of a {x.dtype} tensor computed at run time (qopt "
            "reads quantized tensors from QuantizeLinear or constants)",
            "run-time integer input",
        )
    storage = _storage(n, x.dtype, "an input")
    qtype = _qdq_type(n, x, scale, zp, storage, expressed)
    return _dequantized_constant(n, x, x.known.astype(np.int64), qtype)


# --------------------------------------------------------------------------- #
# Registration
# --------------------------------------------------------------------------- #

for _domain in QONNX_DOMAINS:
    register_op("Quant", "IntQuant", domain=_domain, precheck=_check_mode("ROUND"))(
        convert_quant
    )
    register_op("BipolarQuant", domain=_domain)(convert_bipolar_quant)
    register_op("Trunc", domain=_domain, precheck=_check_mode("FLOOR"))(convert_trunc)
    register_op("MultiThreshold", domain=_domain)(convert_multithreshold)

register_op("QuantizeLinear", reference_fold=False)(convert_quantize_linear)
register_op("DequantizeLinear", reference_fold=False)(convert_dequantize_linear)


__all__ = [
    "MAX_ACTIVATION_BITS",
    "MAX_CONSTANT_BITS",
    "QONNX_DOMAINS",
    "convert_bipolar_quant",
    "convert_dequantize_linear",
    "convert_multithreshold",
    "convert_quant",
    "convert_quantize_linear",
    "convert_trunc",
]
