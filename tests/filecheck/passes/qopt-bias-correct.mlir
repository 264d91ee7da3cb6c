// RUN: rm -rf %t && mkdir -p %t
// RUN: python -c "import numpy as np; np.savez('%t/d.npz', x=np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [1.0, 2.0]], np.float32))"
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-bias-correct{data=%t/d.npz weights=int2})' | filecheck %s
// RUN: xdsl-opt %s -p 'qopt-bias-correct{data="%t/d.npz" weights="int2"}' | filecheck %s

// int2 per channel: W = [[0.3, 1.0], [-1.0, 0.6]] (transB) quantizes to
// [[0, 1], [-1, 1]], W~ - W = [[-0.3, 0], [0, 0.4]]; E[x] = [1, 2], so the
// error is [-0.3, 0.8] and C' = C - error = [0.5 + 0.3, 0 - 0.8].
// CHECK-LABEL: func.func @main(
// CHECK:         %c = nn.constant dense<[8.000000e-01, -0.799999952]> : tensor<2xf32>
// CHECK-NEXT:    %y = nn.gemm %x, %w, %c {transB = true}
func.func @main(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %w = nn.constant dense<[[0.3, 1.0], [-1.0, 0.6]]> : tensor<2x2xf32>
  %c = nn.constant dense<[0.5, 0.0]> : tensor<2xf32>
  %y = nn.gemm %x, %w, %c {transB = true} : (tensor<?x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  func.return %y : tensor<?x2xf32>
}

// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-bias-correct{mode=magic data=%t/d.npz})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=MODE
// MODE-NOT: Traceback
// MODE: unknown mode 'magic' (empirical, analytic)
// MODE-NEXT: exit 2
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-bias-correct)"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=NODATA
// NODATA-NOT: Traceback
// NODATA: mode=empirical needs option 'data'
// NODATA-NEXT: exit 2
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-bias-correct{data=%t/missing.npz})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=MISSING
// MISSING-NOT: Traceback
// MISSING: qopt-opt: error: pass 'qopt-bias-correct' failed: cannot read '{{.*}}missing.npz': No such file or directory
// MISSING-NEXT: exit 2
