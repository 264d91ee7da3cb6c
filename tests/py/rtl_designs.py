"""Streaming hw/comb/seq designs built with xDSL's builders, for the RTL tests.

Every top-level design follows qopt's streaming convention
(qopt.backends.rtl.stream): clk, rst, in_data/in_valid/in_ready,
out_data/out_valid/out_ready, lane 0 in the low bits. Each comes with the
numpy model of what it computes.

- `skid_buffer(bits)`: a two-register skid buffer (registered in_ready);
- `pipeline(...)`: register stages with valid bits and a combinational ready
  chain (`ready_k = !valid_k | ready_{k+1}`), optionally ending in a skid
  buffer instance; without the chain (`ready_k = !valid_k`) it takes an item
  every other cycle;
- `mac()`: a 2-stage multiply-accumulate (products, then their sum) with a
  skid buffer: y = sum_j x_j * MAC_WEIGHTS[j];
- `alu()`: one stage of many comb operators on two 8-bit lanes;
- `rom()`: a lookup table (hw.array of constants read with hw.array_get);
- `multiplier(by)`: x * by (a constant) or x * z (by=None) on 16-bit lanes;
- `valid_toggler()` / `never_ready()`: broken designs for the protocol checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from xdsl.dialects import comb, hw, seq
from xdsl.dialects.builtin import (
    FlatSymbolRefAttr,
    IntegerType,
    ModuleOp,
    i1,
)
from xdsl.ir import SSAValue

from qopt.backends.hw.units.common import UnitBuilder, width_of


class HwBuilder(UnitBuilder):
    """The lowering's `UnitBuilder`, with outputs given in port order."""

    def width(self, value: SSAValue) -> int:
        return width_of(value)

    def output(self, *values: SSAValue) -> hw.HWModuleOp:  # type: ignore[override]
        return super().output(**dict(zip(self.output_names, values, strict=True)))


def stream_ports(in_bits: int, out_bits: int):
    """The streaming convention's (inputs, outputs) port lists."""
    inputs = [
        ("clk", seq.clock),
        ("rst", i1),
        ("in_data", IntegerType(in_bits)),
        ("in_valid", i1),
        ("out_ready", i1),
    ]
    outputs = [("in_ready", i1), ("out_data", IntegerType(out_bits)), ("out_valid", i1)]
    return inputs, outputs


def skid_buffer(bits: int) -> hw.HWModuleOp:
    """A two-entry skid buffer: full throughput, in_ready from a register."""
    b = HwBuilder(f"skid{bits}", *stream_ports(bits, bits))
    data = IntegerType(bits)
    main_v, skid_v = b.feedback(i1), b.feedback(i1)
    main_d, skid_d = b.feedback(data), b.feedback(data)
    in_ready = b.not_(skid_v, "in_ready_q")
    main_free = b.op(comb.OrOp([b.not_(main_v), b["out_ready"]]), "main_free")
    in_fire = b.op(comb.AndOp([b["in_valid"], in_ready]), "in_fire")
    main_v_next = b.mux(main_free, b.op(comb.OrOp([skid_v, b["in_valid"]])), main_v)
    main_d_next = b.mux(main_free, b.mux(skid_v, skid_d, b["in_data"]), main_d)
    to_skid = b.op(comb.AndOp([b.not_(main_free), in_fire]), "to_skid")
    skid_v_next = b.op(
        comb.AndOp([b.not_(main_free), b.op(comb.OrOp([skid_v, in_fire]))])
    )
    skid_d_next = b.mux(to_skid, b["in_data"], skid_d)
    main_valid = b.reg(main_v_next, 0, "main_valid")
    main_data = b.reg(main_d_next, None, "main_data")
    b.close(main_v, main_valid)
    b.close(main_d, main_data)
    b.close(skid_v, b.reg(skid_v_next, 0, "skid_valid"))
    b.close(skid_d, b.reg(skid_d_next, None, "skid_data"))
    return b.output(in_ready, main_data, main_valid)


Stage = Callable[[HwBuilder, list[SSAValue]], list[SSAValue]]


def pipeline(
    name: str,
    in_lanes: int,
    in_width: int,
    stages: Sequence[Stage],
    *,
    ready_chain: bool = True,
    skid: bool = False,
) -> ModuleOp:
    """A streaming pipeline: stage k registers stages[k](values of stage k-1).

    Stage 0's values are the input lanes (lane 0 = low bits); the last
    stage's values are the output lanes. Returns a builtin.module holding the
    top `name` (last) and, with `skid`, the skid buffer it instantiates.
    """
    # Build once to learn the output lane widths.
    probe = HwBuilder("probe", *stream_ports(in_lanes * in_width, 1))
    values = _lanes(probe, probe["in_data"], in_lanes, in_width)
    for stage in stages:
        values = stage(probe, values)
    out_bits = sum(probe.width(v) for v in values)

    b = HwBuilder(name, *stream_ports(in_lanes * in_width, out_bits))
    values = _lanes(b, b["in_data"], in_lanes, in_width)
    valid = b["in_valid"]
    valid_regs: list[SSAValue] = []
    enables: list[SSAValue] = []  # stage k loads: ready_k
    taken: list[SSAValue] = []  # stage k's item moves on: ready_{k+1}
    for k, stage in enumerate(stages):
        computed = stage(b, values)
        enable, moves_on, v_hold = b.feedback(i1), b.feedback(i1), b.feedback(i1)
        kept = b.op(comb.AndOp([v_hold, b.not_(moves_on)]))
        v_reg = b.reg(b.mux(enable, valid, kept), 0, f"valid{k + 1}")
        b.close(v_hold, v_reg)
        values = []
        for j, value in enumerate(computed):
            hold = b.feedback(value.type)
            reg = b.reg(b.mux(enable, value, hold), None, f"s{k + 1}_lane{j}")
            b.close(hold, reg)
            values.append(reg)
        valid = v_reg
        valid_regs.append(v_reg)
        enables.append(enable)
        taken.append(moves_on)
    out_data = (
        b.concat(*reversed(values), name="result") if len(values) > 1 else values[0]
    )
    if skid:
        buffer = skid_buffer(out_bits)
        instance = hw.InstanceOp(
            "skid",
            FlatSymbolRefAttr(buffer.sym_name.data),
            [
                ("clk", b["clk"]),
                ("rst", b["rst"]),
                ("in_data", out_data),
                ("in_valid", valid),
                ("out_ready", b["out_ready"]),
            ],
            [("in_ready", i1), ("out_data", IntegerType(out_bits)), ("out_valid", i1)],
        )
        b.builder.insert(instance)
        downstream_ready, out_data, out_valid = instance.results
    else:
        downstream_ready, out_valid = b["out_ready"], valid
    ready = downstream_ready
    for enable, moves_on, v_reg in reversed(
        list(zip(enables, taken, valid_regs, strict=True))
    ):
        b.close(moves_on, ready)
        if ready_chain:
            ready = b.op(comb.OrOp([b.not_(v_reg), ready]))
        else:
            ready = b.not_(v_reg)
        b.close(enable, ready)
    top = b.output(ready, out_data, out_valid)
    return ModuleOp([buffer, top] if skid else [top])


def _lanes(b: HwBuilder, data: SSAValue, lanes: int, width: int) -> list[SSAValue]:
    return [b.extract(data, i * width, width, f"x{i}") for i in range(lanes)]


def wrap(values: np.ndarray, width: int, signed: bool = True) -> np.ndarray:
    """Integers reduced to `width` bits (two's complement when signed)."""
    mask = (1 << width) - 1
    v = np.asarray(values, np.int64) & mask
    if signed:
        v = np.where(v >= 1 << (width - 1), v - (1 << width), v)
    return v


# ------------------------------------------------------------------ designs

MAC_WEIGHTS = (3, -5, 7, 2)
MAC_WIDTH = 20


def mac() -> ModuleOp:
    """y = sum_j x_j * MAC_WEIGHTS[j] over 4 signed 8-bit lanes, a 20-bit result."""

    def products(b: HwBuilder, x: list[SSAValue]) -> list[SSAValue]:
        return [
            b.op(comb.MulOp([b.sext(v, MAC_WIDTH), b.const(w, MAC_WIDTH)]), f"p{j}")
            for j, (v, w) in enumerate(zip(x, MAC_WEIGHTS, strict=True))
        ]

    def total(b: HwBuilder, p: list[SSAValue]) -> list[SSAValue]:
        return [b.op(comb.AddOp(p), "sum")]

    return pipeline("mac", 4, 8, [products, total], skid=True)


def mac_model(x: np.ndarray) -> np.ndarray:
    return wrap(x @ np.array(MAC_WEIGHTS), MAC_WIDTH)[:, None]


def alu() -> ModuleOp:
    """Two signed 8-bit lanes a, b -> 12 lanes of 8 bits (see alu_model)."""

    def ops(k: HwBuilder, x: list[SSAValue]) -> list[SSAValue]:
        a, b = x
        amount = k.op(comb.AndOp([b, k.const(7, 8)]), "amount")
        odd = k.op(comb.OrOp([b, k.const(1, 8)]), "odd")
        less = k.op(comb.ICmpOp(a, b, "slt"), "less")
        below = k.op(comb.ICmpOp(a, b, "ult"), "below")
        equal = k.op(comb.ICmpOp(a, b, "eq"), "equal")
        flags = k.concat(k.const(0, 5), less, below, equal, name="flags")
        return [
            k.op(comb.AddOp([a, b]), "add"),
            k.op(comb.SubOp(a, b), "sub"),
            k.op(comb.MulOp([a, b]), "mul"),
            k.op(comb.ShlOp(a, amount), "shl"),
            k.op(comb.ShrSOp(a, amount), "shrs"),
            k.op(comb.ShrUOp(a, amount), "shru"),
            k.mux(less, b, a, "max"),
            k.op(comb.XorOp([a, b, k.const(0x5A, 8)]), "xor3"),
            k.op(comb.DivSOp(a, odd), "divs"),
            k.op(comb.ModUOp(a, odd), "modu"),
            k.concat(k.extract(a, 0, 4), k.extract(b, 4, 4), name="swap"),
            flags,
        ]

    return pipeline("alu", 2, 8, [ops])


def alu_model(x: np.ndarray) -> np.ndarray:
    a, b = x[:, 0].astype(np.int64), x[:, 1].astype(np.int64)
    au, bu = a & 0xFF, b & 0xFF
    amount = b & 7
    odd = wrap(b | 1, 8)
    oddu = (b | 1) & 0xFF
    less, below, equal = a < b, au < bu, a == b
    columns = [
        a + b,
        a - b,
        a * b,
        a << amount,
        a >> amount,
        au >> amount,
        np.maximum(a, b),
        a ^ b ^ 0x5A,
        np.trunc(a / odd).astype(np.int64),
        au % oddu,
        ((a & 0xF) << 4) | ((b >> 4) & 0xF),
        (less << 2) | (below << 1) | equal,
    ]
    return wrap(np.stack(columns, axis=1), 8)


ROM = (0, 1, 4, 9, 16, 25, 36, 49, 64, 81, 100, 121, 144, 169, 196, 225)


def rom() -> ModuleOp:
    """Per lane (4 lanes of 4 bits): ROM[x] as 8-bit unsigned, x squared."""

    def lookup(b: HwBuilder, x: list[SSAValue]) -> list[SSAValue]:
        # hw.array_create lists the highest index first
        table = b.op(
            hw.ArrayCreateOp(*(b.const(v, 8) for v in reversed(ROM))), "squares"
        )
        return [b.op(hw.ArrayGetOp(table, v), f"sq{j}") for j, v in enumerate(x)]

    return pipeline("rom", 4, 4, [lookup])


def rom_model(x: np.ndarray) -> np.ndarray:
    return np.array(ROM, np.int64)[x]


def multiplier(by: int | None, width: int = 16) -> ModuleOp:
    """x * by (constant) or x * z (by=None) on signed lanes; one register stage."""
    lanes = 1 if by is not None else 2

    def product(b: HwBuilder, x: list[SSAValue]) -> list[SSAValue]:
        other = b.const(by, width) if by is not None else x[1]
        return [b.op(comb.MulOp([x[0], other]), "product")]

    name = f"mul_by_{by}" if by is not None else "mul_general"
    return pipeline(name, lanes, width, [product])


def half_rate() -> ModuleOp:
    """One register stage whose ready is !valid: an item every other cycle."""

    def negate(b: HwBuilder, x: list[SSAValue]) -> list[SSAValue]:
        return [b.op(comb.SubOp(b.const(0, 8), x[0]), "neg")]

    return pipeline("half_rate", 1, 8, [negate], ready_chain=False)


def valid_toggler() -> ModuleOp:
    """Broken: out_valid toggles every cycle whatever out_ready says."""
    b = HwBuilder("toggler", *stream_ports(8, 8))
    hold = b.feedback(i1)
    valid = b.reg(b.not_(hold), 0, "toggle")
    b.close(hold, valid)
    return ModuleOp([b.output(b.const(1, 1), b.const(42, 8), valid)])


def never_ready() -> ModuleOp:
    """Broken: in_ready is always low."""
    b = HwBuilder("stuck", *stream_ports(8, 8))
    return ModuleOp([b.output(b.const(0, 1), b.const(0, 8), b.const(0, 1))])
