// Golden runs of the q ops with qopt-run: the expected levels below were
// worked out by hand from the semantics in docs/dialects/q.md.

// Quantize: uniform rounds half to even and adds the zero point after
// rounding (0.5 -> 0, 1.5 -> 2, then -3), saturating; pot ties go to the
// smaller magnitude (3 -> 2, 6 -> 4, 0.5 -> 0); thresholds count t <= x.
// RUN: qopt-run %s --entry quantize -i '[0.25, 0.75, -0.25, -0.75, 1.25, 100.0]' -i '[3.0, -3.0, 6.0, 0.5, 1.5, 100.0]' -i '[-5.0, -1.0, 0.25, 1.0, 2.0, 9.0]' | filecheck %s --check-prefix=QUANT
// QUANT:      result 0: tensor<6x!q.uniform<i8:f32, 0.5:-3>>
// QUANT-NEXT:   -3, -1, -3, -5, -1, 127
// QUANT-NEXT: result 1: tensor<6x!q.pot<i4:f32, 1.0>>
// QUANT-NEXT:   2, -2, 4, 0, 1, 64
// QUANT-NEXT: result 2: tensor<6x!q.thresholds<u2:f32, 0.5:1, [-1.0, 0.25, 2.0]>>
// QUANT-NEXT:   0, 1, 2, 2, 3, 3
// QUANT-NEXT: result 3: tensor<6xf32>
// QUANT-NEXT:   -0.500000, 0.000000, 0.500000, 0.500000, 1.000000, 1.000000
func.func @quantize(%x: tensor<6xf32>, %y: tensor<6xf32>, %z: tensor<6xf32>) -> (tensor<6x!q.uniform<i8:f32, 0.5:-3>>, tensor<6x!q.pot<i4:f32, 1.0>>, tensor<6x!q.thresholds<u2:f32, 0.5:1, [-1.0, 0.25, 2.0]>>, tensor<6xf32>) {
  %a = q.quantize %x : (tensor<6xf32>) -> tensor<6x!q.uniform<i8:f32, 0.5:-3>>
  %b = q.quantize %y : (tensor<6xf32>) -> tensor<6x!q.pot<i4:f32, 1.0>>
  %c = q.quantize %z : (tensor<6xf32>) -> tensor<6x!q.thresholds<u2:f32, 0.5:1, [-1.0, 0.25, 2.0]>>
  %d = q.dequantize %c : (tensor<6x!q.thresholds<u2:f32, 0.5:1, [-1.0, 0.25, 2.0]>>) -> tensor<6xf32>
  func.return %a, %b, %c, %d : tensor<6x!q.uniform<i8:f32, 0.5:-3>>, tensor<6x!q.pot<i4:f32, 1.0>>, tensor<6x!q.thresholds<u2:f32, 0.5:1, [-1.0, 0.25, 2.0]>>, tensor<6xf32>
}

// Packed constants decode to their levels: spot 2 x i3 (3 = 2 + 1, -5 = -4 - 1)
// and a mixed row map (row 0 in i2 << 2, row 1 in i8).
// RUN: qopt-run %s --entry constants | filecheck %s --check-prefix=CONST
// CONST:      result 0: tensor<4x!q.spot<2 x i3:f32, 0.25>>
// CONST-NEXT:   3, -3, 8, -5
// CONST-NEXT: result 1: tensor<2x3x!q.mixed<[i2 << 2, i8]:f32, 0.1, row = "0x02">>
// CONST-NEXT:   -8, 4, 0
// CONST-NEXT:   -100, 127, 5
func.func @constants() -> (tensor<4x!q.spot<2 x i3:f32, 0.25>>, tensor<2x3x!q.mixed<[i2 << 2, i8]:f32, 0.1, row = "0x02">>) {
  %s = q.constant "0x8ABBBD" : tensor<4x!q.spot<2 x i3:f32, 0.25>>
  %m = q.constant "0x06E75F01" : tensor<2x3x!q.mixed<[i2 << 2, i8]:f32, 0.1, row = "0x02">>
  func.return %s, %m : tensor<4x!q.spot<2 x i3:f32, 0.25>>, tensor<2x3x!q.mixed<[i2 << 2, i8]:f32, 0.1, row = "0x02">>
}

// Convolution with pot weights [[1, 2], [4, -1]] and [[0, -2], [1, 1]] on
// x = 0..17: out[0, 0] = (0 + 2 + 12 - 4) + (0 - 20 + 12 + 13) = 15.
// RUN: qopt-run %s --entry conv -i '[[[[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[9, 10, 11], [12, 13, 14], [15, 16, 17]]]]' | filecheck %s --check-prefix=CONV
// CONV:      result 0: tensor<1x1x2x2x!q.uniform<i18:f32, 0.5>>
// CONV-NEXT:   15, 21
// CONV-NEXT:   33, 39
func.func @conv(%x: tensor<1x2x3x3x!q.uniform<u8:f32, 1.0>>) -> tensor<1x1x2x2x!q.uniform<i18:f32, 0.5>> {
  %w = q.constant "0x2193A011" : tensor<1x2x2x2x!q.pot<i4:f32, 0.5>>
  %y = q.conv2d %x, %w : (tensor<1x2x3x3x!q.uniform<u8:f32, 1.0>>, tensor<1x2x2x2x!q.pot<i4:f32, 0.5>>) -> tensor<1x1x2x2x!q.uniform<i18:f32, 0.5>>
  func.return %y : tensor<1x1x2x2x!q.uniform<i18:f32, 0.5>>
}

// Matmul with a zero point and a bias: (a - 1) @ w + b with
// w = [[1, -2], [3, 0], [-8, 7]], b = [100, -7].
// RUN: qopt-run %s --entry matmul -i '[[1, 2, 3], [0, 1, 1]]' | filecheck %s --check-prefix=MATMUL
// MATMUL:      result 0: tensor<2x2x!q.uniform<i13:f32, 0.25>>
// MATMUL-NEXT:   87, 7
// MATMUL-NEXT:   99, -5
func.func @matmul(%a: tensor<2x3x!q.uniform<u4:f32, 0.5:1>>) -> tensor<2x2x!q.uniform<i13:f32, 0.25>> {
  %w = q.constant "0xE10378" : tensor<3x2x!q.uniform<i4:f32, 0.5>>
  %b = q.constant "0x6490FF" : tensor<2x!q.uniform<i12:f32, 0.25>>
  %y = q.matmul %a, %w, %b : (tensor<2x3x!q.uniform<u4:f32, 0.5:1>>, tensor<3x2x!q.uniform<i4:f32, 0.5>>, tensor<2x!q.uniform<i12:f32, 0.25>>) -> tensor<2x2x!q.uniform<i13:f32, 0.25>>
  func.return %y : tensor<2x2x!q.uniform<i13:f32, 0.25>>
}

// Requantize by 1/4 (multiplier 1, shift 2) rounds half up: -2.5 -> -2,
// 2.5 -> 3; then saturates. A zero point on the output is added after.
// RUN: qopt-run %s --entry requantize -i '[-10, -6, -2, 2, 6, 10, 1000, -1000]' | filecheck %s --check-prefix=REQ
// REQ:      result 0: tensor<8x!q.uniform<i8:f32, 4.0>>
// REQ-NEXT:   -2, -1, 0, 1, 2, 3, 127, -128
// REQ-NEXT: result 1: tensor<8x!q.uniform<u8:f32, 4.0:10>>
// REQ-NEXT:   8, 9, 10, 11, 12, 13, 255, 0
func.func @requantize(%x: tensor<8x!q.uniform<i16:f32, 1.0>>) -> (tensor<8x!q.uniform<i8:f32, 4.0>>, tensor<8x!q.uniform<u8:f32, 4.0:10>>) {
  %y = q.requantize %x {multiplier = array<i64: 1>, shift = array<i64: 2>} : (tensor<8x!q.uniform<i16:f32, 1.0>>) -> tensor<8x!q.uniform<i8:f32, 4.0>>
  %z = q.requantize %x {multiplier = array<i64: 1>, shift = array<i64: 2>} : (tensor<8x!q.uniform<i16:f32, 1.0>>) -> tensor<8x!q.uniform<u8:f32, 4.0:10>>
  func.return %y, %z : tensor<8x!q.uniform<i8:f32, 4.0>>, tensor<8x!q.uniform<u8:f32, 4.0:10>>
}

// Add at the finer scale: ((a - 100) << 2) + (b + 7); relu and clamp keep the type.
// RUN: qopt-run %s --entry elementwise -i '[100, 110, 0]' -i '[-7, 1, 127]' | filecheck %s --check-prefix=ELEM
// ELEM:      result 0: tensor<3x!q.uniform<i11:f32, 0.125>>
// ELEM-NEXT:   0, 48, -266
// ELEM-NEXT: result 1: tensor<3x!q.uniform<u8:f32, 0.5:100>>
// ELEM-NEXT:   100, 110, 100
// ELEM-NEXT: result 2: tensor<3x!q.uniform<u8:f32, 0.5:100>>
// ELEM-NEXT:   100, 105, 90
func.func @elementwise(%a: tensor<3x!q.uniform<u8:f32, 0.5:100>>, %b: tensor<3x!q.uniform<i8:f32, 0.125:-7>>) -> (tensor<3x!q.uniform<i11:f32, 0.125>>, tensor<3x!q.uniform<u8:f32, 0.5:100>>, tensor<3x!q.uniform<u8:f32, 0.5:100>>) {
  %s = q.add %a, %b : (tensor<3x!q.uniform<u8:f32, 0.5:100>>, tensor<3x!q.uniform<i8:f32, 0.125:-7>>) -> tensor<3x!q.uniform<i11:f32, 0.125>>
  %r = q.relu %a : (tensor<3x!q.uniform<u8:f32, 0.5:100>>) -> tensor<3x!q.uniform<u8:f32, 0.5:100>>
  %c = q.clamp %a {min = 90 : i64, max = 105 : i64} : (tensor<3x!q.uniform<u8:f32, 0.5:100>>) -> tensor<3x!q.uniform<u8:f32, 0.5:100>>
  func.return %s, %r, %c : tensor<3x!q.uniform<i11:f32, 0.125>>, tensor<3x!q.uniform<u8:f32, 0.5:100>>, tensor<3x!q.uniform<u8:f32, 0.5:100>>
}

// Pools on a 3x3 input: max over 2x2 windows (stride 1), ceil-mode max over
// 2x2 stride-2 windows (the last ones are partial), and 3x3 window sums of
// x - zx with one pixel of padding (padding adds 0).
// RUN: qopt-run %s --entry pools -i '[[[[1, -2, 3], [4, 5, -6], [-7, 8, 9]]]]' | filecheck %s --check-prefix=POOL
// POOL:      result 0: tensor<1x1x2x2x!q.uniform<i8:f32, 0.5:-1>>
// POOL-NEXT:   5, 5
// POOL-NEXT:   8, 9
// POOL-NEXT: result 1: tensor<1x1x2x2x!q.uniform<i8:f32, 0.5:-1>>
// POOL-NEXT:   5, 3
// POOL-NEXT:   8, 9
// POOL-NEXT: result 2: tensor<1x1x1x1x!q.uniform<i12:f32, 0.05555555555555555>>
// POOL-NEXT:   24
func.func @pools(%x: tensor<1x1x3x3x!q.uniform<i8:f32, 0.5:-1>>) -> (tensor<1x1x2x2x!q.uniform<i8:f32, 0.5:-1>>, tensor<1x1x2x2x!q.uniform<i8:f32, 0.5:-1>>, tensor<1x1x1x1x!q.uniform<i12:f32, 0.05555555555555555>>) {
  %m = q.maxpool2d %x {kernel_shape = array<i64: 2, 2>} : (tensor<1x1x3x3x!q.uniform<i8:f32, 0.5:-1>>) -> tensor<1x1x2x2x!q.uniform<i8:f32, 0.5:-1>>
  %c = q.maxpool2d %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, ceil_mode = true} : (tensor<1x1x3x3x!q.uniform<i8:f32, 0.5:-1>>) -> tensor<1x1x2x2x!q.uniform<i8:f32, 0.5:-1>>
  %a = q.avgpool2d %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 3, 3>} : (tensor<1x1x3x3x!q.uniform<i8:f32, 0.5:-1>>) -> tensor<1x1x1x1x!q.uniform<i12:f32, 0.05555555555555555>>
  func.return %m, %c, %a : tensor<1x1x2x2x!q.uniform<i8:f32, 0.5:-1>>, tensor<1x1x2x2x!q.uniform<i8:f32, 0.5:-1>>, tensor<1x1x1x1x!q.uniform<i12:f32, 0.05555555555555555>>
}

// A table of squares, indexed by level - min level.
// RUN: qopt-run %s --entry lut -i '[3, 0, 2, 1]' | filecheck %s --check-prefix=LUT
// LUT:      result 0: tensor<4x!q.uniform<u4:f32, 1.0>>
// LUT-NEXT:   9, 0, 4, 1
func.func @lut(%x: tensor<4x!q.uniform<u2:f32, 1.0>>) -> tensor<4x!q.uniform<u4:f32, 1.0>> {
  %y = q.lut %x {table = "0x1094"} : (tensor<4x!q.uniform<u2:f32, 1.0>>) -> tensor<4x!q.uniform<u4:f32, 1.0>>
  func.return %y : tensor<4x!q.uniform<u4:f32, 1.0>>
}

// q.threshold compares integers: with scale 0.1 and zero point 3 the real
// thresholds [0.0, 0.3, 1.0, 1.0, 30.0] are the levels [3, 6, 13, 13, 256]
// (30.0 is above every u8 level: never reached). Codes = #{j : x >= T_j}.
// Binary weights decode to -1 / +1 (0x05 = bits 1,0,1,0 LSB first).
// RUN: qopt-run %s --entry threshold -i '[0, 2, 3, 5, 6, 12, 13, 255]' | filecheck %s --check-prefix=THR
// THR:      result 0: tensor<8x!q.thresholds<u3:f32, 0.25, [0.0, 0.3, 1.0, 1.0, 30.0]>>
// THR-NEXT:   0, 0, 1, 1, 2, 2, 4, 4
// THR-NEXT: result 1: tensor<4x!q.binary<f32, 0.5>>
// THR-NEXT:   1, -1, 1, -1
func.func @threshold(%y: tensor<8x!q.uniform<u8:f32, 0.1:3>>) -> (tensor<8x!q.thresholds<u3:f32, 0.25, [0.0, 0.3, 1.0, 1.0, 30.0]>>, tensor<4x!q.binary<f32, 0.5>>) {
  %t = q.threshold %y {thresholds = array<i64: 3, 6, 13, 13, 256>} : (tensor<8x!q.uniform<u8:f32, 0.1:3>>) -> tensor<8x!q.thresholds<u3:f32, 0.25, [0.0, 0.3, 1.0, 1.0, 30.0]>>
  %b = q.constant "0x05" : tensor<4x!q.binary<f32, 0.5>>
  func.return %t, %b : tensor<8x!q.thresholds<u3:f32, 0.25, [0.0, 0.3, 1.0, 1.0, 30.0]>>, tensor<4x!q.binary<f32, 0.5>>
}
