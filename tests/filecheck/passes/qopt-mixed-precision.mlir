// RUN: rm -rf %t && mkdir -p %t
// RUN: python -c "import numpy as np; np.savez('%t/d.npz', x=np.array([[4.0, 0.1, 0.1, 0.1], [-4.0, 0.1, 0.1, 0.1]], np.float32))"

// qopt-mixed-precision records the !q.mixed type of the layer's weights
// ([K, N] for a gemm: a row is one input feature, scales per column) and
// qopt-quantize emits exactly it. avg-bits=3.5 with int2/int8 on 8 weights:
// (3.5 - 2) * 8 / (8 - 2) = 2 weights, i.e. one row of 2, get int8. By
// magnitude (squared int2 error per row) row 1 = [0.1, 0.5] wins.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-mixed-precision{avg-bits=3.5 granularity=row})' | filecheck %s
// RUN: xdsl-opt %s -p 'qopt-mixed-precision{avg-bits=3.5 granularity="row"}' | filecheck %s
// CHECK-LABEL: func.func @main(
// CHECK-NEXT:    %w = nn.constant dense<{{\[\[}}7.500000e-01, -3.000000e-01]
// CHECK-NEXT:    %y = nn.gemm %x, %w {q.range = #q.range<-1.984375, 1.984375>, q.weight_type = !q.mixed<[i2<-1:1> << 5, i8<-127:127>]:f32:1, {{{.*}}}, row = "0x02">}
func.func @main(%x: tensor<?x4xf32> {q.range = #q.range<-1.984375, 1.984375>}) -> tensor<?x2xf32> {
  %w = nn.constant dense<[[0.75, -0.3], [0.1, 0.5], [-1.0, 0.26], [0.0, -0.13]]> : tensor<4x2xf32>
  %y = nn.gemm %x, %w {q.range = #q.range<-1.984375, 1.984375>} : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  func.return %y : tensor<?x2xf32>
}

// qopt-quantize (whatever its weights option) quantizes to the recorded type:
// 6 int2 codes + 2 int8 codes = 28 bits -> 4 bytes.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-mixed-precision{avg-bits=3.5 granularity=row},qopt-quantize{weights=int4})' | filecheck %s --check-prefix=Q
// Q:      %w = q.constant "0x{{[0-9A-F]+}}" : tensor<4x2x!q.mixed<[i2<-1:1> << 5, i8<-127:127>]:f32:1, {{{.*}}}, row = "0x02">>
// Q-NEXT: %y_acc = q.matmul %x_q, %w

// criterion=hessian: E[x^2] of input feature 0 is 16 (others 0.01), so row 0
// is the sensitive one.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-mixed-precision{avg-bits=3.5 granularity=row criterion=hessian data=%t/d.npz})' | filecheck %s --check-prefix=HESS
// HESS: q.weight_type = !q.mixed<[i2<-1:1> << {{[0-9]+}}, i8<-127:127>]:f32:1, {{{.*}}}, row = "0x01">

// outliers: the 2 largest |w| (flat indices 0 and 4: 0.75 and -1.0) are int8.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-mixed-precision{avg-bits=3.5 granularity=outliers})' | filecheck %s --check-prefix=OUT
// OUT: q.weight_type = !q.mixed<[i2<-1:1> << {{[0-9]+}}, i8<-127:127>]:f32:1, {{{.*}}}, outliers = "0x0000000004000000">
// outliers:0.2 caps them at floor(0.2 * 8) = 1 (the largest, -1.0).
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-mixed-precision{avg-bits=3.5 granularity=outliers:0.2})' | filecheck %s --check-prefix=CAP
// CAP: outliers = "0x04000000">

// block:2 with int2/int4 at 2.9 bits: 0.9 * 8 / (2 * 2) = 1.8 -> one block.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-mixed-precision{avg-bits=2.9 granularity=block:2 low=int2 high=int4})' | filecheck %s --check-prefix=BLOCK
// BLOCK: q.weight_type = !q.mixed<[i2<-1:1>{{( << [0-9]+)?}}, i4<-7:7>]:f32:1, {{{.*}}}, block 2 = "0x02">

// budget=model: one budget for all layers' weights. @two has 8 + 4 = 12
// weights; at 3.5 bits, 12 * 1.5 = 18 bits may be added to int2, one row
// of 2 weights at int8 (12 bits). Per layer (budget=layer), %a gets its
// row 0 although all its weights are exact in int2 (-1, 0, 1), and %b's 4
// weights cannot afford a row. With budget=model the row goes where the
// model's output error is largest: %b's row 1 (0.3, 0.55), whose int2
// error (0.09 and 0 against 0 and 0.04 for row 0) is the largest, each
// unit weighted by the measured output error per unit of layer error.
// RUN: python -c "import numpy as np; np.save('%t/x.npy', np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32))"
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-mixed-precision{avg-bits=3.5 criterion=hessian data=%t/x.npy entry=two})' | filecheck %s --check-prefix=PERLAYER
// PERLAYER:      %y = nn.gemm %x, %a {q.weight_type = !q.mixed<[i2<-1:1>, i8<-127:127>]:f32:1, {1.0, 1.0}, row = "0x01">}
// PERLAYER:      %z = nn.gemm %y, %b {q.weight_type = !q.mixed<{{.*}}, row = "0x00">}
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-mixed-precision{avg-bits=3.5 criterion=hessian budget=model data=%t/x.npy entry=two})' | filecheck %s --check-prefix=MODEL
// MODEL:         %y = nn.gemm %x, %a {q.weight_type = !q.mixed<[i2<-1:1>, i8<-127:127>]:f32:1, {1.0, 1.0}, row = "0x00">}
// MODEL:         %z = nn.gemm %y, %b {q.weight_type = !q.mixed<[i2<-1:1> << {{[0-9]+}}, i8<-127:127>]:f32:1, {{{.*}}}, row = "0x02">}

// granularity=layer: each layer gets one of the candidate formats, the
// assignment with the smallest sum of the layers' output MSEs (each layer
// alone at the format, on the data) within avg-bits. At 5.34 bits (64.08
// bits for 12 weights) pot4 everywhere (48) or %a pot4 + %b int8 (64) fit,
// %a int8 (64 + 16) does not; %a is exact in pot4, %b is not: %b gets int8.
// The recorded types are qopt-quantize's (scales of pot4: 1/64; int8:
// max|w| / 127 per column).
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-mixed-precision{avg-bits=5.34 granularity=layer candidates={pot4,int8} data=%t/x.npy entry=two})' | filecheck %s --check-prefix=LAYER
// LAYER:         %y = nn.gemm %x, %a {q.weight_type = !q.pot<i4:f32:1, {0.015625, 0.015625}>}
// LAYER:         %z = nn.gemm %y, %b {q.weight_type = !q.uniform<i8<-127:127>:f32:1, {0.0070866139854971815, 0.004330708755282905}>}
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-mixed-precision{avg-bits=5.34 granularity=layer candidates={pot4,int8} data=%t/x.npy entry=two},qopt-calibrate{data=%t/x.npy entry=two},qopt-quantize{entry=two})' | filecheck %s --check-prefix=LAYERQ
// LAYERQ:        %a = q.constant {{.*}} : tensor<4x2x!q.pot<i4:f32:1, {0.015625, 0.015625}>>
// LAYERQ:        %b = q.constant {{.*}} : tensor<2x2x!q.uniform<i8<-127:127>:f32:1, {0.0070866139854971815, 0.004330708755282905}>>

func.func @two(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %a = nn.constant dense<[[1.0, -1.0], [0.0, 1.0], [-1.0, 0.0], [1.0, 1.0]]> : tensor<4x2xf32>
  %y = nn.gemm %x, %a : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  %b = nn.constant dense<[[0.9, -0.2], [0.3, 0.55]]> : tensor<2x2xf32>
  %z = nn.gemm %y, %b : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  func.return %z : tensor<?x2xf32>
}

// Errors are one line, exit 2.
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-mixed-precision{granularity=block:3})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=ERR-BLOCK
// ERR-BLOCK-NOT: Traceback
// ERR-BLOCK: qopt-opt: error: pass 'qopt-mixed-precision' failed: 'nn.gemm' %y: block size 3 does not divide the last weight axis (2)
// ERR-BLOCK-NEXT: exit 2
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-mixed-precision{granularity=col})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=ERR-GRAN
// ERR-GRAN: unknown granularity 'col' (row, block:N, outliers, outliers:F with 0 <= F <= 1, layer)
// ERR-GRAN-NEXT: exit 2
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-mixed-precision{low=int8 high=int4})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=ERR-ORDER
// ERR-ORDER: option 'low' (int8) must be narrower than 'high' (int4)
// ERR-ORDER-NEXT: exit 2
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-mixed-precision{avg-bits=1.5})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=ERR-BITS
// ERR-BITS: option 'avg-bits' must be at least the low format's 2 bits, got 1.5
// ERR-BITS-NEXT: exit 2
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-mixed-precision{criterion=hessian})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=ERR-DATA
// ERR-DATA: criterion=hessian needs option 'data'
// ERR-DATA-NEXT: exit 2
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-mixed-precision{criterion=fisher})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=ERR-CRIT
// ERR-CRIT: unknown criterion 'fisher' (magnitude, hessian)
// ERR-CRIT-NEXT: exit 2
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-mixed-precision{low=pot4})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=ERR-FMT
// ERR-FMT: option 'low' must be int2..int16, got 'pot4'
// ERR-FMT-NEXT: exit 2
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-mixed-precision{criterion=hessian data=%t/missing.npz})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=ERR-MISSING
// ERR-MISSING: qopt-opt: error: pass 'qopt-mixed-precision' failed: cannot read '{{.*}}missing.npz': No such file or directory
// ERR-MISSING-NEXT: exit 2
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-mixed-precision{budget=all})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=ERR-BUDGET
// ERR-BUDGET: unknown budget 'all' (layer, model)
// ERR-BUDGET-NEXT: exit 2
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-mixed-precision{budget=model})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=ERR-MODEL
// ERR-MODEL: budget=model needs option 'data'
// ERR-MODEL-NEXT: exit 2
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-mixed-precision{granularity=layer})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=ERR-LAYER
// ERR-LAYER: granularity=layer needs option 'data'
// ERR-LAYER-NEXT: exit 2
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-mixed-precision{candidates=int4,int8})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=ERR-CAND
// ERR-CAND: option 'candidates' is for granularity=layer
// ERR-CAND-NEXT: exit 2
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-mixed-precision{granularity=layer candidates={int4,pot4} avg-bits=3 data=%t/x.npy})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=ERR-NARROW
// ERR-NARROW: option 'avg-bits' must be at least the narrowest candidate's 4 bits, got 3.0
// ERR-NARROW-NEXT: exit 2
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-mixed-precision{granularity=layer candidates={int4,fp8} data=%t/x.npy})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=ERR-CFMT
// ERR-CFMT: unknown weight format 'fp8'
// ERR-CFMT-NEXT: exit 2
