// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-sva{terms=2})' | filecheck %s
// RUN: xdsl-opt %s -p 'qopt-sva{terms=2}' | filecheck %s

// qopt-sva: each neuron's weight vector (a column of the [K, N] gemm weight)
// becomes at most K ternary vectors times shared powers of two.
// Column 0 = [0.75, 0.1, -1.0, 0.0]: step 1 picks 2^0 with c = [1, 0, -1, 0]
// (|r| > 1/2), step 2 picks 2^-2 with c = [-1, 0, 0, 0] -> [0.75, 0, -1, 0];
// scale 2^-2, shifts [2, 0]. Column 1 = [-0.3, 0.5, 0.26, -0.13]: 2^-2 with
// c = [-1, 1, 1, -1] beats 2^-1 (squared error 0.0795 vs 0.1145); then 2^-2
// again on the 0.25 left in row 1 -> [-0.25, 0.5, 0.25, -0.25], shifts [0, 0].
// CHECK-LABEL: func.func @main(
// CHECK-NEXT:    %w = nn.constant dense<{{\[}}[7.500000e-01, -2.500000e-01], [0.000000e+00, 5.000000e-01], [-1.000000e+00, 2.500000e-01], [0.000000e+00, -2.500000e-01]]> : tensor<4x2xf32>
// CHECK-NEXT:    %y = nn.gemm %x, %w {q.range = #q.range<-1.984375, 1.984375>, q.weight_format = "spot2", q.weight_scales = array<f64: 2.500000e-01, 2.500000e-01>, q.sva_exponents = array<i64: 2, 0, 0, 0>}
func.func @main(%x: tensor<1x4xf32> {q.range = #q.range<-1.984375, 1.984375>}) -> tensor<1x2xf32> {
  %w = nn.constant dense<[[0.75, -0.3], [0.1, 0.5], [-1.0, 0.26], [0.0, -0.13]]> : tensor<4x2xf32>
  %y = nn.gemm %x, %w {q.range = #q.range<-1.984375, 1.984375>} : (tensor<1x4xf32>, tensor<4x2xf32>) -> tensor<1x2xf32>
  func.return %y : tensor<1x2xf32>
}

// qopt-quantize{weights=spot2} then uses the recorded scales: the levels are
// w / 0.25 = [[3, -1], [0, 2], [-4, 1], [0, -1]], exactly.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-sva{terms=2},qopt-quantize{weights=spot2})' | filecheck %s --check-prefix=Q
// Q:      %w = q.constant "0x120900020B010009" : tensor<4x2x!q.spot<2 x i4:f32:1, {0.25, 0.25}>>
// Q-NEXT: %y_acc = q.matmul %x_q, %w

// terms=3 with threshold=0.2: column 0 stops after 2 terms (its residual
// 0.1 is below 0.2 * ||w||), so its third shift is -1 (unused); column 1
// takes a third term 2^-3 and its scale becomes 2^-3.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-sva{terms=3 threshold=0.2})' | filecheck %s --check-prefix=VAR
// VAR: %w = nn.constant dense<{{\[}}[7.500000e-01, -2.500000e-01], [0.000000e+00, 5.000000e-01], [-1.000000e+00, 2.500000e-01], [0.000000e+00, -1.250000e-01]]>
// VAR: q.weight_format = "spot3", q.weight_scales = array<f64: 2.500000e-01, 1.250000e-01>, q.sva_exponents = array<i64: 2, 0, -1, 1, 1, 0>

// A conv: one vector per output channel (OIHW rows); the single-term pot4 case.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-sva{terms=1 entry=conv})' | filecheck %s --check-prefix=CONV
// CONV: %w = nn.constant dense<{{\[\[\[\[}}1.000000e+00, 0.000000e+00], [-1.000000e+00, 1.000000e+00]]], {{\[\[\[}}0.000000e+00, 1.250000e-01], [1.250000e-01, -1.250000e-01]]]]> : tensor<2x1x2x2xf32>
// CONV: nn.conv2d %x, %w {q.weight_format = "pot4", q.weight_scales = array<f64: 1.000000e+00, 1.250000e-01>, q.sva_exponents = array<i64: 0, 0>}
func.func @conv(%x: tensor<1x1x3x3xf32>) -> tensor<1x2x2x2xf32> {
  %w = nn.constant dense<[[[[0.9, 0.2], [-1.1, 0.7]]], [[[0.01, 0.1], [0.12, -0.15]]]]> : tensor<2x1x2x2xf32>
  %c = nn.conv2d %x, %w : (tensor<1x1x3x3xf32>, tensor<2x1x2x2xf32>) -> tensor<1x2x2x2xf32>
  func.return %c : tensor<1x2x2x2xf32>
}

// Bad options and a mismatched weight format are one line, exit 2.
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-sva{terms=4})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=TERMS
// TERMS-NOT: Traceback
// TERMS: option 'terms' must be 1, 2 or 3 (pot4, spot2, spot3), got 4
// TERMS-NEXT: exit 2
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-sva{threshold=1.5})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=THR
// THR-NOT: Traceback
// THR: option 'threshold' must be in [0, 1), got 1.5
// THR-NEXT: exit 2
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-sva{terms=2},qopt-quantize{weights=spot3 entry=main})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=FMT
// FMT-NOT: Traceback
// FMT: qopt-opt: error: pass 'qopt-quantize' failed: 'nn.gemm' %y: its weights were rounded for 'spot2' {{.*}} but are quantized as 'spot3'
// FMT-NEXT: exit 2
