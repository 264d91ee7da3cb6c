// RUN: qopt-opt %s -p qopt-lower-hw | filecheck %s
// RUN: qopt-opt %s -p qopt-lower-hw -t verilog | filecheck %s --check-prefix=SV
// RUN: not qopt-opt %S/../inputs/dataflow-grouped-conv.mlir -p qopt-lower-hw 2>&1 | filecheck %s --check-prefix=NOUNITS

// qopt-lower-hw on a tiled two-layer MLP (qopt-to-hw.mlir's model after
// qopt-lower-dataflow and qopt-tile{target-ii=3}): one hw.module per unit,
// then the top @main that instantiates them in stream order, wires data and
// valid forward and ready backward, and carries the cycle model's II and
// latency. %h: pot weights, PE 2 x SIMD 4, 3 neuron folds: the weight ROM
// holds one 21-bit word per step (per lane a choice among the shifts that
// occur and zero, and a sign where it varies; stored as 32 bits so that the
// part-select's index scaling is a shift), the products are muxes of shifted
// inputs XORed with their sign (no multiplier), the input vector is kept in
// a ring of beats for the folds nf > 0, the adder tree has 2 levels and the
// accumulators start from the bias ROM. %hq multiplies by 1 (shift only, 2
// stages). %y: int8 weights from a ROM (a 7-bit magnitude and a sign per
// lane) into comb.mul (DSP inferable). %y_w1 emits the 2-lane beat in two
// pieces. %yq: x * 5.

// CHECK:      hw.module @mvu_h(in %clk: !seq.clock, in %rst: i1, in %in_data: i32, in %in_valid: i1, in %out_ready: i1, out in_ready: i1, out out_data: i36, out out_valid: i1) {
// CHECK-NOT:    comb.mul
// CHECK:        %xbuf0 = seq.compreg
// CHECK:        %x_stored = comb.extract
// CHECK:        hw.array_get %{{.*}}[%step] : !hw.array<4xi32>, i2
// CHECK-NEXT:   %weights = comb.extract %{{.*}} from 0 :{{ +}}(i32) -> i21
// CHECK:        comb.xor
// CHECK:        %s1_valid = seq.compreg
// CHECK:        %s2_valid = seq.compreg
// CHECK:        %s3_valid = seq.compreg
// CHECK-NOT:    %s4_valid
// CHECK:        %acc0 = seq.compreg
// CHECK:        %acc1 = seq.compreg
// CHECK:        hw.output %in_ready_q, %out_beat, %out_valid_q : i1, i36, i1

// CHECK:      hw.module @requant_hq(
// CHECK-NOT:    comb.mul
// CHECK:        %s2_valid = seq.compreg
// CHECK-NOT:    %s3_valid
// CHECK:        hw.output

// CHECK:      hw.module @mvu_y(in %clk: !seq.clock, in %rst: i1, in %in_data: i16, in %in_valid: i1, in %out_ready: i1, out in_ready: i1, out out_data: i40, out out_valid: i1) {
// CHECK:        hw.array_get %{{.*}}[%step] : !hw.array<4xi32>, i2
// CHECK-NEXT:   %weights = comb.extract %{{.*}} from 0 :{{ +}}(i32) -> i24
// CHECK:        comb.mul
// CHECK:        %acc1 = seq.compreg

// CHECK:      hw.module @dwc_y_w1(
// CHECK:        %held = seq.compreg
// CHECK:        hw.array_get %{{.*}}[%ptr] : !hw.array<2xi32>, i1
// CHECK-NEXT:   %next_piece = comb.extract

// CHECK:      hw.module @requant_yq(
// CHECK:        comb.mul %{{.*}}, %{{.*}} : i19
// CHECK:        %s3_valid = seq.compreg

// CHECK:      hw.module @main(in %clk: !seq.clock, in %rst: i1, in %in_data: i32, in %in_valid: i1, in %out_ready: i1, out in_ready: i1, out out_data: i8, out out_valid: i1) attributes {qopt.ii = 3 : i64, qopt.latency = 17 : i64} {
// CHECK-NEXT:   %0, %1, %2 = hw.instance "mvu_h" @mvu_h(clk: %clk: !seq.clock, rst: %rst: i1, in_data: %in_data: i32, in_valid: %in_valid: i1, out_ready: %3: i1) -> (in_ready: i1, out_data: i36, out_valid: i1) {qopt.estimate = {ii = 3 : i64, first = 4 : i64, lut = {{[0-9]+}} : i64, ff = {{[0-9]+}} : i64, dsp = 0 : i64, bram = 0 : i64}}
// CHECK-NEXT:   %3, %4, %5 = hw.instance "requant_hq" @requant_hq(clk: %clk: !seq.clock, rst: %rst: i1, in_data: %1: i36, in_valid: %2: i1, out_ready: %6: i1)
// CHECK-NEXT:   %6, %7, %8 = hw.instance "mvu_y" @mvu_y(clk: %clk: !seq.clock, rst: %rst: i1, in_data: %4: i16, in_valid: %5: i1, out_ready: %9: i1)
// CHECK-NEXT:   %9, %10, %11 = hw.instance "dwc_y_w1" @dwc_y_w1(clk: %clk: !seq.clock, rst: %rst: i1, in_data: %7: i40, in_valid: %8: i1, out_ready: %12: i1)
// CHECK-NEXT:   %12, %13, %14 = hw.instance "requant_yq" @requant_yq(clk: %clk: !seq.clock, rst: %rst: i1, in_data: %10: i20, in_valid: %11: i1, out_ready: %out_ready: i1)
// CHECK-NEXT:   hw.output %0, %13, %14 : i1, i8, i1

// The same as SystemVerilog: one module per unit, the top last.
// SV:      module mvu_h (
// SV:      module requant_hq (
// SV:      module mvu_y (
// SV:      module dwc_y_w1 (
// SV:      module requant_yq (
// SV:      module main (
// SV:        mvu_h mvu_h (
// SV:          .in_data   (in_data),

// NOUNITS: qopt-opt: error: pass 'qopt-lower-hw' failed: @main has no dataflow units: run qopt-lower-dataflow first

builtin.module {
  func.func @main(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
    %xq = q.quantize %x : (tensor<?x4xf32>) -> tensor<?x4x!q.uniform<u8:f32, 0.0625>>
    %b1 = q.constant "0x0500FDFF00000C00F9FF0100" : tensor<6x!q.uniform<i16:f32, 0.015625>>
    %xq_s = dataflow.input %xq : (tensor<?x4x!q.uniform<u8:f32, 0.0625>>) -> !dataflow.stream<4, 4 x !q.uniform<u8:f32, 0.0625>>
    %h_w = q.constant "0x13A00A14B02121392C0392C0" : tensor<6x4x!q.pot<i4:f32, 0.25>>
    %h = dataflow.mvu %xq_s, %h_w, %b1 {pe = 2 : i64, simd = 4 : i64} : (!dataflow.stream<4, 4 x !q.uniform<u8:f32, 0.0625>>, tensor<6x4x!q.pot<i4:f32, 0.25>>, tensor<6x!q.uniform<i16:f32, 0.015625>>) -> !dataflow.stream<6, 2 x !q.uniform<i18:f32, 0.015625>>
    %hq = dataflow.requant %h {multiplier = array<i64: 1>, shift = array<i64: 3>} : (!dataflow.stream<6, 2 x !q.uniform<i18:f32, 0.015625>>) -> !dataflow.stream<6, 2 x !q.uniform<u8:f32, 0.125>>
    %y_w = q.constant "0x25F403B332F7FB5A0315FF40" : tensor<2x6x!q.uniform<i8:f32, 0.03125>>
    %y = dataflow.mvu %hq, %y_w {pe = 2 : i64, simd = 2 : i64} : (!dataflow.stream<6, 2 x !q.uniform<u8:f32, 0.125>>, tensor<2x6x!q.uniform<i8:f32, 0.03125>>) -> !dataflow.stream<2, 2 x !q.uniform<i20:f32, 0.00390625>>
    %y_w1 = dataflow.dwc %y : (!dataflow.stream<2, 2 x !q.uniform<i20:f32, 0.00390625>>) -> !dataflow.stream<2, 1 x !q.uniform<i20:f32, 0.00390625>>
    %yq = dataflow.requant %y_w1 {multiplier = array<i64: 5>, shift = array<i64: 7>} : (!dataflow.stream<2, 1 x !q.uniform<i20:f32, 0.00390625>>) -> !dataflow.stream<2, 1 x !q.uniform<i8:f32, 0.1>>
    %yq_t = dataflow.output %yq : (!dataflow.stream<2, 1 x !q.uniform<i8:f32, 0.1>>) -> tensor<?x2x!q.uniform<i8:f32, 0.1>>
    %yd = q.dequantize %yq_t : (tensor<?x2x!q.uniform<i8:f32, 0.1>>) -> tensor<?x2xf32>
    func.return %yd : tensor<?x2xf32>
  }
}

