// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-to-hw{target-ii=3})' | filecheck %s
// RUN: qopt-opt %s -p 'qopt-to-hw{target-ii=3}' -t verilog | filecheck %s --check-prefix=SV
// RUN: qopt-opt %s -p 'qopt-to-hw{target-ii=3 report=true}' -o /dev/null 2>&1 | filecheck %s --check-prefix=REPORT
// RUN: qopt-opt %s -p 'qopt-to-hw{lut-budget=500}' | filecheck %s --check-prefix=BUDGET
// RUN: not qopt-opt %s -p 'qopt-to-hw{lut-budget=10}' 2>&1 | filecheck %s --check-prefix=SMALL
// RUN: not qopt-opt %s -p qopt-to-hw 2>&1 | filecheck %s --check-prefix=NONE

// qopt-to-hw = qopt-lower-dataflow + qopt-tile + qopt-lower-hw: a quantized
// two-layer MLP (4 -> 6 pot weights -> 6 -> 2 int8 weights, u8 activations)
// becomes one hw.module per unit and a streaming top module; the q.quantize
// and q.dequantize around the design stay with the caller. At II 3 the pot
// layer is fully parallel (its weights are wiring and adders: cheaper than a
// folded ROM and shifters), and a width converter feeds its 6 results to a
// 2-lane requantizer.
// CHECK:      builtin.module {
// CHECK-NEXT:   hw.module @mvu_h(
// CHECK:        hw.module @dwc_h_w2(
// CHECK:        hw.module @requant_hq(
// CHECK:        hw.module @mvu_y(
// CHECK:        hw.module @dwc_y_w1(
// CHECK:        hw.module @requant_yq(
// CHECK:        hw.module @main(in %clk: !seq.clock, in %rst: i1, in %in_data: i32, in %in_valid: i1, in %out_ready: i1, out in_ready: i1, out out_data: i8, out out_valid: i1) attributes {qopt.ii = 3 : i64, qopt.latency = 18 : i64} {
// CHECK-NOT:  func.func
// CHECK-NOT:  = q.

// SV: module main (
// SV-NEXT:   input  logic        clk,
// SV-NEXT:   input  logic        rst,
// SV-NEXT:   input  logic [31:0] in_data,
// SV-NEXT:   input  logic        in_valid,
// SV-NEXT:   input  logic        out_ready,
// SV-NEXT:   output logic        in_ready,
// SV-NEXT:   output logic [7:0]  out_data,
// SV-NEXT:   output logic        out_valid
// SV-NEXT: );

// REPORT: qopt-tile: @main, target II 3

// With a budget of 500 LUTs (the model's count) the design runs at II 12.
// BUDGET: hw.module @main({{.*}}attributes {qopt.ii = 12 : i64, qopt.latency = 28 : i64}

// SMALL: qopt-opt: error: pass 'qopt-to-hw' failed: lut-budget=10 is too small: the most folded design (II 24) needs 247 LUTs
// NONE: qopt-opt: error: pass 'qopt-to-hw': qopt-to-hw needs target-ii=N, lut-budget=N or unroll

builtin.module {
  func.func @main(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
    %xq = q.quantize %x : (tensor<?x4xf32>) -> tensor<?x4x!q.uniform<u8:f32, 0.0625>>
    %w1 = q.constant "0xA3102C012B924091031A32C0" : tensor<4x6x!q.pot<i4:f32, 0.25>>
    %b1 = q.constant "0x0500FDFF00000C00F9FF0100" : tensor<6x!q.uniform<i16:f32, 0.015625>>
    %h = q.matmul %xq, %w1, %b1 : (tensor<?x4x!q.uniform<u8:f32, 0.0625>>, tensor<4x6x!q.pot<i4:f32, 0.25>>, tensor<6x!q.uniform<i16:f32, 0.015625>>) -> tensor<?x6x!q.uniform<i18:f32, 0.015625>>
    %hq = q.requantize %h {multiplier = array<i64: 1>, shift = array<i64: 3>} : (tensor<?x6x!q.uniform<i18:f32, 0.015625>>) -> tensor<?x6x!q.uniform<u8:f32, 0.125>>
    %w2 = q.constant "0x25FBF45A0303B31532FFF740" : tensor<6x2x!q.uniform<i8:f32, 0.03125>>
    %y = q.matmul %hq, %w2 : (tensor<?x6x!q.uniform<u8:f32, 0.125>>, tensor<6x2x!q.uniform<i8:f32, 0.03125>>) -> tensor<?x2x!q.uniform<i20:f32, 0.00390625>>
    %yq = q.requantize %y {multiplier = array<i64: 5>, shift = array<i64: 7>} : (tensor<?x2x!q.uniform<i20:f32, 0.00390625>>) -> tensor<?x2x!q.uniform<i8:f32, 0.1>>
    %yd = q.dequantize %yq : (tensor<?x2x!q.uniform<i8:f32, 0.1>>) -> tensor<?x2xf32>
    func.return %yd : tensor<?x2xf32>
  }
}
