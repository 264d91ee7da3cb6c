"""Shared building blocks of the hardware units: ports, registers, pipelines, ROMs.

Every unit is one `hw.module` built with `UnitBuilder`, which wraps xDSL's
builder with the handful of shapes the units need:

- the unit port convention (`UnitBuilder.stream`): `clk`, `rst`, per input
  stream `<p>_data`, `<p>_valid`, per output stream `<p>_ready`; outputs
  per input stream `<p>_ready`, then per output stream `<p>_data`,
  `<p>_valid` (`stream_prefixes` names them `in`/`out` or `in0`, `in1`, ...);
- registers on `clk` with a synchronous active-high reset (`reg`) and a load
  enable (`reg_en`), and `feedback`/`close` for values read before they are
  defined (a register's own output, a ready signal from downstream);
- `pipeline`: register stages with a valid bit each and the combinational
  ready chain `ready_k = !valid_k | ready_{k+1}`, which takes one item per
  cycle, keeps data stable while stalled and adds exactly one cycle of
  latency per stage (the cycle model's depth);
- `rom` / `select`: a table of constants (or values) read at a variable
  index, an `hw.array` read by `hw.array_get` (a ROM/LUTRAM or mux tree);
- `sext`, `zext`, `resize`, `shl_const`: width changes as wiring;
- `lanes` / `pack`: lane `i` of a packed beat in bits `[i*W, (i+1)*W)`.

Only ops that qopt's Verilog emitter and CIRCT 1.62 both accept are used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.builder import Builder
from xdsl.dialects import comb, hw, seq
from xdsl.dialects.builtin import ArrayAttr, IntegerAttr, IntegerType, StringAttr, i1
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.rewriter import InsertPoint

CLOCK = "clk"
RESET = "rst"


def clog2(n: int) -> int:
    """Bits of an index into `n` entries (0 for n <= 1)."""
    return max(n - 1, 0).bit_length()


def stream_prefixes(count: int, base: str) -> list[str]:
    """Port prefixes of `count` streams: `base` alone, else `base0`, `base1`, ..."""
    return [base] if count == 1 else [f"{base}{i}" for i in range(count)]


def width_of(value: SSAValue) -> int:
    """The bit width of an integer value."""
    assert isinstance(value.type, IntegerType), value.type
    return value.type.width.data


Stage = Callable[["UnitBuilder", list[SSAValue]], list[SSAValue]]
"""A combinational pipeline stage: previous values -> values to register."""


class UnitBuilder:
    """Builds one hw.module: ports, comb ops, registers on clk/rst, feedback."""

    def __init__(
        self,
        name: str,
        inputs: Sequence[tuple[str, Attribute]],
        outputs: Sequence[tuple[str, Attribute]],
    ):
        ports = [
            hw.ModulePort(StringAttr(n), t, hw.DirectionAttr(hw.Direction.INPUT))
            for n, t in inputs
        ] + [
            hw.ModulePort(StringAttr(n), t, hw.DirectionAttr(hw.Direction.OUTPUT))
            for n, t in outputs
        ]
        block = Block(arg_types=[t for _, t in inputs])
        self.ports: dict[str, SSAValue] = {}
        for arg, (port, _) in zip(block.args, inputs, strict=True):
            arg.name_hint = port
            self.ports[port] = arg
        self.output_names = [n for n, _ in outputs]
        self.module = hw.HWModuleOp(
            StringAttr(name), hw.ModuleType(ArrayAttr(ports)), Region(block)
        )
        self.builder = Builder(InsertPoint.at_end(block))

    @classmethod
    def stream(
        cls, name: str, in_bits: Sequence[int], out_bits: Sequence[int]
    ) -> UnitBuilder:
        """A unit with the streaming ports of HW_INTERFACE (data widths in bits)."""
        ins = stream_prefixes(len(in_bits), "in")
        outs = stream_prefixes(len(out_bits), "out")
        inputs: list[tuple[str, Attribute]] = [(CLOCK, seq.clock), (RESET, i1)]
        for p, bits in zip(ins, in_bits, strict=True):
            inputs += [(f"{p}_data", IntegerType(bits)), (f"{p}_valid", i1)]
        inputs += [(f"{p}_ready", i1) for p in outs]
        outputs: list[tuple[str, Attribute]] = [(f"{p}_ready", i1) for p in ins]
        for p, bits in zip(outs, out_bits, strict=True):
            outputs += [(f"{p}_data", IntegerType(bits)), (f"{p}_valid", i1)]
        return cls(name, inputs, outputs)

    def __getitem__(self, port: str) -> SSAValue:
        return self.ports[port]

    # ------------------------------------------------------------ basic ops

    def op(self, op: Operation, name: str | None = None) -> SSAValue:
        """Insert a one-result op; `name` becomes its SSA name hint."""
        self.builder.insert(op)
        if name is not None:
            op.results[0].name_hint = name
        return op.results[0]

    def const(self, value: int, width: int) -> SSAValue:
        """An `iW` constant holding the low `width` bits of `value`."""
        mask = (1 << width) - 1
        bits = value & mask
        signed = bits - (1 << width) if bits >> (width - 1) else bits
        return self.op(hw.ConstantOp(signed, width))

    def extract(
        self, value: SSAValue, low: int, width: int, name: str | None = None
    ) -> SSAValue:
        if low == 0 and width == width_of(value):
            return value
        return self.op(
            comb.ExtractOp(value, IntegerAttr(low, 32), IntegerType(width)), name
        )

    def concat(self, *values: SSAValue, name: str | None = None) -> SSAValue:
        """Concatenation, first value in the most significant bits."""
        if len(values) == 1:
            return values[0]
        op = comb.ConcatOp.from_int_values(list(values))
        assert op is not None
        return self.op(op, name)

    def add(self, *values: SSAValue, name: str | None = None) -> SSAValue:
        return values[0] if len(values) == 1 else self.op(comb.AddOp(values), name)

    def sub(self, a: SSAValue, b: SSAValue, name: str | None = None) -> SSAValue:
        return self.op(comb.SubOp(a, b), name)

    def mul(self, a: SSAValue, b: SSAValue, name: str | None = None) -> SSAValue:
        return self.op(comb.MulOp([a, b]), name)

    def and_(self, *values: SSAValue, name: str | None = None) -> SSAValue:
        return values[0] if len(values) == 1 else self.op(comb.AndOp(values), name)

    def or_(self, *values: SSAValue, name: str | None = None) -> SSAValue:
        return values[0] if len(values) == 1 else self.op(comb.OrOp(values), name)

    def xor(self, *values: SSAValue, name: str | None = None) -> SSAValue:
        return self.op(comb.XorOp(values), name)

    def not_(self, value: SSAValue, name: str | None = None) -> SSAValue:
        return self.op(comb.XorOp([value, self.const(-1, width_of(value))]), name)

    def neg(self, value: SSAValue, name: str | None = None) -> SSAValue:
        return self.sub(self.const(0, width_of(value)), value, name)

    def mux(
        self, cond: SSAValue, if_true: SSAValue, if_false: SSAValue, name=None
    ) -> SSAValue:
        return self.op(comb.MuxOp(cond, if_true, if_false), name)

    def icmp(
        self, predicate: str, a: SSAValue, b: SSAValue, name: str | None = None
    ) -> SSAValue:
        """`comb.icmp` with a predicate name: eq, ne, slt, sle, sgt, sge, ult, ..."""
        return self.op(comb.ICmpOp(a, b, predicate), name)

    def eq_const(self, value: SSAValue, k: int, name: str | None = None) -> SSAValue:
        return self.icmp("eq", value, self.const(k, width_of(value)), name)

    def shl(self, a: SSAValue, amount: SSAValue, name: str | None = None) -> SSAValue:
        return self.op(comb.ShlOp(a, amount), name)

    def shrs(self, a: SSAValue, amount: SSAValue, name: str | None = None) -> SSAValue:
        return self.op(comb.ShrSOp(a, amount), name)

    # ---------------------------------------------------------------- widths

    def sext(self, value: SSAValue, width: int, name: str | None = None) -> SSAValue:
        """Sign-extend (or keep) `value` to `width` bits."""
        w = width_of(value)
        if width == w:
            return value
        assert width > w, (width, w)
        sign = self.extract(value, w - 1, 1)
        high = (
            sign
            if width - w == 1
            else self.op(comb.ReplicateOp(sign, IntegerType(width - w)))
        )
        return self.concat(high, value, name=name)

    def zext(self, value: SSAValue, width: int, name: str | None = None) -> SSAValue:
        """Zero-extend (or keep) `value` to `width` bits."""
        w = width_of(value)
        if width == w:
            return value
        assert width > w, (width, w)
        return self.concat(self.const(0, width - w), value, name=name)

    def resize(
        self, value: SSAValue, width: int, signed: bool, name: str | None = None
    ) -> SSAValue:
        """`value` as `width` bits: extended (by its signedness) or truncated."""
        w = width_of(value)
        if width <= w:
            return self.extract(value, 0, width, name)
        return (
            self.sext(value, width, name) if signed else self.zext(value, width, name)
        )

    def shl_const(self, value: SSAValue, k: int, width: int) -> SSAValue:
        """`value << k` truncated to `width` bits: wiring (no shifter)."""
        if k == 0:
            return self.extract(value, 0, width)
        if k >= width:
            return self.const(0, width)
        low = self.extract(value, 0, min(width - k, width_of(value)))
        shifted = self.concat(low, self.const(0, k))
        return self.resize(shifted, width, signed=False)

    # ------------------------------------------------------------------ lanes

    def lanes(
        self, data: SSAValue, count: int, width: int, name: str = "x"
    ) -> list[SSAValue]:
        """The `count` lanes of `width` bits of a packed beat (lane 0 lowest)."""
        if count == 1:
            return [data]
        return [
            self.extract(data, i * width, width, f"{name}{i}") for i in range(count)
        ]

    def pack(self, values: Sequence[SSAValue], name: str | None = None) -> SSAValue:
        """Lanes into one beat, `values[0]` in the least significant bits."""
        return self.concat(*reversed(values), name=name)

    # ------------------------------------------------------------- feedback

    def feedback(self, typ: Attribute | int) -> SSAValue:
        """A placeholder for a value defined later (replaced by `close`)."""
        width = typ if isinstance(typ, int) else None
        if width is not None:
            return self.op(hw.ConstantOp(0, width))
        return self.op(hw.ConstantOp(0, typ))  # type: ignore[arg-type]

    def close(self, placeholder: SSAValue, value: SSAValue) -> None:
        """Replace the placeholder from `feedback` by `value` everywhere."""
        placeholder.replace_all_uses_with(value)
        owner = placeholder.owner
        assert isinstance(owner, Operation)
        owner.detach()
        owner.erase()

    # ------------------------------------------------------------- registers

    def reg(self, next_value: SSAValue, reset: int | None, name: str) -> SSAValue:
        """A `seq.compreg` on clk, set to `reset` by rst (None: no reset)."""
        reset_pair = None
        if reset is not None:
            reset_pair = (self[RESET], self.const(reset, width_of(next_value)))
        return self.op(seq.CompRegOp(next_value, self[CLOCK], reset_pair), name)

    def reg_en(
        self, value: SSAValue, enable: SSAValue, reset: int | None, name: str
    ) -> SSAValue:
        """A register that loads `value` when `enable` is high, else holds."""
        hold = self.feedback(value.type)
        out = self.reg(self.mux(enable, value, hold), reset, name)
        self.close(hold, out)
        return out

    def counter(
        self, enable: SSAValue, count: int, name: str
    ) -> tuple[SSAValue, SSAValue]:
        """A 0..count-1 counter that steps when `enable`; (value, value == count-1).

        For count == 1 the value is a 1-bit constant 0 and the wrap flag is 1.
        """
        if count == 1:
            return self.const(0, 1), self.const(1, 1)
        bits = clog2(count)
        hold = self.feedback(bits)
        last = self.eq_const(hold, count - 1, f"{name}_last")
        step = self.mux(last, self.const(0, bits), self.add(hold, self.const(1, bits)))
        value = self.reg(self.mux(enable, step, hold), 0, name)
        self.close(hold, value)
        return value, last

    # ------------------------------------------------------------------ ROMs

    def select(
        self, values: Sequence[SSAValue], index: SSAValue, name: str | None = None
    ) -> SSAValue:
        """`values[index]`: an hw.array read at a variable index (a mux tree).

        The array is padded to a power of two with its last entry so every
        index value reads a defined entry. Elements are widened to a power
        of two bits (the extra bits are constant zeros that synthesis
        removes), so the emitted part-select `[i * W +: W]` scales the index
        by a shift: Yosys would map a multiplication by another constant to a
        DSP. One value needs no index.
        """
        if len(values) == 1:
            return values[0]
        bits = clog2(len(values))
        padded = list(values) + [values[-1]] * ((1 << bits) - len(values))
        index = self.resize(index, bits, signed=False)
        width = width_of(values[0])
        wide = 1 << clog2(width)
        if wide != width:
            padded = [self.zext(v, wide) for v in padded]
        # hw.array_create lists the highest index first
        array = self.op(hw.ArrayCreateOp(*reversed(padded)))
        if wide == width:
            return self.op(hw.ArrayGetOp(array, index), name)
        return self.extract(self.op(hw.ArrayGetOp(array, index)), 0, width, name)

    def rom(
        self, words: Sequence[int], width: int, index: SSAValue, name: str | None = None
    ) -> SSAValue:
        """A ROM of `width`-bit words read at `index` (LUTRAM/BRAM inferable).

        Words are stored as their low `width` bits. A one-word ROM is a constant.
        """
        consts = {}
        values = []
        wide = 1 << clog2(width) if len(words) > 1 else width  # see `select`
        for w in words:
            bits = w & ((1 << width) - 1)
            if bits not in consts:
                consts[bits] = self.const(bits, wide)
            values.append(consts[bits])
        value = self.select(values, index)
        if width_of(value) == width:
            if name is not None and not isinstance(value.owner, hw.ConstantOp):
                value.name_hint = name
            return value
        return self.extract(value, 0, width, name)

    # -------------------------------------------------------------- pipeline

    def pipe(self, valid: SSAValue, name: str = "s") -> Pipe:
        """A handshake pipeline fed by `valid` (see `Pipe`)."""
        return Pipe(self, valid, name)

    def pipeline(
        self,
        valid: SSAValue,
        values: list[SSAValue],
        stages: Sequence[Stage],
        ready: SSAValue,
        name: str = "s",
    ) -> tuple[SSAValue, list[SSAValue], SSAValue]:
        """Register `stages[k](values of stage k-1)` in stage k of a `Pipe`.

        `ready` is the consumer's ready (may be a `feedback` placeholder).
        Returns (input ready, the last stage's values, its valid).
        """
        p = self.pipe(valid, name)
        for stage in stages:
            values = p.stage(stage(self, values))
        return p.close(ready), values, p.valid

    # ----------------------------------------------------------- arithmetic

    def mul_const(
        self, value: SSAValue, k: int, width: int, signed: bool, dsp: bool
    ) -> SSAValue:
        """`value * k` in `width` bits (exact when the product fits).

        With `dsp`, a `comb.mul` by the constant (synthesis may use a DSP);
        without, a sum of shifted copies from the canonical signed digits of
        k (no multiplier, at most one adder per two bits of k).
        """
        x = self.resize(value, width, signed)
        if dsp:
            return self.mul(x, self.const(k, width))
        terms: list[tuple[SSAValue, bool]] = []
        for shift, digit in csd_digits(k):
            if shift < width:
                terms.append((self.shl_const(x, shift, width), digit < 0))
        return self.signed_sum(terms, width)

    def mul_var(
        self,
        value: SSAValue,
        k: SSAValue,
        width: int,
        signed: bool,
        dsp: bool,
    ) -> SSAValue:
        """`value * k` (k unsigned) in `width` bits (exact when it fits).

        With `dsp`, a `comb.mul` (synthesis may use a DSP); without, the sum
        of `value << i` over the set bits i of k (a LUT array multiplier that
        synthesis cannot map to a DSP).
        """
        x = self.resize(value, width, signed)
        if dsp:
            return self.mul(x, self.resize(k, width, signed=False))
        zero = self.const(0, width)
        rows = [
            self.mux(self.extract(k, i, 1), self.shl_const(x, i, width), zero)
            for i in range(min(width_of(k), width))
        ]
        return self.add(*rows) if len(rows) > 1 else rows[0]

    def signed_sum(
        self, terms: Sequence[tuple[SSAValue, bool]], width: int
    ) -> SSAValue:
        """The sum of `terms` (value, negated) in `width` bits, by adds and subs."""
        plus = [v for v, neg in terms if not neg]
        minus = [v for v, neg in terms if neg]
        if not plus and not minus:
            return self.const(0, width)
        if not plus:
            return self.neg(self.add(*minus))
        total = self.add(*plus)
        return self.sub(total, self.add(*minus)) if minus else total

    def clamp(
        self, value: SSAValue, lo: int, hi: int, signed: bool, name: str | None = None
    ) -> SSAValue:
        """`value` clamped to [lo, hi] (comparisons by `signed`)."""
        w = width_of(value)
        low, high = self.const(lo, w), self.const(hi, w)
        less, more = ("slt", "sgt") if signed else ("ult", "ugt")
        low_side = self.mux(self.icmp(less, value, low), low, value)
        return self.mux(self.icmp(more, value, high), high, low_side, name)

    # ----------------------------------------------------------------- finish

    def output(self, **values: SSAValue) -> hw.HWModuleOp:
        """Terminate the module with `hw.output`, values given by port name."""
        missing = set(self.output_names) - set(values)
        extra = set(values) - set(self.output_names)
        assert not missing and not extra, (missing, extra)
        self.builder.insert(hw.OutputOp([values[n] for n in self.output_names]))
        return self.module


class Pipe:
    """Register stages with a valid bit each and a combinational ready chain.

    Stage k loads when it is empty or its item moves on (`ready_k = !valid_k
    | ready_{k+1}`): one item per cycle, one cycle of latency per stage,
    data held while stalled, and valid never waits for ready. Constants pass
    through without registers. `close(ready)` connects the consumer's ready
    and returns the ready of the pipeline's input.
    """

    def __init__(self, b: UnitBuilder, valid: SSAValue, name: str):
        self.b = b
        self.valid = valid
        self.name = name
        self.enables: list[SSAValue] = []
        self.valids: list[SSAValue] = []

    @property
    def depth(self) -> int:
        return len(self.enables)

    def stage(
        self, values: Sequence[SSAValue], names: Sequence[str] = ()
    ) -> list[SSAValue]:
        """Register `values` (computed from the previous stage) in a new stage."""
        b = self.b
        k = len(self.enables) + 1
        enable = b.feedback(i1)
        # not enabled means valid and stalled: the valid bit stays high
        self.valid = b.reg_en(self.valid, enable, 0, f"{self.name}{k}_valid")
        out = []
        for j, v in enumerate(values):
            if isinstance(v.owner, hw.ConstantOp):
                out.append(v)
                continue
            label = names[j] if j < len(names) else f"{j}"
            out.append(b.reg_en(v, enable, None, f"{self.name}{k}_{label}"))
        self.enables.append(enable)
        self.valids.append(self.valid)
        return out

    def close(self, ready: SSAValue) -> SSAValue:
        """Connect the consumer's `ready`; returns the pipeline's input ready."""
        b = self.b
        for enable, valid in zip(
            reversed(self.enables), reversed(self.valids), strict=True
        ):
            ready = b.or_(b.not_(valid), ready)
            b.close(enable, ready)
        return ready


def csd_digits(k: int) -> list[tuple[int, int]]:
    """Canonical signed digits of k >= 0: (shift, +1 or -1), fewest non-zero."""
    digits = []
    shift = 0
    while k:
        if k & 1:
            digit = 2 - (k & 3)  # +1 if k = 1 mod 4, -1 if k = 3 mod 4
            digits.append((shift, digit))
            k -= digit
        k >>= 1
        shift += 1
    return digits


class UnitError(Exception):
    """A dataflow op the RTL generators cannot build (a one-line reason)."""
