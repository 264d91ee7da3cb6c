"""qopt's SystemVerilog emitter (qopt.backends.rtl.verilog) and `-t verilog`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import rtl_designs as designs
from xdsl.context import Context
from xdsl.dialects import arith, builtin, comb, hw, seq
from xdsl.dialects.builtin import IntegerType, ModuleOp, NameLoc, StringAttr
from xdsl.ir import SSAValue
from xdsl.parser import Parser

from qopt.backends.rtl import RtlError, ToolMissingError
from qopt.backends.rtl.verilog import emit_verilog, legal_identifier, literal
from qopt.tools.qopt_opt import main as qopt_opt


def _parse(text: str) -> ModuleOp:
    ctx = Context()
    for dialect in (builtin.Builtin, hw.HW, comb.Comb, seq.Seq, arith.Arith):
        ctx.load_dialect(dialect)
    return Parser(ctx, text).parse_module()


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def test_literals_are_sized_and_masked():
    assert literal(1, 1) == "1'b1"
    assert literal(3, 8) == "8'd3"
    assert literal(-1, 8) == "8'd255"
    assert literal(-5, 20) == "20'hFFFFB"
    assert literal(1 << 67, 68) == "68'h80000000000000000"


def test_identifiers_avoid_keywords_and_illegal_characters():
    assert legal_identifier("reg") == "reg_"
    assert legal_identifier("a.b-c") == "a_b_c"
    assert legal_identifier("0x") == "_0x"
    assert legal_identifier("ok$1") == "ok$1"


def test_registers_share_an_always_ff_block_with_synchronous_reset():
    text = emit_verilog(
        _parse(
            """
    hw.module @acc(in %clk: !seq.clock, in %rst: i1, in %x: i8, out y: i8) {
      %c0 = hw.constant 0 : i8
      %next = comb.add %acc, %x : i8
      %acc = seq.compreg %next, %clk reset %rst, %c0 : i8
      %count = seq.compreg %next, %clk : i8
      hw.output %acc : i8
    }"""
        )
    )
    lines = _lines(text)
    assert "module acc (" in lines
    assert "input  logic       clk," in lines
    assert "output logic [7:0] y" in lines
    assert "logic [7:0] acc;" in lines
    assert "wire [7:0] next = acc + x;" in lines
    reset_block = lines.index("if (rst) begin")
    assert lines[reset_block - 1] == "always_ff @(posedge clk) begin"
    assert lines[reset_block + 1 : reset_block + 4] == [
        "acc <= 8'd0;",
        "end else begin",
        "acc <= next;",
    ]
    # the register without reset gets its own block
    assert lines[lines.index("count <= next;") - 1] == "always_ff @(posedge clk) begin"
    assert "assign y = acc;" in lines


def test_combinational_ops_are_emitted_in_dependency_order():
    # hw regions are graphs: %b is used before it is defined
    text = emit_verilog(
        _parse(
            """
    hw.module @g(in %x: i8, out y: i8) {
      %a = comb.xor %b, %x : i8
      %b = comb.and %x, %x : i8
      hw.output %a : i8
    }"""
        )
    )
    lines = _lines(text)
    assert lines.index("wire [7:0] b = x & x;") < lines.index("wire [7:0] a = b ^ x;")
    assert lines.index("wire [7:0] a = b ^ x;") < lines.index("assign y = a;")


def test_each_operator_has_its_own_line():
    text = emit_verilog(
        _parse(
            """
    hw.module @ops(in %a: i8, in %b: i8, in %s: i2, out o: i8, out c: i13) {
      %d = comb.divs %a, %b : i8
      %m = comb.mods %a, %b : i8
      %r = comb.shrs %a, %b : i8
      %lt = comb.icmp sle %a, %b : i8
      %u = comb.icmp uge %a, %b : i8
      %x = comb.mux %lt, %d, %m : i8
      %e = comb.extract %x from 4 : (i8) -> i4
      %one = comb.extract %x from 7 : (i8) -> i1
      %rep = comb.replicate %e : (i4) -> i8
      %cat = comb.concat %one, %rep, %u, %u, %u, %u : i1, i8, i1, i1, i1, i1
      %k = hw.constant 200 : i8
      %kx = comb.extract %k from 4 : (i8) -> i4
      %arr = hw.array_create %a, %b, %r, %k : i8
      %g = hw.array_get %arr[%s] : !hw.array<4xi8>, i2
      %i1 = hw.constant 1 : i2
      %g1 = hw.array_get %arr[%i1] : !hw.array<4xi8>, i2
      %bits = hw.bitcast %arr : (!hw.array<4xi8>) -> i32
      %sum = comb.add %g, %g1, %rep : i8
      hw.output %sum, %cat : i8, i13
    }"""
        )
    )
    lines = _lines(text)
    for line in [
        "wire [7:0] d = $signed(a) / $signed(b);",
        "wire [7:0] m = $signed(a) % $signed(b);",
        "wire [7:0] r = $signed(a) >>> b;",
        "wire lt = $signed(a) <= $signed(b);",
        "wire u = a >= b;",
        "wire [7:0] x = lt ? d : m;",
        "wire [3:0] e = x[7:4];",
        "wire one = x[7];",
        "wire [7:0] rep = {2{e}};",
        "wire [12:0] cat = {one, rep, u, u, u, u};",
        "wire [3:0] kx = 4'd12;",
        # arrays are flat vectors; the first operand is the highest element
        "wire [31:0] arr = {a, b, r, 8'd200};",
        # a read takes the array_create's operand (element 1 is %r)
        "wire [7:0] g1 = r;",
        "wire [31:0] bits = arr;",
        "wire [7:0] sum = g + g1 + rep;",
        "assign o = sum;",
    ]:
        assert line in lines, line
    # a read at a variable index is a case on the index
    start = lines.index("logic [7:0] g;")
    assert lines[start + 1 : start + 9] == [
        "always_comb begin",
        "case (s)",
        "2'd0: g = 8'd200;",
        "2'd1: g = r;",
        "2'd2: g = b;",
        "default: g = a;",
        "endcase",
        "end",
    ]


def test_a_rom_read_is_a_case_with_the_last_entry_as_default():
    # 3 entries of 12 bits behind a 2-bit index: index 3 is past the end
    text = emit_verilog(
        _parse(
            """
    hw.module @rom(in %i: i2, out y: i12, out z: i12, out w: i12) {
      %a = hw.constant 100 : i12
      %b = hw.constant 2047 : i12
      %c = hw.constant -1 : i12
      %table = hw.array_create %c, %b, %a : i12
      %0 = hw.array_get %table[%i] : !hw.array<3xi12>, i2
      %three = hw.constant 3 : i2
      %1 = hw.array_get %table[%three] : !hw.array<3xi12>, i2
      %one = hw.constant 1 : i2
      %2 = hw.array_get %table[%one] : !hw.array<3xi12>, i2
      hw.output %0, %1, %2 : i12, i12, i12
    }"""
        )
    )
    lines = _lines(text)
    # the read drives port y: the case assigns the port, nothing is declared
    start = lines.index("always_comb begin")
    assert lines[start - 1] == ");"
    assert lines[start + 1 : start + 7] == [
        "case (i)",
        "2'd0: y = 12'd100;",
        "2'd1: y = 12'd2047;",
        "default: y = 12'd4095;",
        "endcase",
        "end",
    ]
    # a constant index past the end reads the last entry, like the default
    assert "assign z = 12'd4095;" in lines
    assert "assign w = 12'd2047;" in lines
    # the table is never a vector of its own, and nothing is multiplied
    assert "table" not in text
    assert "*" not in text.split("\n", 1)[1]


def test_register_array_reads_need_no_index_arithmetic():
    # 5 registers of 12 bits (neither a power of two) and an array port
    text = emit_verilog(
        _parse(
            """
    hw.module @taps(in %clk: !seq.clock, in %x: i12, in %i: i3,
                   in %p: !hw.array<3xi5>, in %j: i2, out y: i12, out q: i5) {
      %r0 = seq.compreg %x, %clk : i12
      %r1 = seq.compreg %r0, %clk : i12
      %r2 = seq.compreg %r1, %clk : i12
      %r3 = seq.compreg %r2, %clk : i12
      %r4 = seq.compreg %r3, %clk : i12
      %regs = hw.array_create %r4, %r3, %r2, %r1, %r0 : i12
      %tap = hw.array_get %regs[%i] : !hw.array<5xi12>, i3
      %pick = hw.array_get %p[%j] : !hw.array<3xi5>, i2
      hw.output %tap, %pick : i12, i5
    }"""
        )
    )
    lines = _lines(text)
    start = lines.index("logic [11:0] tap;")
    assert lines[start + 1 : start + 11] == [
        "always_comb begin",
        "case (i)",
        "3'd0: tap = r0;",
        "3'd1: tap = r1;",
        "3'd2: tap = r2;",
        "3'd3: tap = r3;",
        "default: tap = r4;",
        "endcase",
        "end",
        "logic [4:0] pick;",
    ]
    # an array that is not an hw.array_create: constant part-selects
    assert lines[start + 12 : start + 16] == [
        "case (j)",
        "2'd0: pick = p[4:0];",
        "2'd1: pick = p[9:5];",
        "default: pick = p[14:10];",
    ]
    assert "*" not in text.split("\n", 1)[1]
    assert "+:" not in text


def test_names_come_from_hints_attributes_and_locations():
    module = _parse(
        """
    hw.module @n(in %x: i8, out y: i8, out z: i8) {
      %reg = comb.add %x, %x : i8
      %0 = comb.mul %reg, %x {sv.namehint = "scaled"} : i8
      %1 = comb.sub %0, %x : i8
      %2 = comb.and %1, %x : i8
      %y = comb.or %2, %x : i8
      hw.output %2, %y : i8, i8
    }"""
    )
    sub = next(op for op in module.walk() if isinstance(op, comb.SubOp))
    sub.location = NameLoc(StringAttr("conv1/relu"), builtin.NoneAttr())
    lines = _lines(emit_verilog(module))
    assert "wire [7:0] reg_ = x + x;" in lines  # keyword
    assert "wire [7:0] scaled = reg_ * x;" in lines  # sv.namehint
    assert "wire [7:0] conv1_relu = scaled - x;" in lines  # loc("conv1/relu")
    # a value without a name that drives an output port is that port
    assert "assign y = conv1_relu & x;" in lines
    # %y drives port z: it keeps its name, which clashes with port y
    assert "wire [7:0] y_1 = y | x;" in lines
    assert "assign z = y_1;" in lines


def test_instances_connect_ports_by_name():
    text = emit_verilog(designs.mac())
    lines = _lines(text)
    assert text.startswith("// Generated by qopt")
    assert "module skid20 (" in lines and "module mac (" in lines
    assert lines.index("module skid20 (") < lines.index("module mac (")
    start = lines.index("skid20 skid (")
    assert lines[start + 1 : start + 4] == [
        ".clk       (clk),",
        ".rst       (rst),",
        ".in_data   (s2_lane0),",
    ]
    # instance results that are outputs of mac connect straight to its ports
    assert ".out_data  (out_data)," in lines
    assert "wire skid_in_ready;" in lines


def test_extern_modules_become_comments_and_keep_their_verilog_name():
    text = emit_verilog(
        _parse(
            """
    hw.module.extern @ext(in %a: i8, out b: i8) attributes {verilogName = "vendor_ip"}
    hw.module @top(in %x: i8, out y: i8) {
      %b = hw.instance "u" @ext(a: %x: i8) -> (b: i8)
      hw.output %b : i8
    }"""
        )
    )
    assert "// hw.module.extern @ext: module vendor_ip is provided elsewhere" in text
    assert "vendor_ip u (" in text


def test_power_on_values_initialise_the_register():
    text = emit_verilog(
        _parse(
            """
    hw.module @p(in %clk: !seq.clock, in %x: i4, out y: i4) {
      %init = hw.constant 5 : i4
      %r = seq.compreg %x, %clk powerOn %init : i4
      hw.output %r : i4
    }"""
        )
    )
    assert "logic [3:0] r = 4'd5;" in _lines(text)


@pytest.mark.parametrize(
    ("ir", "message"),
    [
        (
            """hw.module @m(in %clk: !seq.clock, out y: i8) {
              %d = seq.clock_div %clk by 2
              %c = hw.constant 0 : i8
              hw.output %c : i8
            }""",
            "'seq.clock_div' is not supported by the Verilog emitter (in hw.module @m)",
        ),
        (
            """hw.module @m(in %a: i8, out y: i8) {
              %s = arith.addi %a, %a : i8
              hw.output %s : i8
            }""",
            "'arith.addi' is not supported by the Verilog emitter",
        ),
        (
            """hw.module @m(in %a: i8, out y: i8) {
              %x = comb.add %y, %a : i8
              %y = comb.add %x, %a : i8
              hw.output %y : i8
            }""",
            "combinational loop through 'comb.add'",
        ),
        (
            """hw.module @m(in %a: i8, out y: i4) {
              %x = comb.extract %a from 5 : (i8) -> i4
              hw.output %x : i4
            }""",
            "'comb.extract' of bits 5..8 from i8",
        ),
        (
            """hw.module @m(in %a: i3, out y: i8) {
              %x = comb.replicate %a : (i3) -> i8
              hw.output %x : i8
            }""",
            "'comb.replicate' of i3 cannot make i8",
        ),
        (
            """hw.module @m(in %a: i0, out y: i0) {
              hw.output %a : i0
            }""",
            "zero-width values are not supported",
        ),
        (
            """hw.module @m(in %clk: !seq.clock, in %a: i8, out y: i8) {
              %r = seq.compreg %a, %clk powerOn %a : i8
              hw.output %r : i8
            }""",
            "the powerOn value must be a hw.constant",
        ),
        (
            """hw.module @m(in %a: i8, out "y z": i8) {
              hw.output %a : i8
            }""",
            "port 'y z' is not a legal SystemVerilog identifier",
        ),
        (
            """hw.module @module(in %a: i8, out y: i8) {
              hw.output %a : i8
            }""",
            "module name 'module' is not a legal SystemVerilog identifier",
        ),
        (
            """hw.module @m(in %a: si8, out y: si8) {
              hw.output %a : si8
            }""",
            "type si8 is not signless",
        ),
        (
            """func.func @f() {
              func.return
            }""",
            "'func.func' is not supported by the Verilog emitter "
            "(a module holds only hw.module and hw.module.extern)",
        ),
    ],
)
def test_unsupported_ir_is_one_line_naming_the_op(ir: str, message: str):
    ctx = Context()
    for dialect in (builtin.Builtin, hw.HW, comb.Comb, seq.Seq, arith.Arith):
        ctx.load_dialect(dialect)
    from xdsl.dialects import func

    ctx.load_dialect(func.Func)
    module = Parser(ctx, ir).parse_module()
    with pytest.raises(RtlError) as info:
        emit_verilog(module)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_parameterized_modules_are_rejected():
    module = designs.multiplier(4)
    top = list(module.ops)[-1]
    assert isinstance(top, hw.HWModuleOp)
    top.parameters = builtin.ArrayAttr(
        [hw.ParamDeclAttr(StringAttr("N"), IntegerType(32))]
    )
    with pytest.raises(RtlError, match="parameterized modules are not supported"):
        emit_verilog(module)


# Array reads past the end in simulation: 5 entries of 12 bits, a 3-bit index
ARRAY_ROM = (100, 2047, 4095, 7, 1234)
ARRAY_STEP = 300


def _array_reads() -> ModuleOp:
    """Per item (index i, value v, 3 bits each): ROM[i], E[i] and E[i] again.

    E[k] = v + 300 k is an hw.array_create of wires, read directly and
    through an hw.bitcast of their concatenation (a flat array).
    """

    def reads(b: designs.HwBuilder, x: list[SSAValue]) -> list[SSAValue]:
        index, value = x
        rom = b.op(hw.ArrayCreateOp(*(b.const(v, 12) for v in reversed(ARRAY_ROM))))
        wide = b.zext(value, 12)
        entries = [b.add(wide, b.const(ARRAY_STEP * k, 12)) for k in range(5)]
        regs = b.op(hw.ArrayCreateOp(*reversed(entries)))
        flat = b.op(
            hw.BitcastOp(b.concat(*reversed(entries)), hw.ArrayType(IntegerType(12), 5))
        )
        return [
            b.op(hw.ArrayGetOp(rom, index), "from_rom"),
            b.op(hw.ArrayGetOp(regs, index), "from_wires"),
            b.op(hw.ArrayGetOp(flat, index), "from_flat"),
        ]

    return designs.pipeline("array_reads", 2, 3, [reads])


def test_reads_past_the_end_return_the_last_element_in_verilator(tmp_path: Path):
    from qopt.backends.rtl.verilator import find_verilator, simulate

    try:
        find_verilator()
    except ToolMissingError as e:
        pytest.skip(str(e))
    path = tmp_path / "array_reads.sv"
    path.write_text(emit_verilog(_array_reads()))
    x = np.array([(i, v) for i in range(8) for v in range(8)], np.int64)
    result = simulate(
        [path], "array_reads", x, 3, signed=False, build_dir=tmp_path / "build"
    )
    last = np.minimum(x[:, 0], 4)  # indices 5..7 read element 4
    entries = x[:, 1] + ARRAY_STEP * last
    expected = np.stack([np.array(ARRAY_ROM)[last], entries, entries], axis=1)
    np.testing.assert_array_equal(result.outputs, expected)


# ------------------------------------------------------------------ qopt-opt


def test_qopt_opt_target_verilog(tmp_path: Path, capsys):
    source = tmp_path / "mac.mlir"
    source.write_text(str(designs.mac()))
    out = tmp_path / "mac.sv"
    assert qopt_opt([str(source), "-t", "verilog", "-o", str(out)]) == 0
    assert out.read_text() == emit_verilog(designs.mac())


def test_qopt_opt_target_errors_are_one_line(tmp_path: Path, capsys):
    source = tmp_path / "bad.mlir"
    source.write_text(
        "hw.module @m(in %clk: !seq.clock, out y: i8) {\n"
        "  %d = seq.clock_div %clk by 2\n"
        "  %c = hw.constant 0 : i8\n"
        "  hw.output %c : i8\n}\n"
    )
    out = tmp_path / "bad.sv"
    assert qopt_opt([str(source), "-t", "verilog", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (
        "qopt-opt: error: emitting -t verilog: 'seq.clock_div' is not supported "
        "by the Verilog emitter (in hw.module @m)\n"
    )
    assert not out.exists()
    assert qopt_opt([str(source), "-t", "verilog{bogus=1}"]) == 2
    assert "-t verilog{bogus=1}: Provided arguments" in capsys.readouterr().err


# ------------------------------------------------------------------ lint


def _verilator_lint(path: Path, top: str) -> str:
    from qopt.backends.rtl.verilator import find_verilator

    try:
        tool = find_verilator()
    except ToolMissingError as e:
        pytest.skip(str(e))
    done = subprocess.run(
        [
            *tool.command,
            "--lint-only",
            "-Wall",
            "-Wno-DECLFILENAME",
            "--top-module",
            top,
            str(path),
        ],
        capture_output=True,
        text=True,
        env=tool.environment(),
    )
    return done.stdout + done.stderr


@pytest.mark.parametrize(
    "design", ["mac", "alu", "rom", "half_rate", "multiplier", "array_reads"]
)
def test_emitted_designs_are_lint_clean(design: str, tmp_path: Path):
    if design == "multiplier":
        module = designs.multiplier(None)
    elif design == "array_reads":
        module = _array_reads()
    else:
        module = getattr(designs, design)()
    top = list(module.ops)[-1]
    assert isinstance(top, hw.HWModuleOp)
    path = tmp_path / f"{design}.sv"
    path.write_text(emit_verilog(module))
    log = _verilator_lint(path, top.sym_name.data)
    warnings = [line for line in log.splitlines() if line.startswith("%")]
    # only unused bits (of inputs the design does not fully read) remain
    assert all("UNUSED" in w for w in warnings), warnings
