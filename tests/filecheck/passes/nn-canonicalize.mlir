// RUN: qopt-opt %s -p nn-canonicalize | filecheck %s
// RUN: xdsl-opt %s -p nn-canonicalize | filecheck %s
// RUN: qopt-opt %s --pass-pipeline='builtin.module(nn-canonicalize{fold-limit=2})' | filecheck %s --check-prefix=LIMIT

// (a) identity reshape and transpose are dropped, others kept.
// CHECK-LABEL: func.func @identities(
// CHECK-NEXT:    %u = nn.transpose %x {perm = array<i64: 0, 2, 1>} : (tensor<?x2x3xf32>) -> tensor<?x3x2xf32>
// CHECK-NEXT:    func.return %x, %u : tensor<?x2x3xf32>, tensor<?x3x2xf32>
// CHECK-NEXT:  }
func.func @identities(%x: tensor<?x2x3xf32>) -> (tensor<?x2x3xf32>, tensor<?x3x2xf32>) {
  %r = nn.reshape %x : (tensor<?x2x3xf32>) -> tensor<?x2x3xf32>
  %t = nn.transpose %r {perm = array<i64: 0, 1, 2>} : (tensor<?x2x3xf32>) -> tensor<?x2x3xf32>
  %u = nn.transpose %t {perm = array<i64: 0, 2, 1>} : (tensor<?x2x3xf32>) -> tensor<?x3x2xf32>
  func.return %t, %u : tensor<?x2x3xf32>, tensor<?x3x2xf32>
}

// (b) reshape-of-reshape and transpose-of-transpose merge.
// CHECK-LABEL: func.func @merges(
// CHECK-NEXT:    %r2 = nn.reshape %x : (tensor<?x2x3xf32>) -> tensor<?x6xf32>
// CHECK-NEXT:    %t2 = nn.transpose %x {perm = array<i64: 2, 0, 1>} : (tensor<?x2x3xf32>) -> tensor<3x?x2xf32>
// CHECK-NEXT:    func.return %r2, %t2, %x : tensor<?x6xf32>, tensor<3x?x2xf32>, tensor<?x2x3xf32>
// CHECK-NEXT:  }
func.func @merges(%x: tensor<?x2x3xf32>) -> (tensor<?x6xf32>, tensor<3x?x2xf32>, tensor<?x2x3xf32>) {
  %r1 = nn.reshape %x : (tensor<?x2x3xf32>) -> tensor<?x3x2xf32>
  %r2 = nn.reshape %r1 : (tensor<?x3x2xf32>) -> tensor<?x6xf32>
  %t1 = nn.transpose %x {perm = array<i64: 0, 2, 1>} : (tensor<?x2x3xf32>) -> tensor<?x3x2xf32>
  %t2 = nn.transpose %t1 {perm = array<i64: 1, 0, 2>} : (tensor<?x3x2xf32>) -> tensor<3x?x2xf32>
  %t3 = nn.transpose %t1 {perm = array<i64: 0, 2, 1>} : (tensor<?x3x2xf32>) -> tensor<?x2x3xf32>
  func.return %r2, %t2, %t3 : tensor<?x6xf32>, tensor<3x?x2xf32>, tensor<?x2x3xf32>
}

// (b) a merge whose result would not verify ([?x6] to [?x4]) is not done.
// CHECK-LABEL: func.func @merge_not_expressible(
// CHECK-NEXT:    %r1 = nn.reshape %x : (tensor<?x6xf32>) -> tensor<12xf32>
// CHECK-NEXT:    %r2 = nn.reshape %r1 : (tensor<12xf32>) -> tensor<?x4xf32>
// CHECK-NEXT:    func.return %r2 : tensor<?x4xf32>
// CHECK-NEXT:  }
func.func @merge_not_expressible(%x: tensor<?x6xf32>) -> tensor<?x4xf32> {
  %r1 = nn.reshape %x : (tensor<?x6xf32>) -> tensor<12xf32>
  %r2 = nn.reshape %r1 : (tensor<12xf32>) -> tensor<?x4xf32>
  func.return %r2 : tensor<?x4xf32>
}

// (c) ops of constants fold into constants through the reference executor;
// the old constants are dead and removed.
// CHECK-LABEL: func.func @fold(
// CHECK-NEXT:    %d = nn.constant dense<{{\[\[}}4.000000e+00], [2.000000e+00]]> : tensor<2x1xf32>
// CHECK-NEXT:    %g = nn.constant dense<{{\[\[}}5.000000e+00, 1.100000e+01], [1.100000e+01, 2.500000e+01]]> : tensor<2x2xf32>
// CHECK-NEXT:    %f = nn.constant dense<[0.000000e+00, 0.000000e+00, 2.500000e+00]> : tensor<3xf32>
// CHECK-NEXT:    func.return %d, %g, %f : tensor<2x1xf32>, tensor<2x2xf32>, tensor<3xf32>
// CHECK-NEXT:  }

// With fold-limit=2 only the 2-element result is folded.
// LIMIT-LABEL: func.func @fold(
// LIMIT-NEXT:    %d = nn.constant dense<{{\[\[}}4.000000e+00], [2.000000e+00]]> : tensor<2x1xf32>
// LIMIT:         %g = nn.gemm %w, %w {transB = true}
// LIMIT:         %f = nn.relu %e
func.func @fold() -> (tensor<2x1xf32>, tensor<2x2xf32>, tensor<3xf32>) {
  %a = nn.constant dense<[1.0, -2.0]> : tensor<2xf32>
  %b = nn.constant dense<[3.0, 4.0]> : tensor<2xf32>
  %c = nn.add %a, %b : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %d = nn.reshape %c : (tensor<2xf32>) -> tensor<2x1xf32>
  %w = nn.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %g = nn.gemm %w, %w {transB = true} : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  %e = nn.constant dense<[-1.5, 0.0, 2.5]> : tensor<3xf32>
  %f = nn.relu %e : (tensor<3xf32>) -> tensor<3xf32>
  func.return %d, %g, %f : tensor<2x1xf32>, tensor<2x2xf32>, tensor<3xf32>
}

// (c) a result with a dynamic shape is not folded.
// CHECK-LABEL: func.func @fold_dynamic(
// CHECK-NEXT:    %a = nn.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
// CHECK-NEXT:    %r = nn.relu %a : (tensor<2xf32>) -> tensor<?xf32>
// CHECK-NEXT:    func.return %r : tensor<?xf32>
// CHECK-NEXT:  }
func.func @fold_dynamic() -> tensor<?xf32> {
  %a = nn.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %r = nn.relu %a : (tensor<2xf32>) -> tensor<?xf32>
  func.return %r : tensor<?xf32>
}

// (d) x * 1, 1 * x, x + 0, 0 + x, x - 0 and x / 1 are x ...
// CHECK-LABEL: func.func @arith_identities(
// CHECK-NEXT:    func.return %x : tensor<?x2xf32>
// CHECK-NEXT:  }
func.func @arith_identities(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %one = nn.constant dense<1.0> : tensor<2xf32>
  %zero = nn.constant dense<0.0> : tensor<1x1xf32>
  %m1 = nn.mul %x, %one : (tensor<?x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  %m2 = nn.mul %one, %m1 : (tensor<2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  %a1 = nn.add %m2, %zero : (tensor<?x2xf32>, tensor<1x1xf32>) -> tensor<?x2xf32>
  %a2 = nn.add %zero, %a1 : (tensor<1x1xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  %s1 = nn.sub %a2, %zero : (tensor<?x2xf32>, tensor<1x1xf32>) -> tensor<?x2xf32>
  %d1 = nn.div %s1, %one : (tensor<?x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  func.return %d1 : tensor<?x2xf32>
}

// ... but not when broadcasting changes the type, the constant is not a
// splat of the neutral element, or the operation is not commutative.
// CHECK-LABEL: func.func @arith_kept(
// CHECK-NEXT:    %one = nn.constant dense<1.000000e+00> : tensor<3x2xf32>
// CHECK-NEXT:    %zero = nn.constant dense<0.000000e+00> : tensor<2xf32>
// CHECK-NEXT:    %mixed = nn.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
// CHECK-NEXT:    %m = nn.mul %x, %one : (tensor<2xf32>, tensor<3x2xf32>) -> tensor<3x2xf32>
// CHECK-NEXT:    %n = nn.mul %y, %mixed : (tensor<?x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
// CHECK-NEXT:    %s = nn.sub %zero, %y : (tensor<2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
// CHECK-NEXT:    %d = nn.div %zero, %y : (tensor<2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
// CHECK-NEXT:    func.return %m, %n, %s, %d : tensor<3x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>
// CHECK-NEXT:  }
func.func @arith_kept(%x: tensor<2xf32>, %y: tensor<?x2xf32>) -> (tensor<3x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>) {
  %one = nn.constant dense<1.0> : tensor<3x2xf32>
  %zero = nn.constant dense<0.0> : tensor<2xf32>
  %mixed = nn.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %m = nn.mul %x, %one : (tensor<2xf32>, tensor<3x2xf32>) -> tensor<3x2xf32>
  %n = nn.mul %y, %mixed : (tensor<?x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  %s = nn.sub %zero, %y : (tensor<2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  %d = nn.div %zero, %y : (tensor<2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  func.return %m, %n, %s, %d : tensor<3x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>
}

// (e) unused pure ops are removed.
// CHECK-LABEL: func.func @dce(
// CHECK-NEXT:    %k = nn.relu %x : (tensor<?x2xf32>) -> tensor<?x2xf32>
// CHECK-NEXT:    func.return %k : tensor<?x2xf32>
// CHECK-NEXT:  }
func.func @dce(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %c = nn.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %u = nn.add %x, %c : (tensor<?x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  %r = nn.relu %u : (tensor<?x2xf32>) -> tensor<?x2xf32>
  %k = nn.relu %x : (tensor<?x2xf32>) -> tensor<?x2xf32>
  func.return %k : tensor<?x2xf32>
}
