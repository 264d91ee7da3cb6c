"""`qopt-tile`: choose the folding of every `dataflow` unit.

    qopt-opt df.mlir --pass-pipeline='builtin.module(qopt-tile{target-ii=64})'
    qopt-opt df.mlir --pass-pipeline='builtin.module(qopt-tile{lut-budget=20000})'

A pipeline runs at the pace of its slowest unit, so the units should be
balanced: with `target-ii=N`, every matrix-vector unit gets the cheapest
(PE, SIMD) (PE dividing its rows MH, SIMD its columns MW) whose cycles per
frame V * MH/PE * MW/SIMD are at most N, and whose sliding window (if it
reads one) delivers its beats in N cycles as well; the cost is the
analytical model's (`qopt.backends.hw.cost_model`: LUTs, with a DSP or a
BRAM18 counted as 100 LUTs; fewer lanes win ties). With
`lut-budget=N`, the pass searches the smallest achievable II whose design
fits in N LUTs (the LUT count does not grow with the II, so a bisection
over the IIs that the units can take finds it). Both: meet the II, and fail
if the design needs more than the budget. With `unroll=true`, every
matrix-vector unit is fully parallel (PE = MH, SIMD = MW): each weight has
its own product, a constant folded into logic (a pot weight becomes wiring,
an int8 one a constant multiplier) instead of a ROM word; the target II is
then the slowest unit's at full parallelism (or `target-ii` if given, which
must not be below it), and the other units take the fewest lanes that meet
it.

The other units follow: the input port takes the lanes its consumer reads
(or the fewest that meet the II), a sliding window emits SIMD lanes for its
matrix-vector unit, elementwise units, pools, forks and adds keep their
input's lanes, and `dataflow.dwc` width converters are inserted where a
unit reads another width (the second operand of an add, a matrix-vector
unit behind a pool, ...). The FIFOs before the operands of adds are
re-sized from the cycle model for the new folding, so a residual block
cannot deadlock.
Existing width converters and FIFOs are removed first: the pass can be
re-run with another target.

The model's estimates are attached as `dataflow.estimate = {ii, first,
lut, ff, dsp, bram}` on every unit and `{ii, latency, lut, ff, dsp, bram}`
on the function, and with `report=true` (default) a per-unit table is
printed to stderr.

Options: `target-ii` (cycles per inference, >= 1), `lut-budget` (>= 1),
one of them at least unless `unroll=true`; `unroll` (false; not with
`lut-budget`); `report` (true); `entry`.

Requires: `dataflow` IR (qopt-lower-dataflow).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, i64
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException, VerifyException

from qopt.backends.hw import cost_model as cm
from qopt.passes.entry import entry_function
from qopt.qdialect import dataflow as df


class TileError(Exception):
    """The target cannot be met; the message is one line."""


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _swu_of(mvu: df.MvuOp) -> df.SwuOp | None:
    owner = mvu.input.owner
    return owner if isinstance(owner, df.SwuOp) else None


def mvu_choices(
    mvu: df.MvuOp, target: int, window_lanes: int
) -> list[tuple[int, int, int]]:
    """(cost, pe, simd) of every folding of `mvu` (and of the sliding window
    that feeds it, whose input has `window_lanes`) that meets `target`
    cycles per frame, cheapest first."""
    _, mh, mw = cm.mvu_shape(mvu)
    swu = _swu_of(mvu)
    out = []
    for simd in divisors(mw):
        swu_cost = 0
        if swu is not None:
            c = df.stream_of(swu.input).shape[-1]
            if (simd % c and c % simd) or cm.swu_ii(swu, window_lanes, simd) > target:
                continue
            swu_cost = cm.swu_resources(swu, window_lanes, simd).cost
        for pe in divisors(mh):
            if cm.mvu_ii(mvu, pe, simd) <= target:
                cost = cm.mvu_resources(mvu, pe, simd).cost + swu_cost
                out.append((cost, pe * simd, pe, simd))
    return [(cost, pe, simd) for cost, _, pe, simd in sorted(out)]


def strip(block: Block) -> None:
    """Remove width converters and FIFOs (the pass re-inserts what it needs)."""
    for op in list(block.ops):
        if isinstance(op, df.DwcOp | df.FifoOp):
            op.output.replace_all_uses_with(op.input)
            block.erase_op(op)


@dataclass
class Plan:
    """The folding chosen for a target: result lanes of every unit, the
    lanes each unit reads (a width converter makes up a difference), and
    (pe, simd) of the matrix-vector units."""

    out: dict[Operation, int] = field(default_factory=dict)
    need: dict[tuple[Operation, int], int] = field(default_factory=dict)
    mvu: dict[Operation, tuple[int, int]] = field(default_factory=dict)


FREE_LANES = (df.RequantOp, df.ThresholdOp, df.LutOp, df.ClampOp, df.PoolOp, df.AddOp)
"""Units that take the fewest lanes meeting the target (their own cost
grows with the lanes)."""


def _fewest_lanes(op: Operation, target: int) -> int | None:
    """Fewest lanes (dividing the channels) with which `op` meets `target`."""
    streams = [
        v for v in (*op.operands, *op.results) if isinstance(v.type, df.StreamType)
    ]
    channels = df.stream_of(streams[0]).shape[-1]
    for d in divisors(channels):
        if all(df.stream_of(v).numel // d <= target for v in streams):
            return d
    return None


def _out_of_reach(op: Operation, target: int, need: int) -> TileError:
    return TileError(
        f"target-ii={target} is out of reach: {cm.unit_name(op, 0)} needs {need} "
        "cycles per frame at full parallelism"
    )


def plan(fn: func.FuncOp, target: int, unroll: bool = False) -> Plan:
    """The folding of every unit for `target`, unit by unit in order (each
    sees the lanes its producers will have); with `unroll`, matrix-vector
    units are fully parallel."""
    p = Plan()
    lanes: dict[SSAValue, int] = {}
    inputs: list[df.InputOp] = []
    for op in cm.units_of(fn):
        streams = [v for v in op.operands if isinstance(v.type, df.StreamType)]
        if isinstance(op, df.SwuOp):
            continue  # planned with its matrix-vector unit
        if isinstance(op, df.MvuOp):
            swu = _swu_of(op)
            window_lanes = lanes[swu.input] if swu is not None else 0
            options = mvu_choices(op, target, window_lanes)
            if unroll:
                _, mh, mw = cm.mvu_shape(op)
                options = [o for o in options if o[1:] == (mh, mw)]
            if not options:
                raise _out_of_reach(op, target, min_ii(op))
            _, pe, simd = options[0]
            p.mvu[op] = (pe, simd)
            p.need[(op, 0)] = simd
            own = pe
            if swu is not None:
                p.out[swu] = simd
                lanes[swu.output] = simd
        elif isinstance(op, df.InputOp):
            st = df.stream_of(op.output)
            fewest = _fewest_lanes(op, target)
            if fewest is None:
                raise _out_of_reach(op, target, st.numel // st.shape[-1])
            own = fewest
            inputs.append(op)
        elif isinstance(op, FREE_LANES):
            fewest = _fewest_lanes(op, target)
            if fewest is None:
                raise _out_of_reach(op, target, cm.unit_ii(op))
            own = fewest
            for i in range(len(streams)):
                p.need[(op, i)] = own
        else:
            own = lanes[streams[0]]
            if isinstance(op, df.ReshapeOp):
                own = _largest_common(own, df.stream_of(op.output).shape[-1])
                p.need[(op, 0)] = own
        p.out[op] = own
        for r in op.results:
            lanes[r] = own
    for op in inputs:
        # stream at the width the consumer reads, when that meets the target
        use = next(iter(op.output.uses)).operation
        want = p.need.get((use, 0))
        if want is not None and df.stream_of(op.output).numel // want <= target:
            p.out[op] = want
    return p


def min_ii(op: Operation) -> int:
    """Cycles per frame of a matrix-vector unit (with its window) at full
    parallelism."""
    v, _, _ = cm.mvu_shape(op)
    swu = _swu_of(op)
    if swu is None:
        return v
    a, b = df.stream_of(swu.input), df.stream_of(swu.output)
    return max(v, a.numel // a.shape[-1], b.numel // b.shape[-1])


def _largest_common(a: int, b: int) -> int:
    return max(d for d in divisors(a) if b % d == 0)


def rebuild(fn: func.FuncOp, p: Plan) -> None:
    """Re-create every unit with its planned lanes, inserting width converters."""
    block = fn.body.block
    for op in list(block.ops):
        if not isinstance(op, df.DataflowOp):
            continue
        operands = list(op.operands)
        for i, v in enumerate(operands):
            want = p.need.get((op, i))
            if want is not None and df.stream_of(v).lanes.data != want:
                dwc = df.DwcOp(v, want)
                block.insert_op_before(dwc, op)
                dwc.output.name_hint = f"{v.name_hint or 's'}_w{want}"
                operands[i] = dwc.output
        props = dict(op.properties)
        if op in p.mvu:
            pe, simd = p.mvu[op]
            props["pe"] = IntegerAttr(pe, i64)
            props["simd"] = IntegerAttr(simd, i64)
        types = [
            r.type.with_lanes(p.out[op])
            if isinstance(r.type, df.StreamType)
            else r.type
            for r in op.results
        ]
        new = type(op).create(
            operands=operands,
            result_types=types,
            properties=props,
            attributes=dict(op.attributes),
        )
        block.insert_op_before(new, op)
        for old, r in zip(op.results, new.results, strict=True):
            r.name_hint = old.name_hint
            old.replace_all_uses_with(r)
        block.erase_op(op)


def insert_fifos(fn: func.FuncOp) -> None:
    """A FIFO before every operand of a join (`dataflow.add`) whose beats
    must wait for the other operand, as deep as the cycle model says
    (computed again once the FIFOs are in)."""
    block = fn.body.block
    fifos = []
    for (op, i), depth in cm.join_depths(fn).items():
        if depth < 1:
            continue
        v = op.operands[i]
        fifo = df.FifoOp(v, depth)
        block.insert_op_before(fifo, op)
        fifo.output.name_hint = f"{v.name_hint or 's'}_fifo"
        op.operands[i] = fifo.output
        fifos.append((fifo, op, i))
    if not fifos:
        return
    sched = cm.schedule(fn)
    for fifo, op, i in fifos:
        need = cm.fifo_depth(sched.times[fifo.input], sched.consumed[(op, i)])
        fifo.properties["depth"] = IntegerAttr(max(1, need), i64)


def candidate_iis(fn: func.FuncOp) -> list[int]:
    """Every II a unit can take, from the slowest fully parallel unit up."""
    units = cm.units_of(fn)
    floor = max(
        [min_ii(op) for op in units if isinstance(op, df.MvuOp)]
        + [
            df.stream_of(r).numel // df.stream_of(r).shape[-1]
            for op in units
            for r in op.results
            if isinstance(r.type, df.StreamType)
        ]
    )
    values = {floor}
    for op in units:
        if isinstance(op, df.MvuOp):
            _, mh, mw = cm.mvu_shape(op)
            values |= {
                cm.mvu_ii(op, pe, simd) for pe in divisors(mh) for simd in divisors(mw)
            }
        elif isinstance(op, df.InputOp):
            st = df.stream_of(op.output)
            values |= {st.numel // d for d in divisors(st.shape[-1])}
    return sorted(v for v in values if v >= floor)


def tile(fn: func.FuncOp, target: int, unroll: bool = False) -> cm.Estimate:
    strip(fn.body.block)
    rebuild(fn, plan(fn, target, unroll))
    insert_fifos(fn)
    fn.verify()
    est = cm.estimate(fn)
    if est.ii > target:
        raise TileError(f"the design runs at II {est.ii}, above target-ii={target}")
    return est


@dataclass(frozen=True)
class TilePass(ModulePass):
    """Chooses PE/SIMD and lanes of every dataflow unit to balance the
    pipeline for a target initiation interval (`target-ii`) or the fastest
    design within a LUT budget (`lut-budget`), from the analytical cost
    model; inserts width converters and deadlock-free FIFOs, attaches the
    estimates and prints a per-unit table. The module docstring has the
    details.

    Requires: dataflow IR (qopt-lower-dataflow).
    """

    name = "qopt-tile"

    target_ii: int = 0
    lut_budget: int = 0
    unroll: bool = False
    report: bool = True
    entry: str | None = None

    def __post_init__(self) -> None:
        if self.target_ii < 0 or self.lut_budget < 0:
            raise ValueError("options 'target-ii' and 'lut-budget' must be >= 1")
        if self.unroll and self.lut_budget:
            raise ValueError("option 'unroll' fixes the design: no 'lut-budget'")
        if not self.target_ii and not self.lut_budget and not self.unroll:
            raise ValueError("qopt-tile needs target-ii=N, lut-budget=N or unroll")

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        fn = entry_function(op, self.entry, "tile", PassFailedException)
        if not cm.units_of(fn):
            raise PassFailedException(
                f"@{fn.sym_name.data} has no dataflow units: run "
                "qopt-lower-dataflow first"
            )
        try:
            if self.unroll:
                target = self.target_ii or candidate_iis(fn)[0]
            else:
                target = self.target_ii or self.search(fn)
            est = tile(fn, target, self.unroll)
            if self.lut_budget and est.res.lut > self.lut_budget:
                raise TileError(
                    f"target-ii={target} needs {est.res.lut} LUTs, above "
                    f"lut-budget={self.lut_budget}"
                )
        except (TileError, VerifyException) as e:
            raise PassFailedException(" ".join(str(e).split())) from None
        cm.attach(fn, est)
        if self.report:
            goal = (
                f"target II {self.target_ii}"
                if self.target_ii
                else f"LUT budget {self.lut_budget}"
                if self.lut_budget
                else "unrolled"
            )
            if self.unroll and self.target_ii:
                goal += ", unrolled"
            title = f"qopt-tile: @{fn.sym_name.data}, {goal}"
            print(cm.report(est, title), file=sys.stderr)

    def search(self, fn: func.FuncOp) -> int:
        """The smallest II whose design fits the LUT budget (bisection)."""
        candidates = candidate_iis(fn)

        def luts(target: int) -> int:
            trial = fn.clone()
            return tile(trial, target).res.lut

        lo, hi = 0, len(candidates) - 1
        if luts(candidates[hi]) > self.lut_budget:
            raise TileError(
                f"lut-budget={self.lut_budget} is too small: the most folded design "
                f"(II {candidates[hi]}) needs {luts(candidates[hi])} LUTs"
            )
        while lo < hi:
            mid = (lo + hi) // 2
            if luts(candidates[mid]) <= self.lut_budget:
                hi = mid
            else:
                lo = mid + 1
        return candidates[lo]
