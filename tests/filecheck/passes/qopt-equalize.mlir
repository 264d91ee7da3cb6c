// RUN: qopt-opt %s -p qopt-equalize | filecheck %s
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-equalize{iterations=10 threshold=1e-4})' | filecheck %s
// RUN: xdsl-opt %s -p qopt-equalize | filecheck %s

// gemm 1 -> relu -> gemm 2: r1 = [4, 1], r2 = [1, 4], s = sqrt(r1 / r2) = [2, 0.5]:
// W1 rows / s, b1 / s, W2 columns * s; the stale range of the relu is dropped.
// CHECK-LABEL: func.func @main(
// CHECK-DAG:     nn.constant dense<{{\[\[}}2.000000e+00, 0.000000e+00], [0.000000e+00, 2.000000e+00]]> : tensor<2x2xf32>
// CHECK-DAG:     nn.constant dense<[5.000000e-01, 2.000000e+00]> : tensor<2xf32>
// CHECK-DAG:     nn.constant dense<2.000000e+00> : tensor<1x2xf32>
// CHECK-DAG:     %r = nn.relu %h : (tensor<?x2xf32>) -> tensor<?x2xf32>
func.func @main(%x: tensor<?x2xf32>) -> tensor<?x1xf32> {
  %w1 = nn.constant dense<[[4.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %b1 = nn.constant dense<[1.0, 1.0]> : tensor<2xf32>
  %h = nn.gemm %x, %w1, %b1 {transB = true} : (tensor<?x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  %r = nn.relu %h {q.range = #q.range<0.0, 4.0>} : (tensor<?x2xf32>) -> tensor<?x2xf32>
  %w2 = nn.constant dense<[[1.0, 4.0]]> : tensor<1x2xf32>
  %y = nn.gemm %r, %w2 {transB = true} : (tensor<?x2xf32>, tensor<1x2xf32>) -> tensor<?x1xf32>
  func.return %y : tensor<?x1xf32>
}
