// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-tile{target-ii=16 report=false})' | filecheck %s
// RUN: qopt-opt %s -p 'qopt-tile{target-ii=16}' -o /dev/null 2>&1 | filecheck %s --check-prefix=REPORT
// RUN: qopt-opt %s -p 'qopt-tile{target-ii=64},qopt-tile{target-ii=16 report=false}' | filecheck %s
// RUN: qopt-opt %s -p 'qopt-tile{lut-budget=2000 report=false}' | filecheck %s --check-prefix=BUDGET
// RUN: not qopt-opt %s -p 'qopt-tile{target-ii=8}' 2>&1 | filecheck %s --check-prefix=FAST
// RUN: not qopt-opt %s -p 'qopt-tile{lut-budget=100}' 2>&1 | filecheck %s --check-prefix=SMALL
// RUN: not qopt-opt %s -p qopt-tile 2>&1 | filecheck %s --check-prefix=NONE
// RUN: qopt-opt %s -p 'qopt-tile{unroll=true report=false}' | filecheck %s --check-prefix=UNROLL
// RUN: not qopt-opt %s -p 'qopt-tile{unroll=true lut-budget=9000}' 2>&1 | filecheck %s --check-prefix=UNROLL-BUDGET

// qopt-tile{target-ii=16} on the output of qopt-lower-dataflow (the small net
// of qopt-lower-dataflow.mlir). 16 pixels per frame: the 3x3 conv needs all 4
// rows and all 18 window columns each cycle (PE 4 x SIMD 18, so its window
// emits 18 lanes from an input of 2 lanes); the threshold and pool units keep
// 4 lanes; the 1x1 conv reads the pool's 4 lanes as SIMD 4 and emits 1 lane,
// so the skip branch of the add gets a 4 -> 1 width converter and, before the
// add, a FIFO of 5 beats (the cycle model's occupancy). The estimates are
// attached to every unit and to the function. Re-tiling replaces the width
// converters and FIFOs of an earlier run (third RUN line).
// CHECK-LABEL: func.func @main(
// CHECK-SAME:    attributes {dataflow.estimate = {ii = 16 : i64, latency = 66 : i64, lut = 3290 : i64, ff = 2251 : i64, dsp = 1 : i64, bram = 0 : i64}}
// CHECK:         %xq_s = dataflow.input %xq {{.*}} -> !dataflow.stream<4x4x2, 2 x !q.uniform<u8:f32, 0.015625>>
// CHECK:         %c1_win = dataflow.swu %xq_s {{.*}} -> !dataflow.stream<4x4x18, 18 x !q.uniform<u8:f32, 0.015625>>
// CHECK-NEXT:    %c1 = dataflow.mvu %c1_win, %c1_w, %b1 {dataflow.estimate = {ii = 16 : i64, first = 7 : i64, lut = 1167 : i64, ff = 1309 : i64, dsp = 0 : i64, bram = 0 : i64}, pe = 4 : i64, simd = 18 : i64}
// CHECK:         %r1 = dataflow.threshold %c1, %r1_thr {{.*}} -> !dataflow.stream<4x4x4, 4 x !q.uniform<u4:f32, 0.125>>
// CHECK:         %c2 = dataflow.mvu %p1_f0, %c2_w {{.*}}pe = 1 : i64, simd = 4 : i64}
// CHECK:         %p1_f1_w1 = dataflow.dwc %p1_f1 {{.*}} : (!dataflow.stream<2x2x4, 4 x !q.uniform<u4:f32, 0.125>>) -> !dataflow.stream<2x2x4, 1 x !q.uniform<u4:f32, 0.125>>
// CHECK-NEXT:    %p1_f1_w1_fifo = dataflow.fifo %p1_f1_w1 {{.*}}depth = 5 : i64}
// CHECK-NEXT:    %a = dataflow.add %p1_f1_w1_fifo, %r2
// CHECK-NOT:     dataflow.dwc
// CHECK-NOT:     dataflow.fifo
// CHECK:         %y_t = dataflow.output %y

// The report (stderr): one row per unit, the totals, the cycle counts.
// REPORT:      qopt-tile: @main, target II 16
// REPORT-NEXT: unit                             op         folding            II     first  LUT     FF      DSP  BRAM
// REPORT:      %c1                              mvu        PE 4 x SIMD 18         16      7    1167    1309    0    0
// REPORT:      %p1_f1_w1_fifo                   fifo       depth 5                16      1      21      20    0    0
// REPORT:      total                                                              16           3290    2251    1    0
// REPORT-NEXT: II 16 cycles per inference in steady state, latency 66 cycles; 16050 cycles for 1000 inferences

// With a budget of 2000 LUTs the fastest design that fits runs at II 96.
// BUDGET: attributes {dataflow.estimate = {ii = 96 : i64, {{.*}}lut = 1938 : i64

// FAST: qopt-opt: error: pass 'qopt-tile' failed: target-ii=8 is out of reach: %xq_s needs 16 cycles per frame at full parallelism
// SMALL: qopt-opt: error: pass 'qopt-tile' failed: lut-budget=100 is too small: the most folded design (II 1152) needs {{[0-9]+}} LUTs
// NONE: qopt-opt: error: pass 'qopt-tile': qopt-tile needs target-ii=N, lut-budget=N or unroll

// unroll=true: every matrix-vector unit fully parallel (PE = rows, SIMD =
// columns: its weights are constants), at the II of the slowest unit at full
// parallelism (16: the window of the 4x4 input, one pixel per cycle); the
// 1x1 conv (4 x 4) and the matmul (3 x 4) unrolled too, though they could
// fold; the other units take the fewest lanes for II 16.
// UNROLL-LABEL: func.func @main(
// UNROLL-SAME:    attributes {dataflow.estimate = {ii = 16 : i64, latency = 65 : i64
// UNROLL:         %c1 = dataflow.mvu %c1_win, %c1_w, %b1 {{.*}}pe = 4 : i64, simd = 18 : i64}
// UNROLL:         %c2 = dataflow.mvu %p1_f0, %c2_w {{.*}}pe = 4 : i64, simd = 4 : i64}
// UNROLL:         %m = dataflow.mvu %f_w4, %m_w {{.*}}pe = 3 : i64, simd = 4 : i64}
// UNROLL-BUDGET: qopt-opt: error: pass 'qopt-tile': option 'unroll' fixes the design: no 'lut-budget'
builtin.module {
  func.func @main(%x: tensor<?x2x4x4xf32>) -> tensor<?x3xf32> {
    %xq = q.quantize %x : (tensor<?x2x4x4xf32>) -> tensor<?x2x4x4x!q.uniform<u8:f32, 0.015625>>
    %b1 = q.constant "0xD1FFF7FF8300E900" : tensor<4x!q.uniform<i16:f32, 0.00390625>>
    %xq_s = dataflow.input %xq : (tensor<?x2x4x4x!q.uniform<u8:f32, 0.015625>>) -> !dataflow.stream<4x4x2, 1 x !q.uniform<u8:f32, 0.015625>>
    %c1_w = q.constant "0x5522600B2B7F3E2F1DF1473B55D3EF5AF5113E0B20C9294FAF9E7FA567DA13375205A3B3" : tensor<4x18x!q.pot<i4:f32, 0.25>>
    %c1_win = dataflow.swu %xq_s {kernel_shape = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>} : (!dataflow.stream<4x4x2, 1 x !q.uniform<u8:f32, 0.015625>>) -> !dataflow.stream<4x4x18, 1 x !q.uniform<u8:f32, 0.015625>>
    %c1 = dataflow.mvu %c1_win, %c1_w, %b1 {pe = 1 : i64, simd = 1 : i64} : (!dataflow.stream<4x4x18, 1 x !q.uniform<u8:f32, 0.015625>>, tensor<4x18x!q.pot<i4:f32, 0.25>>, tensor<4x!q.uniform<i16:f32, 0.00390625>>) -> !dataflow.stream<4x4x4, 1 x !q.uniform<i20:f32, 0.00390625>>
    %r1_thr = q.constant "0x1000000600400100380000090060010034008007001001002600400500B800001900600300740000" : tensor<1x15x!q.uniform<i21:f32, 0.00390625>>
    %r1 = dataflow.threshold %c1, %r1_thr : (!dataflow.stream<4x4x4, 1 x !q.uniform<i20:f32, 0.00390625>>, tensor<1x15x!q.uniform<i21:f32, 0.00390625>>) -> !dataflow.stream<4x4x4, 1 x !q.uniform<u4:f32, 0.125>>
    %p1 = dataflow.pool %r1 {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, kind = "max", ceil_mode = false} : (!dataflow.stream<4x4x4, 1 x !q.uniform<u4:f32, 0.125>>) -> !dataflow.stream<2x2x4, 1 x !q.uniform<u4:f32, 0.125>>
    %p1_f0, %p1_f1 = dataflow.fork %p1 : (!dataflow.stream<2x2x4, 1 x !q.uniform<u4:f32, 0.125>>) -> (!dataflow.stream<2x2x4, 1 x !q.uniform<u4:f32, 0.125>>, !dataflow.stream<2x2x4, 1 x !q.uniform<u4:f32, 0.125>>)
    %c2_w = q.constant "0x7AE013DC13E0E46D" : tensor<4x4x!q.uniform<i4:f32:0, {0.5, 0.25, 0.5, 0.125}>>
    %c2 = dataflow.mvu %p1_f0, %c2_w {pe = 1 : i64, simd = 1 : i64} : (!dataflow.stream<2x2x4, 1 x !q.uniform<u4:f32, 0.125>>, tensor<4x4x!q.uniform<i4:f32:0, {0.5, 0.25, 0.5, 0.125}>>) -> !dataflow.stream<2x2x4, 1 x !q.uniform<i10:f32:2, {0.0625, 0.03125, 0.0625, 0.015625}>>
    %r2 = dataflow.requant %c2 {multiplier = array<i64: 1, 1, 1, 1>, shift = array<i64: 0, 1, 0, 2>} : (!dataflow.stream<2x2x4, 1 x !q.uniform<i10:f32:2, {0.0625, 0.03125, 0.0625, 0.015625}>>) -> !dataflow.stream<2x2x4, 1 x !q.uniform<i8:f32, 0.0625>>
    %p1_f1_fifo = dataflow.fifo %p1_f1 {depth = 4 : i64} : (!dataflow.stream<2x2x4, 1 x !q.uniform<u4:f32, 0.125>>) -> !dataflow.stream<2x2x4, 1 x !q.uniform<u4:f32, 0.125>>
    %a = dataflow.add %p1_f1_fifo, %r2 : (!dataflow.stream<2x2x4, 1 x !q.uniform<u4:f32, 0.125>>, !dataflow.stream<2x2x4, 1 x !q.uniform<i8:f32, 0.0625>>) -> !dataflow.stream<2x2x4, 1 x !q.uniform<i9:f32, 0.0625>>
    %r3 = dataflow.requant %a {multiplier = array<i64: 1>, shift = array<i64: 0>} : (!dataflow.stream<2x2x4, 1 x !q.uniform<i9:f32, 0.0625>>) -> !dataflow.stream<2x2x4, 1 x !q.uniform<u8:f32, 0.0625>>
    %cl = dataflow.clamp %r3 {min = 0 : i64, max = 200 : i64} : (!dataflow.stream<2x2x4, 1 x !q.uniform<u8:f32, 0.0625>>) -> !dataflow.stream<2x2x4, 1 x !q.uniform<u8:f32, 0.0625>>
    %s = dataflow.pool %cl {kernel_shape = array<i64: 2, 2>, strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, kind = "sum", ceil_mode = false} : (!dataflow.stream<2x2x4, 1 x !q.uniform<u8:f32, 0.0625>>) -> !dataflow.stream<1x1x4, 1 x !q.uniform<i11:f32, 0.015625>>
    %r4 = dataflow.requant %s {multiplier = array<i64: 1>, shift = array<i64: 3>} : (!dataflow.stream<1x1x4, 1 x !q.uniform<i11:f32, 0.015625>>) -> !dataflow.stream<1x1x4, 1 x !q.uniform<u5:f32, 0.125>>
    %t = dataflow.lut %r4 {table = "0x00203F5C768EA3B4C3CFD9E1E8EDF1F4F7F9FAFCFDFDFEFEFFFFFFFFFFFFFFFF"} : (!dataflow.stream<1x1x4, 1 x !q.uniform<u5:f32, 0.125>>) -> !dataflow.stream<1x1x4, 1 x !q.uniform<u8:f32, 0.00390625>>
    %f = dataflow.reshape %t : (!dataflow.stream<1x1x4, 1 x !q.uniform<u8:f32, 0.00390625>>) -> !dataflow.stream<4, 1 x !q.uniform<u8:f32, 0.00390625>>
    %m_w = q.constant "0x7D4C8DBD2501" : tensor<3x4x!q.mixed<[i2<-1:1> << 3, i8<-127:127>]:f32, 0.0078125, block 1 = "0x2202">>
    %m = dataflow.mvu %f, %m_w {pe = 1 : i64, simd = 1 : i64} : (!dataflow.stream<4, 1 x !q.uniform<u8:f32, 0.00390625>>, tensor<3x4x!q.mixed<[i2<-1:1> << 3, i8<-127:127>]:f32, 0.0078125, block 1 = "0x2202">>) -> !dataflow.stream<3, 1 x !q.uniform<i17:f32, 3.0517578125e-05>>
    %y = dataflow.requant %m {multiplier = array<i64: 1>, shift = array<i64: 10>} : (!dataflow.stream<3, 1 x !q.uniform<i17:f32, 3.0517578125e-05>>) -> !dataflow.stream<3, 1 x !q.uniform<i8:f32, 0.03125>>
    %y_t = dataflow.output %y : (!dataflow.stream<3, 1 x !q.uniform<i8:f32, 0.03125>>) -> tensor<?x3x!q.uniform<i8:f32, 0.03125>>
    %yf = q.dequantize %y_t : (tensor<?x3x!q.uniform<i8:f32, 0.03125>>) -> tensor<?x3xf32>
    func.return %yf : tensor<?x3xf32>
  }
}
