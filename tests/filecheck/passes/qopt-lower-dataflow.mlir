// RUN: qopt-opt %s --split-input-file --pass-pipeline='builtin.module(qopt-lower-dataflow{threshold-bits=4})' | filecheck %s
// RUN: xdsl-opt %s --split-input-file -p 'qopt-lower-dataflow{threshold-bits=4}' | filecheck %s
// RUN: not qopt-opt %S/../inputs/dataflow-grouped-conv.mlir -p qopt-lower-dataflow 2>&1 | filecheck %s --check-prefix=GROUP
// RUN: not qopt-opt %s -p 'qopt-lower-dataflow{threshold-bits=17}' 2>&1 | filecheck %s --check-prefix=OPT

// qopt-lower-dataflow: every q op on activations becomes a unit on streams.
// The input enters through dataflow.input (NCHW -> frames H x W x C); the 3x3
// conv becomes a sliding window (padding 1) and a matrix-vector unit whose
// [4, 18] weight holds w[o, c, i, j] at column (i*3 + j)*2 + c; the requantize
// to u4 (4 bits <= threshold-bits) becomes a threshold unit with the integer
// thresholds t_L = ceil((L*2^5 - 2^4) / 1) = 16, 48, ..., 464 (i21, packed);
// the 1x1 conv needs no window; the residual add gets a fork and, on its
// early operand, a FIFO whose depth comes from the cycle model; the flatten
// is a reshape (wiring); the matmul weight is transposed to [N, K], and its
// q.mixed row map (one format per K) becomes a per-element block map. Units
// start fully folded (lanes, PE, SIMD 1).
// CHECK-LABEL: func.func @main(
// CHECK-NEXT:    %xq = q.quantize %x
// CHECK-NEXT:    %b1 = q.constant "0xD1FFF7FF8300E900"
// CHECK-NEXT:    %xq_s = dataflow.input %xq : (tensor<?x2x4x4x!q.uniform<u8:f32, 0.015625>>) -> !dataflow.stream<4x4x2, 1 x !q.uniform<u8:f32, 0.015625>>
// CHECK-NEXT:    %c1_w = q.constant "0x5522600B2B7F3E2F1DF1473B55D3EF5AF5113E0B20C9294FAF9E7FA567DA13375205A3B3" : tensor<4x18x!q.pot<i4:f32, 0.25>>
// CHECK-NEXT:    %c1_win = dataflow.swu %xq_s {kernel_shape = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>} : (!dataflow.stream<4x4x2, 1 x !q.uniform<u8:f32, 0.015625>>) -> !dataflow.stream<4x4x18, 1 x !q.uniform<u8:f32, 0.015625>>
// CHECK-NEXT:    %c1 = dataflow.mvu %c1_win, %c1_w, %b1 {pe = 1 : i64, simd = 1 : i64} : ({{.*}}) -> !dataflow.stream<4x4x4, 1 x !q.uniform<i20:f32, 0.00390625>>
// CHECK-NEXT:    %r1_thr = q.constant "0x1000000600400100380000090060010034008007001001002600400500B800001900600300740000" : tensor<1x15x!q.uniform<i21:f32, 0.00390625>>
// CHECK-NEXT:    %r1 = dataflow.threshold %c1, %r1_thr : ({{.*}}) -> !dataflow.stream<4x4x4, 1 x !q.uniform<u4:f32, 0.125>>
// CHECK-NEXT:    %p1 = dataflow.pool %r1 {{.*}}kind = "max"{{.*}} : (!dataflow.stream<4x4x4, 1 x !q.uniform<u4:f32, 0.125>>) -> !dataflow.stream<2x2x4, 1 x !q.uniform<u4:f32, 0.125>>
// CHECK-NEXT:    %p1_f0, %p1_f1 = dataflow.fork %p1
// CHECK-NEXT:    %c2_w = q.constant "0x7AE013DC13E0E46D" : tensor<4x4x!q.uniform<i4:f32:0, {0.5, 0.25, 0.5, 0.125}>>
// CHECK-NEXT:    %c2 = dataflow.mvu %p1_f0, %c2_w {pe = 1 : i64, simd = 1 : i64} : ({{.*}}) -> !dataflow.stream<2x2x4, 1 x !q.uniform<i10:f32:2, {0.0625, 0.03125, 0.0625, 0.015625}>>
// CHECK-NEXT:    %r2 = dataflow.requant %c2 {multiplier = array<i64: 1, 1, 1, 1>, shift = array<i64: 0, 1, 0, 2>}
// CHECK-NEXT:    %p1_f1_fifo = dataflow.fifo %p1_f1 {depth = 4 : i64}
// CHECK-NEXT:    %a = dataflow.add %p1_f1_fifo, %r2 : ({{.*}}) -> !dataflow.stream<2x2x4, 1 x !q.uniform<i9:f32, 0.0625>>
// CHECK-NEXT:    %r3 = dataflow.requant %a
// CHECK-NEXT:    %cl = dataflow.clamp %r3 {min = 0 : i64, max = 200 : i64}
// CHECK-NEXT:    %s = dataflow.pool %cl {{.*}}kind = "sum"{{.*}} : ({{.*}}) -> !dataflow.stream<1x1x4, 1 x !q.uniform<i11:f32, 0.015625>>
// CHECK-NEXT:    %r4 = dataflow.requant %s
// CHECK-NEXT:    %t = dataflow.lut %r4 {table = "0x00203F5C768EA3B4C3CFD9E1E8EDF1F4F7F9FAFCFDFDFEFEFFFFFFFFFFFFFFFF"}
// CHECK-NEXT:    %f = dataflow.reshape %t : (!dataflow.stream<1x1x4, 1 x !q.uniform<u8:f32, 0.00390625>>) -> !dataflow.stream<4, 1 x !q.uniform<u8:f32, 0.00390625>>
// CHECK-NEXT:    %m_w = q.constant "0x7D4C8DBD2501" : tensor<3x4x!q.mixed<[i2<-1:1> << 3, i8<-127:127>]:f32, 0.0078125, block 1 = "0x2202">>
// CHECK-NEXT:    %m = dataflow.mvu %f, %m_w
// CHECK-NEXT:    %y = dataflow.requant %m
// CHECK-NEXT:    %y_t = dataflow.output %y : (!dataflow.stream<3, 1 x !q.uniform<i8:f32, 0.03125>>) -> tensor<?x3x!q.uniform<i8:f32, 0.03125>>
// CHECK-NEXT:    %yf = q.dequantize %y_t
// CHECK-NEXT:    func.return %yf
builtin.module {
  func.func @main(%x: tensor<?x2x4x4xf32>) -> tensor<?x3xf32> {
    %xq = q.quantize %x : (tensor<?x2x4x4xf32>) -> tensor<?x2x4x4x!q.uniform<u8:f32, 0.015625>>
    %w1 = q.constant "0x25B0FBFE5D62203712715BF35AF134D55E1FBE90F9EF3F202CA479753A2735A3D63105BA" : tensor<4x2x3x3x!q.pot<i4:f32, 0.25>>
    %b1 = q.constant "0xD1FFF7FF8300E900" : tensor<4x!q.uniform<i16:f32, 0.00390625>>
    %c1 = q.conv2d %xq, %w1, %b1 {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<?x2x4x4x!q.uniform<u8:f32, 0.015625>>, tensor<4x2x3x3x!q.pot<i4:f32, 0.25>>, tensor<4x!q.uniform<i16:f32, 0.00390625>>) -> tensor<?x4x4x4x!q.uniform<i20:f32, 0.00390625>>
    %r1 = q.requantize %c1 {multiplier = array<i64: 1>, shift = array<i64: 5>} : (tensor<?x4x4x4x!q.uniform<i20:f32, 0.00390625>>) -> tensor<?x4x4x4x!q.uniform<u4:f32, 0.125>>
    %p1 = q.maxpool2d %r1 {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, ceil_mode = false} : (tensor<?x4x4x4x!q.uniform<u4:f32, 0.125>>) -> tensor<?x4x2x2x!q.uniform<u4:f32, 0.125>>
    %w2 = q.constant "0x7AE013DC13E0E46D" : tensor<4x4x1x1x!q.uniform<i4:f32:0, {0.5, 0.25, 0.5, 0.125}>>
    %c2 = q.conv2d %p1, %w2 {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<?x4x2x2x!q.uniform<u4:f32, 0.125>>, tensor<4x4x1x1x!q.uniform<i4:f32:0, {0.5, 0.25, 0.5, 0.125}>>) -> tensor<?x4x2x2x!q.uniform<i10:f32:1, {0.0625, 0.03125, 0.0625, 0.015625}>>
    %r2 = q.requantize %c2 {multiplier = array<i64: 1, 1, 1, 1>, shift = array<i64: 0, 1, 0, 2>} : (tensor<?x4x2x2x!q.uniform<i10:f32:1, {0.0625, 0.03125, 0.0625, 0.015625}>>) -> tensor<?x4x2x2x!q.uniform<i8:f32, 0.0625>>
    %a = q.add %p1, %r2 : (tensor<?x4x2x2x!q.uniform<u4:f32, 0.125>>, tensor<?x4x2x2x!q.uniform<i8:f32, 0.0625>>) -> tensor<?x4x2x2x!q.uniform<i9:f32, 0.0625>>
    %r3 = q.requantize %a {multiplier = array<i64: 1>, shift = array<i64: 0>} : (tensor<?x4x2x2x!q.uniform<i9:f32, 0.0625>>) -> tensor<?x4x2x2x!q.uniform<u8:f32, 0.0625>>
    %cl = q.clamp %r3 {min = 0 : i64, max = 200 : i64} : (tensor<?x4x2x2x!q.uniform<u8:f32, 0.0625>>) -> tensor<?x4x2x2x!q.uniform<u8:f32, 0.0625>>
    %s = q.avgpool2d %cl {kernel_shape = array<i64: 2, 2>, strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, ceil_mode = false} : (tensor<?x4x2x2x!q.uniform<u8:f32, 0.0625>>) -> tensor<?x4x1x1x!q.uniform<i11:f32, 0.015625>>
    %r4 = q.requantize %s {multiplier = array<i64: 1>, shift = array<i64: 3>} : (tensor<?x4x1x1x!q.uniform<i11:f32, 0.015625>>) -> tensor<?x4x1x1x!q.uniform<u5:f32, 0.125>>
    %t = q.lut %r4 {table = "0x00203F5C768EA3B4C3CFD9E1E8EDF1F4F7F9FAFCFDFDFEFEFFFFFFFFFFFFFFFF"} : (tensor<?x4x1x1x!q.uniform<u5:f32, 0.125>>) -> tensor<?x4x1x1x!q.uniform<u8:f32, 0.00390625>>
    %f = nn.flatten %t : (tensor<?x4x1x1x!q.uniform<u8:f32, 0.00390625>>) -> tensor<?x4x!q.uniform<u8:f32, 0.00390625>>
    %w3 = q.constant "0xF547A3E5C101" : tensor<4x3x!q.mixed<[i2<-1:1> << 3, i8<-127:127>]:f32, 0.0078125, row = "0x02">>
    %m = q.matmul %f, %w3 : (tensor<?x4x!q.uniform<u8:f32, 0.00390625>>, tensor<4x3x!q.mixed<[i2<-1:1> << 3, i8<-127:127>]:f32, 0.0078125, row = "0x02">>) -> tensor<?x3x!q.uniform<i17:f32, 3.0517578125e-05>>
    %y = q.requantize %m {multiplier = array<i64: 1>, shift = array<i64: 10>} : (tensor<?x3x!q.uniform<i17:f32, 3.0517578125e-05>>) -> tensor<?x3x!q.uniform<i8:f32, 0.03125>>
    %yf = q.dequantize %y : (tensor<?x3x!q.uniform<i8:f32, 0.03125>>) -> tensor<?x3xf32>
    func.return %yf : tensor<?x3xf32>
  }
}

// -----

// A flatten of a streamed image: the stream delivers H, W, C, the q tensor is
// C, H, W, so the matmul weight's columns are permuted. B = [[0, 1], [2, 3],
// ..., [14, 15]] (K = 8, N = 2); W[n, j] = B[(j % 2) * 4 + j / 2, n]:
// rows [0, 8, 2, 10, 4, 12, 6, 14] and [1, 9, 3, 11, 5, 13, 7, 15]. The relu
// is a clamp unit.
// CHECK-LABEL: func.func @main(
// CHECK:         %xq_s = dataflow.input %xq : (tensor<?x2x2x2x!q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<2x2x2, 1 x !q.uniform<u8:f32, 0.5>>
// CHECK-NEXT:    %r = dataflow.clamp %xq_s {min = 0 : i64, max = 255 : i64}
// CHECK-NEXT:    %f = dataflow.reshape %r : (!dataflow.stream<2x2x2, 1 x !q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>
// CHECK-NEXT:    %m_w = q.constant "0x0008020A040C060E0109030B050D070F" : tensor<2x8x!q.uniform<i8:f32, 0.25>>
// CHECK-NEXT:    %m = dataflow.mvu %f, %m_w {pe = 1 : i64, simd = 1 : i64} : ({{.*}}) -> !dataflow.stream<2, 1 x !q.uniform<i19:f32, 0.125>>
// CHECK-NEXT:    %m_t = dataflow.output %m
builtin.module {
  func.func @main(%x: tensor<?x2x2x2xf32>) -> tensor<?x2xf32> {
    %xq = q.quantize %x : (tensor<?x2x2x2xf32>) -> tensor<?x2x2x2x!q.uniform<u8:f32, 0.5>>
    %r = q.relu %xq : (tensor<?x2x2x2x!q.uniform<u8:f32, 0.5>>) -> tensor<?x2x2x2x!q.uniform<u8:f32, 0.5>>
    %f = nn.flatten %r : (tensor<?x2x2x2x!q.uniform<u8:f32, 0.5>>) -> tensor<?x8x!q.uniform<u8:f32, 0.5>>
    %w = q.constant "0x000102030405060708090A0B0C0D0E0F" : tensor<8x2x!q.uniform<i8:f32, 0.25>>
    %m = q.matmul %f, %w : (tensor<?x8x!q.uniform<u8:f32, 0.5>>, tensor<8x2x!q.uniform<i8:f32, 0.25>>) -> tensor<?x2x!q.uniform<i19:f32, 0.125>>
    %y = q.dequantize %m : (tensor<?x2x!q.uniform<i19:f32, 0.125>>) -> tensor<?x2xf32>
    func.return %y : tensor<?x2xf32>
  }
}

// Unsupported ops are listed in one line (exit status 2).
// GROUP: qopt-opt: error: pass 'qopt-lower-dataflow' failed: cannot lower to dataflow: unsupported ops q.conv2d [group > 1] (1: %dw)
// OPT: qopt-opt: error: pass 'qopt-lower-dataflow': option 'threshold-bits' must be in [0, 16], got 17
