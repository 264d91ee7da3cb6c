// qopt-opt -t verilog on IR the emitter cannot translate (inputs/rtl/*.mlir):
// one line naming the op (or the rule), exit 2, nothing on stdout.

// RUN: sh -c 'qopt-opt %S/../inputs/rtl/clock_div.mlir -t verilog; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=OP
// OP-NOT:  endmodule
// OP:      qopt-opt: error: emitting -t verilog: 'seq.clock_div' is not supported by the Verilog emitter (in hw.module @m)
// OP-NEXT: exit 2

// RUN: sh -c 'qopt-opt %S/../inputs/rtl/loop.mlir -t verilog; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=LOOP
// LOOP:      qopt-opt: error: emitting -t verilog: combinational loop through 'comb.add' (x) in hw.module @m
// LOOP-NEXT: exit 2

// RUN: sh -c 'qopt-opt %S/../inputs/rtl/extract.mlir -t verilog; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=EXTRACT
// EXTRACT:      qopt-opt: error: emitting -t verilog: 'comb.extract' of bits 5..8 from i8 (in hw.module @m)
// EXTRACT-NEXT: exit 2

// RUN: sh -c 'qopt-opt %S/../inputs/rtl/loop.mlir -t "verilog{style=fancy}"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=OPTION
// OPTION:      qopt-opt: error: -t verilog{style=fancy}: Provided arguments ["style"] not found in expected arguments []
// OPTION-NEXT: exit 2
