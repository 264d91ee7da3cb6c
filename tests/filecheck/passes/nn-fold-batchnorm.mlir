// RUN: qopt-opt %s -p nn-fold-batchnorm | filecheck %s
// RUN: qopt-opt %s --pass-pipeline='builtin.module(nn-fold-batchnorm)' | filecheck %s
// RUN: xdsl-opt %s -p nn-fold-batchnorm | filecheck %s

// A 1x1 convolution without bias: k = scale / sqrt(var + eps) = [2, 0.5],
// w' = w * k per output channel, b' = (0 - mean) * k + beta.
// CHECK-LABEL: func.func @conv_no_bias(
// CHECK-NEXT:    %w = nn.constant dense<{{\[\[\[\[}}2.000000e+00]], {{\[\[}}4.000000e+00]]], {{\[\[\[}}1.500000e+00]], {{\[\[}}2.000000e+00]]]]> : tensor<2x2x1x1xf32>
// CHECK-NEXT:    %b = nn.constant dense<[0.000000e+00, -2.000000e+00]> : tensor<2xf32>
// CHECK-NEXT:    %y = nn.conv2d %x, %w, %b {q.bn_stats = {mean = array<f64: 1.000000e+00, -1.000000e+00>, std = array<f64: 2.000000e+00, 1.000000e+00>}} : (tensor<?x2x3x3xf32>, tensor<2x2x1x1xf32>, tensor<2xf32>) -> tensor<?x2x3x3xf32>
// CHECK-NEXT:    func.return %y : tensor<?x2x3x3xf32>
// CHECK-NEXT:  }
func.func @conv_no_bias(%x: tensor<?x2x3x3xf32>) -> tensor<?x2x3x3xf32> {
  %w = nn.constant dense<[[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]]]> : tensor<2x2x1x1xf32>
  %s = nn.constant dense<[2.0, 1.0]> : tensor<2xf32>
  %b = nn.constant dense<[1.0, -1.0]> : tensor<2xf32>
  %m = nn.constant dense<[0.5, 2.0]> : tensor<2xf32>
  %v = nn.constant dense<[1.0, 4.0]> : tensor<2xf32>
  %y = nn.conv2d %x, %w : (tensor<?x2x3x3xf32>, tensor<2x2x1x1xf32>) -> tensor<?x2x3x3xf32>
  %z = nn.batchnorm %y, %s, %b, %m, %v {epsilon = 0.0 : f32} : (tensor<?x2x3x3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2x3x3xf32>
  func.return %z : tensor<?x2x3x3xf32>
}

// Depthwise (group = 2) 3x3 convolution with a bias, strides and pads kept.
// CHECK-LABEL: func.func @depthwise_bias(
// CHECK-NEXT:    %w = nn.constant dense<{{\[\[\[\[}}1.000000e+00, 1.000000e+00, 1.000000e+00], [1.000000e+00, 1.000000e+00, 1.000000e+00], [1.000000e+00, 1.000000e+00, 1.000000e+00]]], {{\[\[\[}}-2.000000e+00, -2.000000e+00, -2.000000e+00], [-2.000000e+00, -2.000000e+00, -2.000000e+00], [-2.000000e+00, -2.000000e+00, -2.000000e+00]]]]> : tensor<2x1x3x3xf32>
// CHECK-NEXT:    %c = nn.constant dense<[2.250000e+00, 8.000000e+00]> : tensor<2xf32>
// CHECK-NEXT:    %y = nn.conv2d %x, %w, %c {q.bn_stats = {mean = array<f64: 2.500000e-01, 0.000000e+00>, std = array<f64: 4.000000e+00, 1.000000e+00>}, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 2 : i64} : (tensor<1x2x4x4xf32>, tensor<2x1x3x3xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
// CHECK-NEXT:    func.return %y : tensor<1x2x2x2xf32>
// CHECK-NEXT:  }
func.func @depthwise_bias(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x2x2xf32> {
  %w = nn.constant dense<1.0> : tensor<2x1x3x3xf32>
  %c = nn.constant dense<[3.0, -2.0]> : tensor<2xf32>
  %s = nn.constant dense<[4.0, -1.0]> : tensor<2xf32>
  %b = nn.constant dense<[0.25, 0.0]> : tensor<2xf32>
  %m = nn.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %v = nn.constant dense<[16.0, 0.25]> : tensor<2xf32>
  %y = nn.conv2d %x, %w, %c {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 2 : i64} : (tensor<1x2x4x4xf32>, tensor<2x1x3x3xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
  %z = nn.batchnorm %y, %s, %b, %m, %v {epsilon = 0.0 : f32} : (tensor<1x2x2x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
  func.return %z : tensor<1x2x2x2xf32>
}

// The default epsilon (1e-5) is used at its f32 value.
// CHECK-LABEL: func.func @default_epsilon(
// CHECK-NEXT:    %w = nn.constant dense<9.999950e-01> : tensor<1x1x1x1xf32>
// CHECK-NEXT:    %b = nn.constant dense<0.000000e+00> : tensor<1xf32>
// CHECK-NEXT:    %y = nn.conv2d %x, %w, %b {q.bn_stats = {mean = array<f64: 0.000000e+00>, std = array<f64: 1.000000e+00>}} : (tensor<?x1x2x2xf32>, tensor<1x1x1x1xf32>, tensor<1xf32>) -> tensor<?x1x2x2xf32>
// CHECK-NEXT:    func.return %y : tensor<?x1x2x2xf32>
// CHECK-NEXT:  }
func.func @default_epsilon(%x: tensor<?x1x2x2xf32>) -> tensor<?x1x2x2xf32> {
  %w = nn.constant dense<1.0> : tensor<1x1x1x1xf32>
  %s = nn.constant dense<1.0> : tensor<1xf32>
  %b = nn.constant dense<0.0> : tensor<1xf32>
  %m = nn.constant dense<0.0> : tensor<1xf32>
  %v = nn.constant dense<1.0> : tensor<1xf32>
  %y = nn.conv2d %x, %w : (tensor<?x1x2x2xf32>, tensor<1x1x1x1xf32>) -> tensor<?x1x2x2xf32>
  %z = nn.batchnorm %y, %s, %b, %m, %v : (tensor<?x1x2x2xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<?x1x2x2xf32>
  func.return %z : tensor<?x1x2x2xf32>
}

// Gemm with transB, alpha and beta: B' = alpha * B * k along N (rows of B),
// C' = (beta * C - mean) * k + bn_bias; alpha and beta are dropped.
// CHECK-LABEL: func.func @gemm_trans_b(
// CHECK-NEXT:    %w = nn.constant dense<{{\[\[}}4.000000e+00, 8.000000e+00, 1.200000e+01], [4.000000e+00, 5.000000e+00, 6.000000e+00]]> : tensor<2x3xf32>
// CHECK-NEXT:    %c = nn.constant dense<[-1.000000e+00, 1.000000e+00]> : tensor<2xf32>
// CHECK-NEXT:    %y = nn.gemm %a, %w, %c {q.bn_stats = {mean = array<f64: 0.000000e+00, 1.000000e+00>, std = array<f64: 2.000000e+00, 1.000000e+00>}, transB = true} : (tensor<?x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<?x2xf32>
// CHECK-NEXT:    func.return %y : tensor<?x2xf32>
// CHECK-NEXT:  }
func.func @gemm_trans_b(%a: tensor<?x3xf32>) -> tensor<?x2xf32> {
  %w = nn.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %c = nn.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %s = nn.constant dense<[2.0, 1.0]> : tensor<2xf32>
  %b = nn.constant dense<[0.0, 1.0]> : tensor<2xf32>
  %m = nn.constant dense<[1.0, 1.0]> : tensor<2xf32>
  %v = nn.constant dense<[1.0, 4.0]> : tensor<2xf32>
  %y = nn.gemm %a, %w, %c {alpha = 2.0 : f32, beta = 0.5 : f32, transB = true} : (tensor<?x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  %z = nn.batchnorm %y, %s, %b, %m, %v {epsilon = 0.0 : f32} : (tensor<?x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  func.return %z : tensor<?x2xf32>
}

// Gemm without C: B' scales the columns of B, C' is created.
// CHECK-LABEL: func.func @gemm_no_c(
// CHECK-NEXT:    %w = nn.constant dense<{{\[\[}}2.000000e+00, 1.000000e+00], [6.000000e+00, 2.000000e+00]]> : tensor<2x2xf32>
// CHECK-NEXT:    %b = nn.constant dense<[-1.500000e+00, 5.000000e-01]> : tensor<2xf32>
// CHECK-NEXT:    %y = nn.gemm %a, %w, %b {q.bn_stats = {mean = array<f64: 5.000000e-01, 0.000000e+00>, std = array<f64: 2.000000e+00, 1.000000e+00>}} : (tensor<?x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
// CHECK-NEXT:    func.return %y : tensor<?x2xf32>
// CHECK-NEXT:  }
func.func @gemm_no_c(%a: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %w = nn.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %s = nn.constant dense<[2.0, 1.0]> : tensor<2xf32>
  %b = nn.constant dense<[0.5, 0.0]> : tensor<2xf32>
  %m = nn.constant dense<[1.0, -1.0]> : tensor<2xf32>
  %v = nn.constant dense<[1.0, 4.0]> : tensor<2xf32>
  %y = nn.gemm %a, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  %z = nn.batchnorm %y, %s, %b, %m, %v {epsilon = 0.0 : f32} : (tensor<?x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  func.return %z : tensor<?x2xf32>
}

// Constants shared by two layers are kept until their last user is folded.
// CHECK-LABEL: func.func @shared_weight(
// CHECK-NEXT:    %w = nn.constant dense<6.000000e+00> : tensor<1x1x1x1xf32>
// CHECK-NEXT:    %b = nn.constant dense<1.000000e+00> : tensor<1xf32>
// CHECK-NEXT:    %y1 = nn.conv2d %x, %w, %b {q.bn_stats = {mean = array<f64: 1.000000e+00>, std = array<f64: 2.000000e+00>}} : (tensor<?x1x2x2xf32>, tensor<1x1x1x1xf32>, tensor<1xf32>) -> tensor<?x1x2x2xf32>
// CHECK-NEXT:    %w_1 = nn.constant dense<3.000000e+00> : tensor<1x1x1x1xf32>
// CHECK-NEXT:    %b_1 = nn.constant dense<1.000000e+00> : tensor<1xf32>
// CHECK-NEXT:    %y2 = nn.conv2d %x, %w_1, %b_1 {q.bn_stats = {mean = array<f64: 1.000000e+00>, std = array<f64: 2.000000e+00>}} : (tensor<?x1x2x2xf32>, tensor<1x1x1x1xf32>, tensor<1xf32>) -> tensor<?x1x2x2xf32>
// CHECK-NEXT:    func.return %y1, %y2 : tensor<?x1x2x2xf32>, tensor<?x1x2x2xf32>
// CHECK-NEXT:  }
func.func @shared_weight(%x: tensor<?x1x2x2xf32>) -> (tensor<?x1x2x2xf32>, tensor<?x1x2x2xf32>) {
  %w = nn.constant dense<3.0> : tensor<1x1x1x1xf32>
  %s = nn.constant dense<2.0> : tensor<1xf32>
  %b = nn.constant dense<1.0> : tensor<1xf32>
  %m = nn.constant dense<0.0> : tensor<1xf32>
  %v = nn.constant dense<1.0> : tensor<1xf32>
  %v4 = nn.constant dense<4.0> : tensor<1xf32>
  %y1 = nn.conv2d %x, %w : (tensor<?x1x2x2xf32>, tensor<1x1x1x1xf32>) -> tensor<?x1x2x2xf32>
  %z1 = nn.batchnorm %y1, %s, %b, %m, %v {epsilon = 0.0 : f32} : (tensor<?x1x2x2xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<?x1x2x2xf32>
  %y2 = nn.conv2d %x, %w : (tensor<?x1x2x2xf32>, tensor<1x1x1x1xf32>) -> tensor<?x1x2x2xf32>
  %z2 = nn.batchnorm %y2, %s, %b, %m, %v4 {epsilon = 0.0 : f32} : (tensor<?x1x2x2xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<?x1x2x2xf32>
  func.return %z1, %z2 : tensor<?x1x2x2xf32>, tensor<?x1x2x2xf32>
}

// Negative cases: nothing below is folded.

// The statistics are not constants.
// CHECK-LABEL: func.func @stats_not_constant(
// CHECK:         %y = nn.conv2d %x, %w : (tensor<?x2x3x3xf32>, tensor<2x2x1x1xf32>) -> tensor<?x2x3x3xf32>
// CHECK:         %z = nn.batchnorm %y, %s, %b, %m, %v : (tensor<?x2x3x3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2x3x3xf32>
func.func @stats_not_constant(%x: tensor<?x2x3x3xf32>, %m: tensor<2xf32>) -> tensor<?x2x3x3xf32> {
  %w = nn.constant dense<1.0> : tensor<2x2x1x1xf32>
  %s = nn.constant dense<1.0> : tensor<2xf32>
  %b = nn.constant dense<0.0> : tensor<2xf32>
  %v = nn.constant dense<1.0> : tensor<2xf32>
  %y = nn.conv2d %x, %w : (tensor<?x2x3x3xf32>, tensor<2x2x1x1xf32>) -> tensor<?x2x3x3xf32>
  %z = nn.batchnorm %y, %s, %b, %m, %v : (tensor<?x2x3x3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2x3x3xf32>
  func.return %z : tensor<?x2x3x3xf32>
}

// The convolution result has another user.
// CHECK-LABEL: func.func @conv_other_user(
// CHECK:         %y = nn.conv2d %x, %w : (tensor<?x2x3x3xf32>, tensor<2x2x1x1xf32>) -> tensor<?x2x3x3xf32>
// CHECK:         %z = nn.batchnorm %y, %s, %b, %m, %v : (tensor<?x2x3x3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2x3x3xf32>
func.func @conv_other_user(%x: tensor<?x2x3x3xf32>) -> (tensor<?x2x3x3xf32>, tensor<?x2x3x3xf32>) {
  %w = nn.constant dense<1.0> : tensor<2x2x1x1xf32>
  %s = nn.constant dense<1.0> : tensor<2xf32>
  %b = nn.constant dense<0.0> : tensor<2xf32>
  %m = nn.constant dense<0.0> : tensor<2xf32>
  %v = nn.constant dense<1.0> : tensor<2xf32>
  %y = nn.conv2d %x, %w : (tensor<?x2x3x3xf32>, tensor<2x2x1x1xf32>) -> tensor<?x2x3x3xf32>
  %z = nn.batchnorm %y, %s, %b, %m, %v : (tensor<?x2x3x3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2x3x3xf32>
  func.return %z, %y : tensor<?x2x3x3xf32>, tensor<?x2x3x3xf32>
}

// The weight is not a constant.
// CHECK-LABEL: func.func @weight_not_constant(
// CHECK:         %y = nn.conv2d %x, %w : (tensor<?x2x3x3xf32>, tensor<2x2x1x1xf32>) -> tensor<?x2x3x3xf32>
// CHECK:         %z = nn.batchnorm %y, %s, %b, %m, %v : (tensor<?x2x3x3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2x3x3xf32>
func.func @weight_not_constant(%x: tensor<?x2x3x3xf32>, %w: tensor<2x2x1x1xf32>) -> tensor<?x2x3x3xf32> {
  %s = nn.constant dense<1.0> : tensor<2xf32>
  %b = nn.constant dense<0.0> : tensor<2xf32>
  %m = nn.constant dense<0.0> : tensor<2xf32>
  %v = nn.constant dense<1.0> : tensor<2xf32>
  %y = nn.conv2d %x, %w : (tensor<?x2x3x3xf32>, tensor<2x2x1x1xf32>) -> tensor<?x2x3x3xf32>
  %z = nn.batchnorm %y, %s, %b, %m, %v : (tensor<?x2x3x3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2x3x3xf32>
  func.return %z : tensor<?x2x3x3xf32>
}

// The conv bias is not a constant.
// CHECK-LABEL: func.func @bias_not_constant(
// CHECK:         %y = nn.conv2d %x, %w, %c : (tensor<?x2x3x3xf32>, tensor<2x2x1x1xf32>, tensor<2xf32>) -> tensor<?x2x3x3xf32>
// CHECK:         %z = nn.batchnorm %y, %s, %b, %m, %v : (tensor<?x2x3x3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2x3x3xf32>
func.func @bias_not_constant(%x: tensor<?x2x3x3xf32>, %c: tensor<2xf32>) -> tensor<?x2x3x3xf32> {
  %w = nn.constant dense<1.0> : tensor<2x2x1x1xf32>
  %s = nn.constant dense<1.0> : tensor<2xf32>
  %b = nn.constant dense<0.0> : tensor<2xf32>
  %m = nn.constant dense<0.0> : tensor<2xf32>
  %v = nn.constant dense<1.0> : tensor<2xf32>
  %y = nn.conv2d %x, %w, %c : (tensor<?x2x3x3xf32>, tensor<2x2x1x1xf32>, tensor<2xf32>) -> tensor<?x2x3x3xf32>
  %z = nn.batchnorm %y, %s, %b, %m, %v : (tensor<?x2x3x3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2x3x3xf32>
  func.return %z : tensor<?x2x3x3xf32>
}

// The batchnorm does not follow a conv2d or gemm.
// CHECK-LABEL: func.func @after_relu(
// CHECK:         %y = nn.relu %x : (tensor<?x2x3x3xf32>) -> tensor<?x2x3x3xf32>
// CHECK:         %z = nn.batchnorm %y, %s, %b, %m, %v : (tensor<?x2x3x3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2x3x3xf32>
func.func @after_relu(%x: tensor<?x2x3x3xf32>) -> tensor<?x2x3x3xf32> {
  %s = nn.constant dense<1.0> : tensor<2xf32>
  %b = nn.constant dense<0.0> : tensor<2xf32>
  %m = nn.constant dense<0.0> : tensor<2xf32>
  %v = nn.constant dense<1.0> : tensor<2xf32>
  %y = nn.relu %x : (tensor<?x2x3x3xf32>) -> tensor<?x2x3x3xf32>
  %z = nn.batchnorm %y, %s, %b, %m, %v : (tensor<?x2x3x3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2x3x3xf32>
  func.return %z : tensor<?x2x3x3xf32>
}

// var + eps = 0 gives an infinite factor.
// CHECK-LABEL: func.func @infinite_factor(
// CHECK:         %y = nn.gemm %x, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
// CHECK:         %z = nn.batchnorm %y, %s, %b, %m, %v {epsilon = 0.000000e+00 : f32} : (tensor<?x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
func.func @infinite_factor(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %w = nn.constant dense<1.0> : tensor<2x2xf32>
  %s = nn.constant dense<1.0> : tensor<2xf32>
  %b = nn.constant dense<0.0> : tensor<2xf32>
  %m = nn.constant dense<0.0> : tensor<2xf32>
  %v = nn.constant dense<[1.0, 0.0]> : tensor<2xf32>
  %y = nn.gemm %x, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  %z = nn.batchnorm %y, %s, %b, %m, %v {epsilon = 0.0 : f32} : (tensor<?x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  func.return %z : tensor<?x2xf32>
}
