// RUN: xdsl-opt %s | xdsl-opt | filecheck %s
// RUN: xdsl-opt %s --print-op-generic | xdsl-opt | filecheck %s
// RUN: xdsl-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// Every dataflow op in the custom and the generic format: a small conv net
// (3x3 conv with pot weights and a threshold unit, max pool, a residual
// 1x1 conv with per-channel int4 weights, clamp, sum pool, table, and a
// matmul with mixed-format weights) as qopt-lower-dataflow{threshold-bits=4}
// and qopt-tile{target-ii=16} produce it from q IR built with the Python
// builders (seeded random weights), estimates removed. Streams carry
// `frame, lanes x element`; weights, biases and thresholds are q.constant ROMs.

// CHECK-LABEL: func.func @main(
// CHECK-NEXT:  %xq = q.quantize %x : (tensor<?x2x4x4xf32>) -> tensor<?x2x4x4x!q.uniform<u8:f32, 0.015625>>
// CHECK-NEXT:  %b1 = q.constant "0xD1FFF7FF8300E900" : tensor<4x!q.uniform<i16:f32, 0.00390625>>
// CHECK-NEXT:  %xq_s = dataflow.input %xq : (tensor<?x2x4x4x!q.uniform<u8:f32, 0.015625>>) -> !dataflow.stream<4x4x2, 2 x !q.uniform<u8:f32, 0.015625>>
// CHECK-NEXT:  %c1_w = q.constant "0x5522600B2B7F3E2F1DF1473B55D3EF5AF5113E0B20C9294FAF9E7FA567DA13375205A3B3" : tensor<4x18x!q.pot<i4:f32, 0.25>>
// CHECK-NEXT:  %c1_win = dataflow.swu %xq_s {kernel_shape = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>} : (!dataflow.stream<4x4x2, 2 x !q.uniform<u8:f32, 0.015625>>) -> !dataflow.stream<4x4x18, 18 x !q.uniform<u8:f32, 0.015625>>
// CHECK-NEXT:  %c1 = dataflow.mvu %c1_win, %c1_w, %b1 {pe = 4 : i64, simd = 18 : i64} : (!dataflow.stream<4x4x18, 18 x !q.uniform<u8:f32, 0.015625>>, tensor<4x18x!q.pot<i4:f32, 0.25>>, tensor<4x!q.uniform<i16:f32, 0.00390625>>) -> !dataflow.stream<4x4x4, 4 x !q.uniform<i20:f32, 0.00390625>>
// CHECK-NEXT:  %r1_thr = q.constant "0x1000000600400100380000090060010034008007001001002600400500B800001900600300740000" : tensor<1x15x!q.uniform<i21:f32, 0.00390625>>
// CHECK-NEXT:  %r1 = dataflow.threshold %c1, %r1_thr : (!dataflow.stream<4x4x4, 4 x !q.uniform<i20:f32, 0.00390625>>, tensor<1x15x!q.uniform<i21:f32, 0.00390625>>) -> !dataflow.stream<4x4x4, 4 x !q.uniform<u4:f32, 0.125>>
// CHECK-NEXT:  %p1 = dataflow.pool %r1 {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, kind = "max", ceil_mode = false} : (!dataflow.stream<4x4x4, 4 x !q.uniform<u4:f32, 0.125>>) -> !dataflow.stream<2x2x4, 4 x !q.uniform<u4:f32, 0.125>>
// CHECK-NEXT:  %p1_1, %p1_2 = dataflow.fork %p1 : (!dataflow.stream<2x2x4, 4 x !q.uniform<u4:f32, 0.125>>) -> (!dataflow.stream<2x2x4, 4 x !q.uniform<u4:f32, 0.125>>, !dataflow.stream<2x2x4, 4 x !q.uniform<u4:f32, 0.125>>)
// CHECK-NEXT:  %c2_w = q.constant "0x7AE013DC13E0E46D" : tensor<4x4x!q.uniform<i4:f32:0, {0.5, 0.25, 0.5, 0.125}>>
// CHECK-NEXT:  %c2 = dataflow.mvu %p1_1, %c2_w {pe = 1 : i64, simd = 4 : i64} : (!dataflow.stream<2x2x4, 4 x !q.uniform<u4:f32, 0.125>>, tensor<4x4x!q.uniform<i4:f32:0, {0.5, 0.25, 0.5, 0.125}>>) -> !dataflow.stream<2x2x4, 1 x !q.uniform<i10:f32:2, {0.0625, 0.03125, 0.0625, 0.015625}>>
// CHECK-NEXT:  %r2 = dataflow.requant %c2 {multiplier = array<i64: 1, 1, 1, 1>, shift = array<i64: 0, 1, 0, 2>} : (!dataflow.stream<2x2x4, 1 x !q.uniform<i10:f32:2, {0.0625, 0.03125, 0.0625, 0.015625}>>) -> !dataflow.stream<2x2x4, 1 x !q.uniform<i8:f32, 0.0625>>
// CHECK-NEXT:  %p1_w1 = dataflow.dwc %p1_2 : (!dataflow.stream<2x2x4, 4 x !q.uniform<u4:f32, 0.125>>) -> !dataflow.stream<2x2x4, 1 x !q.uniform<u4:f32, 0.125>>
// CHECK-NEXT:  %p1_w1_fifo = dataflow.fifo %p1_w1 {depth = 5 : i64} : (!dataflow.stream<2x2x4, 1 x !q.uniform<u4:f32, 0.125>>) -> !dataflow.stream<2x2x4, 1 x !q.uniform<u4:f32, 0.125>>
// CHECK-NEXT:  %a = dataflow.add %p1_w1_fifo, %r2 : (!dataflow.stream<2x2x4, 1 x !q.uniform<u4:f32, 0.125>>, !dataflow.stream<2x2x4, 1 x !q.uniform<i8:f32, 0.0625>>) -> !dataflow.stream<2x2x4, 1 x !q.uniform<i9:f32, 0.0625>>
// CHECK-NEXT:  %r3 = dataflow.requant %a {multiplier = array<i64: 1>, shift = array<i64: 0>} : (!dataflow.stream<2x2x4, 1 x !q.uniform<i9:f32, 0.0625>>) -> !dataflow.stream<2x2x4, 1 x !q.uniform<u8:f32, 0.0625>>
// CHECK-NEXT:  %cl = dataflow.clamp %r3 {min = 0 : i64, max = 200 : i64} : (!dataflow.stream<2x2x4, 1 x !q.uniform<u8:f32, 0.0625>>) -> !dataflow.stream<2x2x4, 1 x !q.uniform<u8:f32, 0.0625>>
// CHECK-NEXT:  %s = dataflow.pool %cl {kernel_shape = array<i64: 2, 2>, strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, kind = "sum", ceil_mode = false} : (!dataflow.stream<2x2x4, 1 x !q.uniform<u8:f32, 0.0625>>) -> !dataflow.stream<1x1x4, 1 x !q.uniform<i11:f32, 0.015625>>
// CHECK-NEXT:  %r4 = dataflow.requant %s {multiplier = array<i64: 1>, shift = array<i64: 3>} : (!dataflow.stream<1x1x4, 1 x !q.uniform<i11:f32, 0.015625>>) -> !dataflow.stream<1x1x4, 1 x !q.uniform<u5:f32, 0.125>>
// CHECK-NEXT:  %t = dataflow.lut %r4 {table = "0x00203F5C768EA3B4C3CFD9E1E8EDF1F4F7F9FAFCFDFDFEFEFFFFFFFFFFFFFFFF"} : (!dataflow.stream<1x1x4, 1 x !q.uniform<u5:f32, 0.125>>) -> !dataflow.stream<1x1x4, 1 x !q.uniform<u8:f32, 0.00390625>>
// CHECK-NEXT:  %f = dataflow.reshape %t : (!dataflow.stream<1x1x4, 1 x !q.uniform<u8:f32, 0.00390625>>) -> !dataflow.stream<4, 1 x !q.uniform<u8:f32, 0.00390625>>
// CHECK-NEXT:  %m_w = q.constant "0x7D4C8DBD2501" : tensor<3x4x!q.mixed<[i2<-1:1> << 3, i8<-127:127>]:f32, 0.0078125, block 1 = "0x2202">>
// CHECK-NEXT:  %m = dataflow.mvu %f, %m_w {pe = 1 : i64, simd = 1 : i64} : (!dataflow.stream<4, 1 x !q.uniform<u8:f32, 0.00390625>>, tensor<3x4x!q.mixed<[i2<-1:1> << 3, i8<-127:127>]:f32, 0.0078125, block 1 = "0x2202">>) -> !dataflow.stream<3, 1 x !q.uniform<i17:f32, 3.0517578125e-05>>
// CHECK-NEXT:  %y = dataflow.requant %m {multiplier = array<i64: 1>, shift = array<i64: 10>} : (!dataflow.stream<3, 1 x !q.uniform<i17:f32, 3.0517578125e-05>>) -> !dataflow.stream<3, 1 x !q.uniform<i8:f32, 0.03125>>
// CHECK-NEXT:  %y_t = dataflow.output %y : (!dataflow.stream<3, 1 x !q.uniform<i8:f32, 0.03125>>) -> tensor<?x3x!q.uniform<i8:f32, 0.03125>>
// CHECK-NEXT:  %yf = q.dequantize %y_t : (tensor<?x3x!q.uniform<i8:f32, 0.03125>>) -> tensor<?x3xf32>
// CHECK-NEXT:  func.return %yf : tensor<?x3xf32>
// CHECK-NEXT:  }

// GENERIC: "dataflow.input"(%xq) : (tensor<?x2x4x4x!q.uniform<u8:f32, 0.015625>>) -> !dataflow.stream<4x4x2, 2 x !q.uniform<u8:f32, 0.015625>>
// GENERIC: "dataflow.mvu"(%c1_win, %c1_w, %b1) <{pe = 4 : i64, simd = 18 : i64}>
// GENERIC: "dataflow.fork"(%p1) : (!dataflow.stream<2x2x4, 4 x !q.uniform<u4:f32, 0.125>>) -> (!dataflow.stream<2x2x4, 4 x !q.uniform<u4:f32, 0.125>>, !dataflow.stream<2x2x4, 4 x !q.uniform<u4:f32, 0.125>>)
// GENERIC: "dataflow.fifo"(%p1_w1) <{depth = 5 : i64}>

func.func @main(%x: tensor<?x2x4x4xf32>) -> tensor<?x3xf32> {
  %xq = q.quantize %x : (tensor<?x2x4x4xf32>) -> tensor<?x2x4x4x!q.uniform<u8:f32, 0.015625>>
  %b1 = q.constant "0xD1FFF7FF8300E900" : tensor<4x!q.uniform<i16:f32, 0.00390625>>
  %xq_s = dataflow.input %xq : (tensor<?x2x4x4x!q.uniform<u8:f32, 0.015625>>) -> !dataflow.stream<4x4x2, 2 x !q.uniform<u8:f32, 0.015625>>
  %c1_w = q.constant "0x5522600B2B7F3E2F1DF1473B55D3EF5AF5113E0B20C9294FAF9E7FA567DA13375205A3B3" : tensor<4x18x!q.pot<i4:f32, 0.25>>
  %c1_win = dataflow.swu %xq_s {kernel_shape = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>} : (!dataflow.stream<4x4x2, 2 x !q.uniform<u8:f32, 0.015625>>) -> !dataflow.stream<4x4x18, 18 x !q.uniform<u8:f32, 0.015625>>
  %c1 = dataflow.mvu %c1_win, %c1_w, %b1 {pe = 4 : i64, simd = 18 : i64} : (!dataflow.stream<4x4x18, 18 x !q.uniform<u8:f32, 0.015625>>, tensor<4x18x!q.pot<i4:f32, 0.25>>, tensor<4x!q.uniform<i16:f32, 0.00390625>>) -> !dataflow.stream<4x4x4, 4 x !q.uniform<i20:f32, 0.00390625>>
  %r1_thr = q.constant "0x1000000600400100380000090060010034008007001001002600400500B800001900600300740000" : tensor<1x15x!q.uniform<i21:f32, 0.00390625>>
  %r1 = dataflow.threshold %c1, %r1_thr : (!dataflow.stream<4x4x4, 4 x !q.uniform<i20:f32, 0.00390625>>, tensor<1x15x!q.uniform<i21:f32, 0.00390625>>) -> !dataflow.stream<4x4x4, 4 x !q.uniform<u4:f32, 0.125>>
  %p1 = dataflow.pool %r1 {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, kind = "max", ceil_mode = false} : (!dataflow.stream<4x4x4, 4 x !q.uniform<u4:f32, 0.125>>) -> !dataflow.stream<2x2x4, 4 x !q.uniform<u4:f32, 0.125>>
  %p1_1, %p1_2 = dataflow.fork %p1 : (!dataflow.stream<2x2x4, 4 x !q.uniform<u4:f32, 0.125>>) -> (!dataflow.stream<2x2x4, 4 x !q.uniform<u4:f32, 0.125>>, !dataflow.stream<2x2x4, 4 x !q.uniform<u4:f32, 0.125>>)
  %c2_w = q.constant "0x7AE013DC13E0E46D" : tensor<4x4x!q.uniform<i4:f32:0, {0.5, 0.25, 0.5, 0.125}>>
  %c2 = dataflow.mvu %p1_1, %c2_w {pe = 1 : i64, simd = 4 : i64} : (!dataflow.stream<2x2x4, 4 x !q.uniform<u4:f32, 0.125>>, tensor<4x4x!q.uniform<i4:f32:0, {0.5, 0.25, 0.5, 0.125}>>) -> !dataflow.stream<2x2x4, 1 x !q.uniform<i10:f32:2, {0.0625, 0.03125, 0.0625, 0.015625}>>
  %r2 = dataflow.requant %c2 {multiplier = array<i64: 1, 1, 1, 1>, shift = array<i64: 0, 1, 0, 2>} : (!dataflow.stream<2x2x4, 1 x !q.uniform<i10:f32:2, {0.0625, 0.03125, 0.0625, 0.015625}>>) -> !dataflow.stream<2x2x4, 1 x !q.uniform<i8:f32, 0.0625>>
  %p1_w1 = dataflow.dwc %p1_2 : (!dataflow.stream<2x2x4, 4 x !q.uniform<u4:f32, 0.125>>) -> !dataflow.stream<2x2x4, 1 x !q.uniform<u4:f32, 0.125>>
  %p1_w1_fifo = dataflow.fifo %p1_w1 {depth = 5 : i64} : (!dataflow.stream<2x2x4, 1 x !q.uniform<u4:f32, 0.125>>) -> !dataflow.stream<2x2x4, 1 x !q.uniform<u4:f32, 0.125>>
  %a = dataflow.add %p1_w1_fifo, %r2 : (!dataflow.stream<2x2x4, 1 x !q.uniform<u4:f32, 0.125>>, !dataflow.stream<2x2x4, 1 x !q.uniform<i8:f32, 0.0625>>) -> !dataflow.stream<2x2x4, 1 x !q.uniform<i9:f32, 0.0625>>
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
