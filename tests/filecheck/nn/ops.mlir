// RUN: xdsl-opt %s | xdsl-opt | filecheck %s
// RUN: xdsl-opt %s --print-op-generic | xdsl-opt | filecheck %s

// Every `nn` op in its custom format: the printed form equals the input, and
// it survives a round trip through the generic format. Batches are dynamic
// (`?`) throughout; optional properties appear only where they are given.

func.func @constant() -> (tensor<2x2xf32>, tensor<3xi64>) {
  %0 = nn.constant dense<[[1.000000e+00, -2.500000e-01], [0.000000e+00, 3.000000e+00]]> : tensor<2x2xf32>
  %1 = nn.constant dense<[0, -1, 2]> : tensor<3xi64>
  func.return %0, %1 : tensor<2x2xf32>, tensor<3xi64>
}
// CHECK-LABEL: func.func @constant(
// CHECK-SAME: ) -> (tensor<2x2xf32>, tensor<3xi64>) {
// CHECK-NEXT: %0 = nn.constant dense<{{\[\[}}1.000000e+00, -2.500000e-01], [0.000000e+00, 3.000000e+00{{\]\]}}> : tensor<2x2xf32>
// CHECK-NEXT: %1 = nn.constant dense<[0, -1, 2]> : tensor<3xi64>
// CHECK-NEXT: func.return %0, %1 : tensor<2x2xf32>, tensor<3xi64>
// CHECK-NEXT: }

func.func @linear(%x: tensor<?x3x32x32xf32>, %w: tensor<16x3x3x3xf32>, %b: tensor<16xf32>, %dw: tensor<16x1x3x3xf32>, %a: tensor<?x64xf32>, %fw: tensor<10x64xf32>, %fb: tensor<10xf32>) -> (tensor<?x16x16x16xf32>, tensor<?x10xf32>) {
  %0 = nn.conv2d %x, %w, %b {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<?x3x32x32xf32>, tensor<16x3x3x3xf32>, tensor<16xf32>) -> tensor<?x16x16x16xf32>
  %1 = nn.conv2d %0, %dw {pads = array<i64: 0, 0, 2, 2>, group = 16 : i64} : (tensor<?x16x16x16xf32>, tensor<16x1x3x3xf32>) -> tensor<?x16x16x16xf32>
  %2 = nn.gemm %a, %fw, %fb {alpha = 5.000000e-01 : f32, beta = 2.000000e+00 : f32, transB = true} : (tensor<?x64xf32>, tensor<10x64xf32>, tensor<10xf32>) -> tensor<?x10xf32>
  func.return %1, %2 : tensor<?x16x16x16xf32>, tensor<?x10xf32>
}
// CHECK-LABEL: func.func @linear(
// CHECK-SAME: %x: tensor<?x3x32x32xf32>, %w: tensor<16x3x3x3xf32>, %b: tensor<16xf32>, %dw: tensor<16x1x3x3xf32>, %a: tensor<?x64xf32>, %fw: tensor<10x64xf32>, %fb: tensor<10xf32>) -> (tensor<?x16x16x16xf32>, tensor<?x10xf32>) {
// CHECK-NEXT: %0 = nn.conv2d %x, %w, %b {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<?x3x32x32xf32>, tensor<16x3x3x3xf32>, tensor<16xf32>) -> tensor<?x16x16x16xf32>
// CHECK-NEXT: %1 = nn.conv2d %0, %dw {pads = array<i64: 0, 0, 2, 2>, group = 16 : i64} : (tensor<?x16x16x16xf32>, tensor<16x1x3x3xf32>) -> tensor<?x16x16x16xf32>
// CHECK-NEXT: %2 = nn.gemm %a, %fw, %fb {alpha = 5.000000e-01 : f32, beta = 2.000000e+00 : f32, transB = true} : (tensor<?x64xf32>, tensor<10x64xf32>, tensor<10xf32>) -> tensor<?x10xf32>
// CHECK-NEXT: func.return %1, %2 : tensor<?x16x16x16xf32>, tensor<?x10xf32>
// CHECK-NEXT: }

func.func @matmul(%a: tensor<?x8x64xf32>, %b: tensor<64x10xf32>, %v: tensor<64xf32>, %c: tensor<2x1x5x64xf32>, %d: tensor<3x64x7xf32>) -> (tensor<?x8x10xf32>, tensor<10xf32>, tensor<?x8xf32>, tensor<f32>, tensor<2x3x5x7xf32>) {
  %0 = nn.matmul %a, %b : (tensor<?x8x64xf32>, tensor<64x10xf32>) -> tensor<?x8x10xf32>
  %1 = nn.matmul %v, %b : (tensor<64xf32>, tensor<64x10xf32>) -> tensor<10xf32>
  %2 = nn.matmul %a, %v : (tensor<?x8x64xf32>, tensor<64xf32>) -> tensor<?x8xf32>
  %3 = nn.matmul %v, %v : (tensor<64xf32>, tensor<64xf32>) -> tensor<f32>
  %4 = nn.matmul %c, %d : (tensor<2x1x5x64xf32>, tensor<3x64x7xf32>) -> tensor<2x3x5x7xf32>
  func.return %0, %1, %2, %3, %4 : tensor<?x8x10xf32>, tensor<10xf32>, tensor<?x8xf32>, tensor<f32>, tensor<2x3x5x7xf32>
}
// CHECK-LABEL: func.func @matmul(
// CHECK-SAME: %a: tensor<?x8x64xf32>, %b: tensor<64x10xf32>, %v: tensor<64xf32>, %c: tensor<2x1x5x64xf32>, %d: tensor<3x64x7xf32>) -> (tensor<?x8x10xf32>, tensor<10xf32>, tensor<?x8xf32>, tensor<f32>, tensor<2x3x5x7xf32>) {
// CHECK-NEXT: %0 = nn.matmul %a, %b : (tensor<?x8x64xf32>, tensor<64x10xf32>) -> tensor<?x8x10xf32>
// CHECK-NEXT: %1 = nn.matmul %v, %b : (tensor<64xf32>, tensor<64x10xf32>) -> tensor<10xf32>
// CHECK-NEXT: %2 = nn.matmul %a, %v : (tensor<?x8x64xf32>, tensor<64xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %3 = nn.matmul %v, %v : (tensor<64xf32>, tensor<64xf32>) -> tensor<f32>
// CHECK-NEXT: %4 = nn.matmul %c, %d : (tensor<2x1x5x64xf32>, tensor<3x64x7xf32>) -> tensor<2x3x5x7xf32>
// CHECK-NEXT: func.return %0, %1, %2, %3, %4 : tensor<?x8x10xf32>, tensor<10xf32>, tensor<?x8xf32>, tensor<f32>, tensor<2x3x5x7xf32>
// CHECK-NEXT: }

func.func @normalisation(%x: tensor<?x16x8x8xf32>, %c: tensor<16xf32>, %t: tensor<?x10x64xf32>, %g: tensor<64xf32>, %g2: tensor<10x64xf32>) -> (tensor<?x16x8x8xf32>, tensor<?x10x64xf32>, tensor<?x10x64xf32>, tensor<?x10x64xf32>, tensor<?x10x64xf32>) {
  %0 = nn.batchnorm %x, %c, %c, %c, %c {epsilon = 1.000000e-03 : f32} : (tensor<?x16x8x8xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<?x16x8x8xf32>
  %1 = nn.layernorm %t, %g, %g : (tensor<?x10x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x10x64xf32>
  %2 = nn.layernorm %t, %g2 {axis = -2 : i64, epsilon = 1.000000e-06 : f32} : (tensor<?x10x64xf32>, tensor<10x64xf32>) -> tensor<?x10x64xf32>
  %3 = nn.softmax %t : (tensor<?x10x64xf32>) -> tensor<?x10x64xf32>
  %4 = nn.softmax %t {axis = 1 : i64} : (tensor<?x10x64xf32>) -> tensor<?x10x64xf32>
  func.return %0, %1, %2, %3, %4 : tensor<?x16x8x8xf32>, tensor<?x10x64xf32>, tensor<?x10x64xf32>, tensor<?x10x64xf32>, tensor<?x10x64xf32>
}
// CHECK-LABEL: func.func @normalisation(
// CHECK-SAME: %x: tensor<?x16x8x8xf32>, %c: tensor<16xf32>, %t: tensor<?x10x64xf32>, %g: tensor<64xf32>, %g2: tensor<10x64xf32>) -> (tensor<?x16x8x8xf32>, tensor<?x10x64xf32>, tensor<?x10x64xf32>, tensor<?x10x64xf32>, tensor<?x10x64xf32>) {
// CHECK-NEXT: %0 = nn.batchnorm %x, %c, %c, %c, %c {epsilon = 1.000000e-03 : f32} : (tensor<?x16x8x8xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<?x16x8x8xf32>
// CHECK-NEXT: %1 = nn.layernorm %t, %g, %g : (tensor<?x10x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x10x64xf32>
// CHECK-NEXT: %2 = nn.layernorm %t, %g2 {axis = -2 : i64, epsilon = 1.000000e-06 : f32} : (tensor<?x10x64xf32>, tensor<10x64xf32>) -> tensor<?x10x64xf32>
// CHECK-NEXT: %3 = nn.softmax %t : (tensor<?x10x64xf32>) -> tensor<?x10x64xf32>
// CHECK-NEXT: %4 = nn.softmax %t {axis = 1 : i64} : (tensor<?x10x64xf32>) -> tensor<?x10x64xf32>
// CHECK-NEXT: func.return %0, %1, %2, %3, %4 : tensor<?x16x8x8xf32>, tensor<?x10x64xf32>, tensor<?x10x64xf32>, tensor<?x10x64xf32>, tensor<?x10x64xf32>
// CHECK-NEXT: }

func.func @binary(%a: tensor<?x3x4xf32>, %b: tensor<4xf32>, %c: tensor<3x1xf32>, %s: tensor<f32>) -> tensor<?x3x4xf32> {
  %0 = nn.add %a, %b : (tensor<?x3x4xf32>, tensor<4xf32>) -> tensor<?x3x4xf32>
  %1 = nn.sub %0, %c : (tensor<?x3x4xf32>, tensor<3x1xf32>) -> tensor<?x3x4xf32>
  %2 = nn.mul %1, %s : (tensor<?x3x4xf32>, tensor<f32>) -> tensor<?x3x4xf32>
  %3 = nn.div %2, %b : (tensor<?x3x4xf32>, tensor<4xf32>) -> tensor<?x3x4xf32>
  %4 = nn.pow %3, %c : (tensor<?x3x4xf32>, tensor<3x1xf32>) -> tensor<?x3x4xf32>
  %5 = nn.add %c, %b : (tensor<3x1xf32>, tensor<4xf32>) -> tensor<3x4xf32>
  func.return %4 : tensor<?x3x4xf32>
}
// CHECK-LABEL: func.func @binary(
// CHECK-SAME: %a: tensor<?x3x4xf32>, %b: tensor<4xf32>, %c: tensor<3x1xf32>, %s: tensor<f32>) -> tensor<?x3x4xf32> {
// CHECK-NEXT: %0 = nn.add %a, %b : (tensor<?x3x4xf32>, tensor<4xf32>) -> tensor<?x3x4xf32>
// CHECK-NEXT: %1 = nn.sub %0, %c : (tensor<?x3x4xf32>, tensor<3x1xf32>) -> tensor<?x3x4xf32>
// CHECK-NEXT: %2 = nn.mul %1, %s : (tensor<?x3x4xf32>, tensor<f32>) -> tensor<?x3x4xf32>
// CHECK-NEXT: %3 = nn.div %2, %b : (tensor<?x3x4xf32>, tensor<4xf32>) -> tensor<?x3x4xf32>
// CHECK-NEXT: %4 = nn.pow %3, %c : (tensor<?x3x4xf32>, tensor<3x1xf32>) -> tensor<?x3x4xf32>
// CHECK-NEXT: %5 = nn.add %c, %b : (tensor<3x1xf32>, tensor<4xf32>) -> tensor<3x4xf32>
// CHECK-NEXT: func.return %4 : tensor<?x3x4xf32>
// CHECK-NEXT: }

func.func @unary(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = nn.relu %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %1 = nn.leaky_relu %0 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %2 = nn.leaky_relu %1 {alpha = 2.000000e-01 : f32} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %3 = nn.clip %2 {min = 0.000000e+00 : f32, max = 6.000000e+00 : f32} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %4 = nn.clip %3 {max = 1.000000e+00 : f32} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %5 = nn.sigmoid %4 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %6 = nn.tanh %5 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %7 = nn.gelu %6 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %8 = nn.gelu %7 {approximate = "tanh"} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %9 = nn.erf %8 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %10 = nn.exp %9 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %11 = nn.sqrt %10 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  func.return %11 : tensor<?x8xf32>
}
// CHECK-LABEL: func.func @unary(
// CHECK-SAME: %x: tensor<?x8xf32>) -> tensor<?x8xf32> {
// CHECK-NEXT: %0 = nn.relu %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %1 = nn.leaky_relu %0 : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %2 = nn.leaky_relu %1 {alpha = 2.000000e-01 : f32} : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %3 = nn.clip %2 {min = 0.000000e+00 : f32, max = 6.000000e+00 : f32} : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %4 = nn.clip %3 {max = 1.000000e+00 : f32} : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %5 = nn.sigmoid %4 : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %6 = nn.tanh %5 : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %7 = nn.gelu %6 : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %8 = nn.gelu %7 {approximate = "tanh"} : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %9 = nn.erf %8 : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %10 = nn.exp %9 : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %11 = nn.sqrt %10 : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: func.return %11 : tensor<?x8xf32>
// CHECK-NEXT: }

func.func @pooling(%x: tensor<?x16x9x9xf32>) -> (tensor<?x16x5x5xf32>, tensor<?x16x4x4xf32>, tensor<?x16x5x5xf32>, tensor<?x16x4x4xf32>, tensor<?x16x1x1xf32>) {
  %0 = nn.maxpool2d %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, ceil_mode = true} : (tensor<?x16x9x9xf32>) -> tensor<?x16x5x5xf32>
  %1 = nn.maxpool2d %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, dilations = array<i64: 2, 2>} : (tensor<?x16x9x9xf32>) -> tensor<?x16x4x4xf32>
  %2 = nn.avgpool2d %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 0, 0, 1>, ceil_mode = true, count_include_pad = true} : (tensor<?x16x9x9xf32>) -> tensor<?x16x5x5xf32>
  %3 = nn.avgpool2d %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<?x16x9x9xf32>) -> tensor<?x16x4x4xf32>
  %4 = nn.global_avgpool %x : (tensor<?x16x9x9xf32>) -> tensor<?x16x1x1xf32>
  func.return %0, %1, %2, %3, %4 : tensor<?x16x5x5xf32>, tensor<?x16x4x4xf32>, tensor<?x16x5x5xf32>, tensor<?x16x4x4xf32>, tensor<?x16x1x1xf32>
}
// CHECK-LABEL: func.func @pooling(
// CHECK-SAME: %x: tensor<?x16x9x9xf32>) -> (tensor<?x16x5x5xf32>, tensor<?x16x4x4xf32>, tensor<?x16x5x5xf32>, tensor<?x16x4x4xf32>, tensor<?x16x1x1xf32>) {
// CHECK-NEXT: %0 = nn.maxpool2d %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, ceil_mode = true} : (tensor<?x16x9x9xf32>) -> tensor<?x16x5x5xf32>
// CHECK-NEXT: %1 = nn.maxpool2d %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, dilations = array<i64: 2, 2>} : (tensor<?x16x9x9xf32>) -> tensor<?x16x4x4xf32>
// CHECK-NEXT: %2 = nn.avgpool2d %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 0, 0, 1>, ceil_mode = true, count_include_pad = true} : (tensor<?x16x9x9xf32>) -> tensor<?x16x5x5xf32>
// CHECK-NEXT: %3 = nn.avgpool2d %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<?x16x9x9xf32>) -> tensor<?x16x4x4xf32>
// CHECK-NEXT: %4 = nn.global_avgpool %x : (tensor<?x16x9x9xf32>) -> tensor<?x16x1x1xf32>
// CHECK-NEXT: func.return %0, %1, %2, %3, %4 : tensor<?x16x5x5xf32>, tensor<?x16x4x4xf32>, tensor<?x16x5x5xf32>, tensor<?x16x4x4xf32>, tensor<?x16x1x1xf32>
// CHECK-NEXT: }

func.func @layout(%x: tensor<?x6x4x4xf32>, %i: tensor<2x3xi64>, %j: tensor<i32>) -> (tensor<?x96xf32>, tensor<?x4x4x6xf32>, tensor<?x6x2x8xf32>) {
  %0 = nn.flatten %x : (tensor<?x6x4x4xf32>) -> tensor<?x96xf32>
  %1 = nn.flatten %x {axis = -1 : i64} : (tensor<?x6x4x4xf32>) -> tensor<?x4xf32>
  %2 = nn.flatten %x {axis = 0 : i64} : (tensor<?x6x4x4xf32>) -> tensor<1x?xf32>
  %3 = nn.reshape %x : (tensor<?x6x4x4xf32>) -> tensor<?x6x2x8xf32>
  %4 = nn.transpose %x {perm = array<i64: 0, 2, 3, 1>} : (tensor<?x6x4x4xf32>) -> tensor<?x4x4x6xf32>
  %5 = nn.concat %x, %x, %x {axis = 1 : i64} : (tensor<?x6x4x4xf32>, tensor<?x6x4x4xf32>, tensor<?x6x4x4xf32>) -> tensor<?x18x4x4xf32>
  %6 = nn.concat %x {axis = -1 : i64} : (tensor<?x6x4x4xf32>) -> tensor<?x6x4x4xf32>
  %7, %8, %9 = nn.split %x {axis = 1 : i64} : (tensor<?x6x4x4xf32>) -> (tensor<?x1x4x4xf32>, tensor<?x2x4x4xf32>, tensor<?x3x4x4xf32>)
  %10 = nn.split %x {axis = -1 : i64} : (tensor<?x6x4x4xf32>) -> tensor<?x6x4x4xf32>
  %11 = nn.slice %x {starts = array<i64: 1, 0>, ends = array<i64: 5, 9223372036854775807>, axes = array<i64: 1, -1>, steps = array<i64: 2, 3>} : (tensor<?x6x4x4xf32>) -> tensor<?x2x4x2xf32>
  %12 = nn.slice %x {starts = array<i64: -1>, ends = array<i64: -9223372036854775808>, axes = array<i64: 1>, steps = array<i64: -1>} : (tensor<?x6x4x4xf32>) -> tensor<?x6x4x4xf32>
  %13 = nn.slice %x {starts = array<i64: 0, 1>, ends = array<i64: 1, 3>} : (tensor<?x6x4x4xf32>) -> tensor<?x2x4x4xf32>
  %14 = nn.gather %x, %i {axis = 1 : i64} : (tensor<?x6x4x4xf32>, tensor<2x3xi64>) -> tensor<?x2x3x4x4xf32>
  %15 = nn.gather %x, %j {axis = -1 : i64} : (tensor<?x6x4x4xf32>, tensor<i32>) -> tensor<?x6x4xf32>
  %16 = nn.gather %x, %i : (tensor<?x6x4x4xf32>, tensor<2x3xi64>) -> tensor<2x3x6x4x4xf32>
  func.return %0, %4, %3 : tensor<?x96xf32>, tensor<?x4x4x6xf32>, tensor<?x6x2x8xf32>
}
// CHECK-LABEL: func.func @layout(
// CHECK-SAME: %x: tensor<?x6x4x4xf32>, %i: tensor<2x3xi64>, %j: tensor<i32>) -> (tensor<?x96xf32>, tensor<?x4x4x6xf32>, tensor<?x6x2x8xf32>) {
// CHECK-NEXT: %0 = nn.flatten %x : (tensor<?x6x4x4xf32>) -> tensor<?x96xf32>
// CHECK-NEXT: %1 = nn.flatten %x {axis = -1 : i64} : (tensor<?x6x4x4xf32>) -> tensor<?x4xf32>
// CHECK-NEXT: %2 = nn.flatten %x {axis = 0 : i64} : (tensor<?x6x4x4xf32>) -> tensor<1x?xf32>
// CHECK-NEXT: %3 = nn.reshape %x : (tensor<?x6x4x4xf32>) -> tensor<?x6x2x8xf32>
// CHECK-NEXT: %4 = nn.transpose %x {perm = array<i64: 0, 2, 3, 1>} : (tensor<?x6x4x4xf32>) -> tensor<?x4x4x6xf32>
// CHECK-NEXT: %5 = nn.concat %x, %x, %x {axis = 1 : i64} : (tensor<?x6x4x4xf32>, tensor<?x6x4x4xf32>, tensor<?x6x4x4xf32>) -> tensor<?x18x4x4xf32>
// CHECK-NEXT: %6 = nn.concat %x {axis = -1 : i64} : (tensor<?x6x4x4xf32>) -> tensor<?x6x4x4xf32>
// CHECK-NEXT: %7, %8, %9 = nn.split %x {axis = 1 : i64} : (tensor<?x6x4x4xf32>) -> (tensor<?x1x4x4xf32>, tensor<?x2x4x4xf32>, tensor<?x3x4x4xf32>)
// CHECK-NEXT: %10 = nn.split %x {axis = -1 : i64} : (tensor<?x6x4x4xf32>) -> tensor<?x6x4x4xf32>
// CHECK-NEXT: %11 = nn.slice %x {starts = array<i64: 1, 0>, ends = array<i64: 5, 9223372036854775807>, axes = array<i64: 1, -1>, steps = array<i64: 2, 3>} : (tensor<?x6x4x4xf32>) -> tensor<?x2x4x2xf32>
// CHECK-NEXT: %12 = nn.slice %x {starts = array<i64: -1>, ends = array<i64: -9223372036854775808>, axes = array<i64: 1>, steps = array<i64: -1>} : (tensor<?x6x4x4xf32>) -> tensor<?x6x4x4xf32>
// CHECK-NEXT: %13 = nn.slice %x {starts = array<i64: 0, 1>, ends = array<i64: 1, 3>} : (tensor<?x6x4x4xf32>) -> tensor<?x2x4x4xf32>
// CHECK-NEXT: %14 = nn.gather %x, %i {axis = 1 : i64} : (tensor<?x6x4x4xf32>, tensor<2x3xi64>) -> tensor<?x2x3x4x4xf32>
// CHECK-NEXT: %15 = nn.gather %x, %j {axis = -1 : i64} : (tensor<?x6x4x4xf32>, tensor<i32>) -> tensor<?x6x4xf32>
// CHECK-NEXT: %16 = nn.gather %x, %i : (tensor<?x6x4x4xf32>, tensor<2x3xi64>) -> tensor<2x3x6x4x4xf32>
// CHECK-NEXT: func.return %0, %4, %3 : tensor<?x96xf32>, tensor<?x4x4x6xf32>, tensor<?x6x2x8xf32>
// CHECK-NEXT: }

func.func @reductions(%x: tensor<?x6x4x4xf32>) -> (tensor<?x6x1x1xf32>, tensor<?x6xf32>, tensor<1x1x1x1xf32>, tensor<f32>) {
  %0 = nn.reduce_mean %x {axes = array<i64: 2, 3>} : (tensor<?x6x4x4xf32>) -> tensor<?x6x1x1xf32>
  %1 = nn.reduce_sum %x {axes = array<i64: -1, -2>, keepdims = false} : (tensor<?x6x4x4xf32>) -> tensor<?x6xf32>
  %2 = nn.reduce_max %x : (tensor<?x6x4x4xf32>) -> tensor<1x1x1x1xf32>
  %3 = nn.reduce_mean %x {axes = array<i64>, keepdims = false} : (tensor<?x6x4x4xf32>) -> tensor<f32>
  func.return %0, %1, %2, %3 : tensor<?x6x1x1xf32>, tensor<?x6xf32>, tensor<1x1x1x1xf32>, tensor<f32>
}
// CHECK-LABEL: func.func @reductions(
// CHECK-SAME: %x: tensor<?x6x4x4xf32>) -> (tensor<?x6x1x1xf32>, tensor<?x6xf32>, tensor<1x1x1x1xf32>, tensor<f32>) {
// CHECK-NEXT: %0 = nn.reduce_mean %x {axes = array<i64: 2, 3>} : (tensor<?x6x4x4xf32>) -> tensor<?x6x1x1xf32>
// CHECK-NEXT: %1 = nn.reduce_sum %x {axes = array<i64: -1, -2>, keepdims = false} : (tensor<?x6x4x4xf32>) -> tensor<?x6xf32>
// CHECK-NEXT: %2 = nn.reduce_max %x : (tensor<?x6x4x4xf32>) -> tensor<1x1x1x1xf32>
// CHECK-NEXT: %3 = nn.reduce_mean %x {axes = array<i64>, keepdims = false} : (tensor<?x6x4x4xf32>) -> tensor<f32>
// CHECK-NEXT: func.return %0, %1, %2, %3 : tensor<?x6x1x1xf32>, tensor<?x6xf32>, tensor<1x1x1x1xf32>, tensor<f32>
// CHECK-NEXT: }

// Ops added for the ONNX model zoo and Transformer encoders; integer (i64, i32)
// and i1 tensors where ONNX allows them.

func.func @conv_transpose(%x: tensor<?x4x5x5xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<6xf32>, %w1: tensor<4x2x3x3xf32>) -> (tensor<?x6x11x15xf32>, tensor<?x2x7x7xf32>) {
  %0 = nn.conv_transpose2d %x, %w, %b {strides = array<i64: 2, 3>, pads = array<i64: 1, 0, 0, 2>, dilations = array<i64: 1, 1>, group = 2 : i64, output_padding = array<i64: 1, 2>} : (tensor<?x4x5x5xf32>, tensor<4x3x3x3xf32>, tensor<6xf32>) -> tensor<?x6x11x15xf32>
  %1 = nn.conv_transpose2d %x, %w1 : (tensor<?x4x5x5xf32>, tensor<4x2x3x3xf32>) -> tensor<?x2x7x7xf32>
  func.return %0, %1 : tensor<?x6x11x15xf32>, tensor<?x2x7x7xf32>
}
// CHECK-LABEL: func.func @conv_transpose(
// CHECK-SAME: %x: tensor<?x4x5x5xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<6xf32>, %w1: tensor<4x2x3x3xf32>) -> (tensor<?x6x11x15xf32>, tensor<?x2x7x7xf32>) {
// CHECK-NEXT: %0 = nn.conv_transpose2d %x, %w, %b {strides = array<i64: 2, 3>, pads = array<i64: 1, 0, 0, 2>, dilations = array<i64: 1, 1>, group = 2 : i64, output_padding = array<i64: 1, 2>} : (tensor<?x4x5x5xf32>, tensor<4x3x3x3xf32>, tensor<6xf32>) -> tensor<?x6x11x15xf32>
// CHECK-NEXT: %1 = nn.conv_transpose2d %x, %w1 : (tensor<?x4x5x5xf32>, tensor<4x2x3x3xf32>) -> tensor<?x2x7x7xf32>
// CHECK-NEXT: func.return %0, %1 : tensor<?x6x11x15xf32>, tensor<?x2x7x7xf32>
// CHECK-NEXT: }

func.func @lrn_log_softmax(%x: tensor<?x16x8x8xf32>, %t: tensor<?x10x64xf32>) -> (tensor<?x16x8x8xf32>, tensor<?x16x8x8xf32>, tensor<?x10x64xf32>, tensor<?x10x64xf32>) {
  %0 = nn.lrn %x {size = 5 : i64} : (tensor<?x16x8x8xf32>) -> tensor<?x16x8x8xf32>
  %1 = nn.lrn %x {size = 4 : i64, alpha = 5.000000e-04 : f32, beta = 5.000000e-01 : f32, bias = 2.000000e+00 : f32} : (tensor<?x16x8x8xf32>) -> tensor<?x16x8x8xf32>
  %2 = nn.log_softmax %t : (tensor<?x10x64xf32>) -> tensor<?x10x64xf32>
  %3 = nn.log_softmax %t {axis = 1 : i64} : (tensor<?x10x64xf32>) -> tensor<?x10x64xf32>
  func.return %0, %1, %2, %3 : tensor<?x16x8x8xf32>, tensor<?x16x8x8xf32>, tensor<?x10x64xf32>, tensor<?x10x64xf32>
}
// CHECK-LABEL: func.func @lrn_log_softmax(
// CHECK-SAME: %x: tensor<?x16x8x8xf32>, %t: tensor<?x10x64xf32>) -> (tensor<?x16x8x8xf32>, tensor<?x16x8x8xf32>, tensor<?x10x64xf32>, tensor<?x10x64xf32>) {
// CHECK-NEXT: %0 = nn.lrn %x {size = 5 : i64} : (tensor<?x16x8x8xf32>) -> tensor<?x16x8x8xf32>
// CHECK-NEXT: %1 = nn.lrn %x {size = 4 : i64, alpha = 5.000000e-04 : f32, beta = 5.000000e-01 : f32, bias = 2.000000e+00 : f32} : (tensor<?x16x8x8xf32>) -> tensor<?x16x8x8xf32>
// CHECK-NEXT: %2 = nn.log_softmax %t : (tensor<?x10x64xf32>) -> tensor<?x10x64xf32>
// CHECK-NEXT: %3 = nn.log_softmax %t {axis = 1 : i64} : (tensor<?x10x64xf32>) -> tensor<?x10x64xf32>
// CHECK-NEXT: func.return %0, %1, %2, %3 : tensor<?x16x8x8xf32>, tensor<?x16x8x8xf32>, tensor<?x10x64xf32>, tensor<?x10x64xf32>
// CHECK-NEXT: }

func.func @unary_more(%x: tensor<?x8xf32>, %s: tensor<8xf32>, %i: tensor<?x8xi64>) -> (tensor<?x8xf32>, tensor<?x8xi64>) {
  %0 = nn.elu %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %1 = nn.elu %0 {alpha = 2.000000e+00 : f32} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %2 = nn.selu %1 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %3 = nn.selu %2 {alpha = 1.500000e+00 : f32, gamma = 1.000000e+00 : f32} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %4 = nn.softplus %3 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %5 = nn.softsign %4 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %6 = nn.neg %5 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %7 = nn.abs %6 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %8 = nn.log %7 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %9 = nn.reciprocal %8 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %10 = nn.hard_sigmoid %9 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %11 = nn.hard_sigmoid %10 {alpha = 0.166666701 : f32, beta = 2.500000e-01 : f32} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %12 = nn.hard_swish %11 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %13 = nn.prelu %12, %s : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %14 = nn.neg %i : (tensor<?x8xi64>) -> tensor<?x8xi64>
  %15 = nn.abs %14 : (tensor<?x8xi64>) -> tensor<?x8xi64>
  %16 = nn.relu %15 : (tensor<?x8xi64>) -> tensor<?x8xi64>
  %17 = nn.clip %16 {min = 0.000000e+00 : f32} : (tensor<?x8xi64>) -> tensor<?x8xi64>
  func.return %13, %17 : tensor<?x8xf32>, tensor<?x8xi64>
}
// CHECK-LABEL: func.func @unary_more(
// CHECK-SAME: %x: tensor<?x8xf32>, %s: tensor<8xf32>, %i: tensor<?x8xi64>) -> (tensor<?x8xf32>, tensor<?x8xi64>) {
// CHECK-NEXT: %0 = nn.elu %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %1 = nn.elu %0 {alpha = 2.000000e+00 : f32} : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %2 = nn.selu %1 : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %3 = nn.selu %2 {alpha = 1.500000e+00 : f32, gamma = 1.000000e+00 : f32} : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %4 = nn.softplus %3 : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %5 = nn.softsign %4 : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %6 = nn.neg %5 : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %7 = nn.abs %6 : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %8 = nn.log %7 : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %9 = nn.reciprocal %8 : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %10 = nn.hard_sigmoid %9 : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %11 = nn.hard_sigmoid %10 {alpha = 0.166666701 : f32, beta = 2.500000e-01 : f32} : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %12 = nn.hard_swish %11 : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %13 = nn.prelu %12, %s : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %14 = nn.neg %i : (tensor<?x8xi64>) -> tensor<?x8xi64>
// CHECK-NEXT: %15 = nn.abs %14 : (tensor<?x8xi64>) -> tensor<?x8xi64>
// CHECK-NEXT: %16 = nn.relu %15 : (tensor<?x8xi64>) -> tensor<?x8xi64>
// CHECK-NEXT: %17 = nn.clip %16 {min = 0.000000e+00 : f32} : (tensor<?x8xi64>) -> tensor<?x8xi64>
// CHECK-NEXT: func.return %13, %17 : tensor<?x8xf32>, tensor<?x8xi64>
// CHECK-NEXT: }
func.func @compare_select(%a: tensor<?x3x4xf32>, %b: tensor<4xf32>, %i: tensor<2x1xi64>, %j: tensor<3xi64>, %p: tensor<?x3x4xi1>) -> (tensor<?x3x4xi1>, tensor<?x3x4xf32>) {
  %0 = nn.equal %a, %b : (tensor<?x3x4xf32>, tensor<4xf32>) -> tensor<?x3x4xi1>
  %1 = nn.less %i, %j : (tensor<2x1xi64>, tensor<3xi64>) -> tensor<2x3xi1>
  %2 = nn.greater %a, %b : (tensor<?x3x4xf32>, tensor<4xf32>) -> tensor<?x3x4xi1>
  %3 = nn.equal %0, %p : (tensor<?x3x4xi1>, tensor<?x3x4xi1>) -> tensor<?x3x4xi1>
  %4 = nn.not %3 : (tensor<?x3x4xi1>) -> tensor<?x3x4xi1>
  %5 = nn.where %4, %a, %b : (tensor<?x3x4xi1>, tensor<?x3x4xf32>, tensor<4xf32>) -> tensor<?x3x4xf32>
  %6 = nn.where %1, %i, %j : (tensor<2x3xi1>, tensor<2x1xi64>, tensor<3xi64>) -> tensor<2x3xi64>
  %7 = nn.min %a, %b : (tensor<?x3x4xf32>, tensor<4xf32>) -> tensor<?x3x4xf32>
  %8 = nn.max %7, %5 : (tensor<?x3x4xf32>, tensor<?x3x4xf32>) -> tensor<?x3x4xf32>
  %9 = nn.max %i, %j : (tensor<2x1xi64>, tensor<3xi64>) -> tensor<2x3xi64>
  func.return %2, %8 : tensor<?x3x4xi1>, tensor<?x3x4xf32>
}
// CHECK-LABEL: func.func @compare_select(
// CHECK-SAME: %a: tensor<?x3x4xf32>, %b: tensor<4xf32>, %i: tensor<2x1xi64>, %j: tensor<3xi64>, %p: tensor<?x3x4xi1>) -> (tensor<?x3x4xi1>, tensor<?x3x4xf32>) {
// CHECK-NEXT: %0 = nn.equal %a, %b : (tensor<?x3x4xf32>, tensor<4xf32>) -> tensor<?x3x4xi1>
// CHECK-NEXT: %1 = nn.less %i, %j : (tensor<2x1xi64>, tensor<3xi64>) -> tensor<2x3xi1>
// CHECK-NEXT: %2 = nn.greater %a, %b : (tensor<?x3x4xf32>, tensor<4xf32>) -> tensor<?x3x4xi1>
// CHECK-NEXT: %3 = nn.equal %0, %p : (tensor<?x3x4xi1>, tensor<?x3x4xi1>) -> tensor<?x3x4xi1>
// CHECK-NEXT: %4 = nn.not %3 : (tensor<?x3x4xi1>) -> tensor<?x3x4xi1>
// CHECK-NEXT: %5 = nn.where %4, %a, %b : (tensor<?x3x4xi1>, tensor<?x3x4xf32>, tensor<4xf32>) -> tensor<?x3x4xf32>
// CHECK-NEXT: %6 = nn.where %1, %i, %j : (tensor<2x3xi1>, tensor<2x1xi64>, tensor<3xi64>) -> tensor<2x3xi64>
// CHECK-NEXT: %7 = nn.min %a, %b : (tensor<?x3x4xf32>, tensor<4xf32>) -> tensor<?x3x4xf32>
// CHECK-NEXT: %8 = nn.max %7, %5 : (tensor<?x3x4xf32>, tensor<?x3x4xf32>) -> tensor<?x3x4xf32>
// CHECK-NEXT: %9 = nn.max %i, %j : (tensor<2x1xi64>, tensor<3xi64>) -> tensor<2x3xi64>
// CHECK-NEXT: func.return %2, %8 : tensor<?x3x4xi1>, tensor<?x3x4xf32>
// CHECK-NEXT: }

func.func @integers(%i: tensor<?x2xi64>, %j: tensor<2xi64>, %k: tensor<?x2xi32>, %x: tensor<?x2xf32>) -> tensor<?x2xi64> {
  %0 = nn.add %i, %j : (tensor<?x2xi64>, tensor<2xi64>) -> tensor<?x2xi64>
  %1 = nn.sub %0, %j : (tensor<?x2xi64>, tensor<2xi64>) -> tensor<?x2xi64>
  %2 = nn.mul %1, %j : (tensor<?x2xi64>, tensor<2xi64>) -> tensor<?x2xi64>
  %3 = nn.div %2, %j : (tensor<?x2xi64>, tensor<2xi64>) -> tensor<?x2xi64>
  %4 = nn.pow %3, %j : (tensor<?x2xi64>, tensor<2xi64>) -> tensor<?x2xi64>
  %5 = nn.pow %x, %j : (tensor<?x2xf32>, tensor<2xi64>) -> tensor<?x2xf32>
  %6 = nn.mul %k, %k : (tensor<?x2xi32>, tensor<?x2xi32>) -> tensor<?x2xi32>
  func.return %4 : tensor<?x2xi64>
}
// CHECK-LABEL: func.func @integers(
// CHECK-SAME: %i: tensor<?x2xi64>, %j: tensor<2xi64>, %k: tensor<?x2xi32>, %x: tensor<?x2xf32>) -> tensor<?x2xi64> {
// CHECK-NEXT: %0 = nn.add %i, %j : (tensor<?x2xi64>, tensor<2xi64>) -> tensor<?x2xi64>
// CHECK-NEXT: %1 = nn.sub %0, %j : (tensor<?x2xi64>, tensor<2xi64>) -> tensor<?x2xi64>
// CHECK-NEXT: %2 = nn.mul %1, %j : (tensor<?x2xi64>, tensor<2xi64>) -> tensor<?x2xi64>
// CHECK-NEXT: %3 = nn.div %2, %j : (tensor<?x2xi64>, tensor<2xi64>) -> tensor<?x2xi64>
// CHECK-NEXT: %4 = nn.pow %3, %j : (tensor<?x2xi64>, tensor<2xi64>) -> tensor<?x2xi64>
// CHECK-NEXT: %5 = nn.pow %x, %j : (tensor<?x2xf32>, tensor<2xi64>) -> tensor<?x2xf32>
// CHECK-NEXT: %6 = nn.mul %k, %k : (tensor<?x2xi32>, tensor<?x2xi32>) -> tensor<?x2xi32>
// CHECK-NEXT: func.return %4 : tensor<?x2xi64>
// CHECK-NEXT: }

func.func @pad_expand_cast(%x: tensor<?x3x4x4xf32>, %i: tensor<3x1xi64>, %v: tensor<?x4xf32>) -> (tensor<?x3x11x7xf32>, tensor<2x3x5xi64>) {
  %0 = nn.pad %x {pads = array<i64: 0, 0, 3, 1, 0, 0, 4, 2>, value = 2.000000e+00 : f32} : (tensor<?x3x4x4xf32>) -> tensor<?x3x11x7xf32>
  %1 = nn.pad %x {pads = array<i64: 0, 0, 3, -1, 0, 0, 0, 2>, mode = "reflect"} : (tensor<?x3x4x4xf32>) -> tensor<?x3x7x5xf32>
  %2 = nn.pad %x {pads = array<i64: 0, 0, 0, 0, 0, 0, 5, -4>, mode = "edge"} : (tensor<?x3x4x4xf32>) -> tensor<?x3x9x0xf32>
  %3 = nn.pad %i {pads = array<i64: 1, 0, 0, 2>, value = -1.000000e+00 : f32} : (tensor<3x1xi64>) -> tensor<4x3xi64>
  %4 = nn.expand %i : (tensor<3x1xi64>) -> tensor<2x3x5xi64>
  %5 = nn.expand %v : (tensor<?x4xf32>) -> tensor<2x?x4xf32>
  %6 = nn.expand %v : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %7 = nn.cast %i : (tensor<3x1xi64>) -> tensor<3x1xf32>
  %8 = nn.cast %v : (tensor<?x4xf32>) -> tensor<?x4xi1>
  %9 = nn.cast %8 : (tensor<?x4xi1>) -> tensor<?x4xf16>
  %10 = nn.cast %9 : (tensor<?x4xf16>) -> tensor<?x4xui8>
  %11 = nn.cast %10 : (tensor<?x4xui8>) -> tensor<?x4xi32>
  func.return %0, %4 : tensor<?x3x11x7xf32>, tensor<2x3x5xi64>
}
// CHECK-LABEL: func.func @pad_expand_cast(
// CHECK-SAME: %x: tensor<?x3x4x4xf32>, %i: tensor<3x1xi64>, %v: tensor<?x4xf32>) -> (tensor<?x3x11x7xf32>, tensor<2x3x5xi64>) {
// CHECK-NEXT: %0 = nn.pad %x {pads = array<i64: 0, 0, 3, 1, 0, 0, 4, 2>, value = 2.000000e+00 : f32} : (tensor<?x3x4x4xf32>) -> tensor<?x3x11x7xf32>
// CHECK-NEXT: %1 = nn.pad %x {pads = array<i64: 0, 0, 3, -1, 0, 0, 0, 2>, mode = "reflect"} : (tensor<?x3x4x4xf32>) -> tensor<?x3x7x5xf32>
// CHECK-NEXT: %2 = nn.pad %x {pads = array<i64: 0, 0, 0, 0, 0, 0, 5, -4>, mode = "edge"} : (tensor<?x3x4x4xf32>) -> tensor<?x3x9x0xf32>
// CHECK-NEXT: %3 = nn.pad %i {pads = array<i64: 1, 0, 0, 2>, value = -1.000000e+00 : f32} : (tensor<3x1xi64>) -> tensor<4x3xi64>
// CHECK-NEXT: %4 = nn.expand %i : (tensor<3x1xi64>) -> tensor<2x3x5xi64>
// CHECK-NEXT: %5 = nn.expand %v : (tensor<?x4xf32>) -> tensor<2x?x4xf32>
// CHECK-NEXT: %6 = nn.expand %v : (tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK-NEXT: %7 = nn.cast %i : (tensor<3x1xi64>) -> tensor<3x1xf32>
// CHECK-NEXT: %8 = nn.cast %v : (tensor<?x4xf32>) -> tensor<?x4xi1>
// CHECK-NEXT: %9 = nn.cast %8 : (tensor<?x4xi1>) -> tensor<?x4xf16>
// CHECK-NEXT: %10 = nn.cast %9 : (tensor<?x4xf16>) -> tensor<?x4xui8>
// CHECK-NEXT: %11 = nn.cast %10 : (tensor<?x4xui8>) -> tensor<?x4xi32>
// CHECK-NEXT: func.return %0, %4 : tensor<?x3x11x7xf32>, tensor<2x3x5xi64>
// CHECK-NEXT: }
