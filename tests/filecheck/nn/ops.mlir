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
