// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate-data-free{input-mean=0 input-std=1 sigmas=3})' | filecheck %s
// RUN: xdsl-opt %s -p 'qopt-calibrate-data-free{input-mean=0 input-std=1 sigmas=3.0}' | filecheck %s
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate-data-free{input-mean=0 input-std=1 method=mse})' | filecheck %s --check-prefix=MSE
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate-data-free{input-range=0,1 sigmas=3})' | filecheck %s --check-prefix=UNIFORM

// x ~ N(0, 1) per feature; y = x W + c with W = diag(2, 1), c = [1, 0]:
// y0 ~ N(1, 4), y1 ~ N(0, 1). sigma k = 3: x in [-3, 3], y in
// [min(1 - 6, -3), max(1 + 6, 3)] = [-5, 7]; relu(y0) has mean 1.39559 and
// std 1.48787 (rectified normal), so [0, 1.39559 + 3 * 1.48787 = 5.85921].
// CHECK-LABEL: func.func @main(%x: tensor<?x2xf32> {q.range = #q.range<-3.0, 3.0, analytic>})
// CHECK-NEXT:    %w = nn.constant dense<{{[^q]*}} : tensor<2x2xf32>{{$}}
// CHECK-NEXT:    %c = nn.constant dense<{{[^q]*}} : tensor<2xf32>{{$}}
// CHECK-NEXT:    %y = nn.gemm %x, %w, %c {q.range = #q.range<-5.0, 7.0, analytic>}
// CHECK-NEXT:    %r = nn.relu %y {q.range = #q.range<0.0, {{5\.85920[0-9]*}}, analytic>}
// CHECK-NEXT:    func.return %r

// mse at 8 bits: a normal law is clipped at 3.92 standard deviations (on the
// grid amax * k / 512 of qopt-calibrate's mse method, amax = 8 std).
// MSE:           func.func @main(%x: tensor<?x2xf32> {q.range = #q.range<-3.921875, 3.921875, analytic>})
// MSE:           nn.gemm {{.*}} {q.range = #q.range<-{{[0-9.]+}}, {{[0-9.]+}}, analytic>}
// MSE:           nn.relu {{.*}} {q.range = #q.range<0.0, {{[0-9.]+}}, analytic>}

// input-range=0,1: x uniform on [0, 1] (mean 0.5, std 0.2887): its range
// stays inside [0, 1]; y0 ~ N(2, 0.3333), y1 ~ N(0.5, 0.0833).
// UNIFORM:       func.func @main(%x: tensor<?x2xf32> {q.range = #q.range<0.0, 1.0, analytic>})
// UNIFORM:       nn.gemm {{.*}} {q.range = #q.range<{{-0\.366[0-9]*}}, {{3\.732[0-9]*}}, analytic>}
func.func @main(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %w = nn.constant dense<[[2.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %c = nn.constant dense<[1.0, 0.0]> : tensor<2xf32>
  %y = nn.gemm %x, %w, %c : (tensor<?x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  %r = nn.relu %y : (tensor<?x2xf32>) -> tensor<?x2xf32>
  func.return %r : tensor<?x2xf32>
}

// RUN: sh -c 'qopt-opt %S/../inputs/calibrate-data-free-sigmoid.mlir --pass-pipeline="builtin.module(qopt-calibrate-data-free{input-range=0,1})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=OP
// OP-NOT: Traceback
// OP: qopt-opt: error: pass 'qopt-calibrate-data-free' failed: 'nn.sigmoid' %s: no data-free model for this op (supported: nn.conv2d, {{.*}})
// OP-NEXT: exit 2
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-calibrate-data-free)"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=NOINPUT
// NOINPUT-NOT: Traceback
// NOINPUT: the input distribution is needed: give input-range=LO,HI and/or input-mean=M input-std=S
// NOINPUT-NEXT: exit 2
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-calibrate-data-free{input-range=1,0})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=RANGE
// RANGE: option 'input-range' must be two finite numbers LO,HI with LO < HI, got 1,0
// RANGE-NEXT: exit 2
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-calibrate-data-free{input-mean=0,0,0 input-std=1,1,1})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=CHANNELS
// CHANNELS: failed: argument %x of @main has 2 channels, 'input-mean' and 'input-std' give 3 values
// CHANNELS-NEXT: exit 2
