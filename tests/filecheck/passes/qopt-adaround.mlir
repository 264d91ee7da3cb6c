// qopt-adaround: learned rounding of the weights onto the format's grid.
// One calibration row x = (1, 2, 1). With int2 weights (levels -1, 0, 1) and
// a largest weight of 1 per output column, the scales are 1. Column 0 holds
// (1, 0.3, 0.35): nearest rounding gives (1, 0, 0), an output error of
// 2 * 0.3 + 0.35 = 0.95; rounding 0.35 *up* gives 2 * 0.3 - 0.65 = -0.05,
// the smallest error of the four choices. Column 1 is the mirror image
// (1, 0.7, 0.65): nearest (1, 1, 1) errs by -0.95, rounding 0.65 *down* by
// 0.05. AdaRound finds both; iters=0 gives nearest rounding.

// RUN: rm -rf %t && mkdir -p %t
// RUN: python -c "import numpy as np; np.save('%t/x.npy', np.array([[1, 2, 1]], np.float32)); np.savez('%t/two.npz', x=np.zeros((2, 3), np.float32), y=np.zeros((2, 3), np.float32))"

// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/x.npy weights=int2 entry=mm})' | filecheck %s --check-prefix=MM
// RUN: xdsl-opt %s -p 'qopt-adaround{data="%t/x.npy" weights="int2" entry="mm"}' | filecheck %s --check-prefix=MM
// MM-LABEL: func.func @mm(
// MM-NEXT:    %w = nn.constant dense<{{\[}}[1.000000e+00, 1.000000e+00], [0.000000e+00, 1.000000e+00], [1.000000e+00, 0.000000e+00]]> : tensor<3x2xf32>
// MM-NEXT:    %y = nn.matmul %x, %w {q.weight_format = "int2", q.weight_scales = array<f64: 1.000000e+00, 1.000000e+00>} : (tensor<?x3xf32>, tensor<3x2xf32>) -> tensor<?x2xf32>

// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/x.npy weights=int2 entry=mm iters=0})' | filecheck %s --check-prefix=NEAREST
// NEAREST:     %w = nn.constant dense<{{\[}}[1.000000e+00, 1.000000e+00], [0.000000e+00, 1.000000e+00], [0.000000e+00, 1.000000e+00]]> : tensor<3x2xf32>

// qopt-quantize uses the recorded scales: its nearest rounding gives the
// learned levels (1, 1 / 0, 1 / 1, 0), 2-bit codes 01 01 00 01 01 00.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/x.npy entry=mm}, qopt-adaround{data=%t/x.npy weights=int2 entry=mm}, qopt-quantize{weights=int2 entry=mm})' | filecheck %s --check-prefix=QUANT
// QUANT:       %w = q.constant "0x4501" : tensor<3x2x!q.uniform<i2<-1:1>:f32:1, {1.0, 1.0}>>

func.func @mm(%x: tensor<?x3xf32>) -> tensor<?x2xf32> {
  %w = nn.constant dense<[[1.0, 1.0], [0.3, 0.7], [0.35, 0.65]]> : tensor<3x2xf32>
  %y = nn.matmul %x, %w : (tensor<?x3xf32>, tensor<3x2xf32>) -> tensor<?x2xf32>
  func.return %y : tensor<?x2xf32>
}

// The same layer as a gemm with transB (weights stored [N, K]), and a conv
// with a 1x3 kernel over a 1x3 image: the same choices, in their layouts.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/x.npy weights=int2 entry=gemm})' | filecheck %s --check-prefix=GEMM
// GEMM-LABEL: func.func @gemm(
// GEMM-NEXT:    %w = nn.constant dense<{{\[}}[1.000000e+00, 0.000000e+00, 1.000000e+00], [1.000000e+00, 1.000000e+00, 0.000000e+00]]> : tensor<2x3xf32>
// GEMM-NEXT:    %b = nn.constant
// GEMM-NEXT:    %y = nn.gemm %x, %w, %b {q.weight_format = "int2", q.weight_scales = array<f64: 1.000000e+00, 1.000000e+00>, transB = true}

func.func @gemm(%x: tensor<?x3xf32>) -> tensor<?x2xf32> {
  %w = nn.constant dense<[[1.0, 0.3, 0.35], [1.0, 0.7, 0.65]]> : tensor<2x3xf32>
  %b = nn.constant dense<[0.5, -0.5]> : tensor<2xf32>
  %y = nn.gemm %x, %w, %b {transB = true} : (tensor<?x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  func.return %y : tensor<?x2xf32>
}

// RUN: python -c "import numpy as np; np.save('%t/img.npy', np.array([1, 2, 1], np.float32).reshape(1, 1, 1, 3))"
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/img.npy weights=int2 entry=conv})' | filecheck %s --check-prefix=CONV
// CONV-LABEL: func.func @conv(
// CONV-NEXT:    %w = nn.constant dense<{{\[}}{{\[}}{{\[}}[1.000000e+00, 0.000000e+00, 1.000000e+00]]], {{\[}}{{\[}}[1.000000e+00, 1.000000e+00, 0.000000e+00]]]]> : tensor<2x1x1x3xf32>
// CONV-NEXT:    %y = nn.conv2d %x, %w {q.weight_format = "int2", q.weight_scales = array<f64: 1.000000e+00, 1.000000e+00>

func.func @conv(%x: tensor<1x1x1x3xf32>) -> tensor<1x2x1x1xf32> {
  %w = nn.constant dense<[[[[1.0, 0.3, 0.35]]], [[[1.0, 0.7, 0.65]]]]> : tensor<2x1x1x3xf32>
  %y = nn.conv2d %x, %w : (tensor<1x1x1x3xf32>, tensor<2x1x1x3xf32>) -> tensor<1x2x1x1xf32>
  func.return %y : tensor<1x2x1x1xf32>
}

// Errors: one line, exit status 2.
// RUN: not qopt-opt %s -p 'qopt-adaround{weights=int4}' 2>&1 | filecheck %s --check-prefix=NODATA
// NODATA:      qopt-opt: error: pass 'qopt-adaround' requires option 'data'
// NODATA-EMPTY:
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/x.npy weights=int99})' 2>&1 | filecheck %s --check-prefix=WFMT
// WFMT:        qopt-opt: error: pass 'qopt-adaround': unknown weight format 'int99' (int2..int16, pot3, pot4, pot5, spot2, spot3, ternary)
// WFMT-EMPTY:
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/x.npy iters=-1})' 2>&1 | filecheck %s --check-prefix=ITERS
// ITERS:       qopt-opt: error: pass 'qopt-adaround': option 'iters' must be >= 0, got -1
// ITERS-EMPTY:
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/x.npy lr=0})' 2>&1 | filecheck %s --check-prefix=LR
// LR:          qopt-opt: error: pass 'qopt-adaround': option 'lr' must be > 0, got 0.0
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/x.npy reg=-1})' 2>&1 | filecheck %s --check-prefix=REG
// REG:         qopt-opt: error: pass 'qopt-adaround': option 'reg' must be >= 0, got -1.0
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/x.npy batch-size=0})' 2>&1 | filecheck %s --check-prefix=BATCH
// BATCH:       qopt-opt: error: pass 'qopt-adaround': option 'batch-size' must be at least 1, got 0
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/x.npy weight-granularity=group:4})' 2>&1 | filecheck %s --check-prefix=GROUP
// GROUP:       qopt-opt: error: pass 'qopt-adaround': weight granularity 'group:4' is not supported
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/nope.npy entry=mm})' 2>&1 | filecheck %s --check-prefix=MISSING
// MISSING:     qopt-opt: error: pass 'qopt-adaround' failed: cannot read '{{.*}}nope.npy': No such file or directory
// MISSING-EMPTY:
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/two.npz entry=mm})' 2>&1 | filecheck %s --check-prefix=TWO
// TWO:         qopt-opt: error: pass 'qopt-adaround' failed: 'two.npz' holds 2 arrays but @mm takes 1 argument
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/x.npy entry=nope})' 2>&1 | filecheck %s --check-prefix=ENTRY
// ENTRY:       qopt-opt: error: pass 'qopt-adaround' failed: no function @nope to round (functions with a body: @mm, @gemm, @conv; choose one with entry=NAME)

// qopt-quantize rejects another format or granularity for a rounded layer.
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/x.npy entry=mm}, qopt-adaround{data=%t/x.npy weights=int2 entry=mm}, qopt-quantize{weights=int4 entry=mm})' 2>&1 | filecheck %s --check-prefix=OTHERFMT
// OTHERFMT:    qopt-opt: error: pass 'qopt-quantize' failed: 'nn.matmul' %y: its weights were rounded for 'int2' (qopt-adaround) but are quantized as 'int4': use the same weight format in both passes
// OTHERFMT-EMPTY:
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/x.npy entry=mm}, qopt-adaround{data=%t/x.npy weights=int2 entry=mm}, qopt-quantize{weights=int2 weight-granularity=tensor entry=mm})' 2>&1 | filecheck %s --check-prefix=OTHERGRAN
// OTHERGRAN:   qopt-opt: error: pass 'qopt-quantize' failed: 'nn.matmul' %y: q.weight_scales holds 2 scales, weight-granularity=tensor needs 1 positive ones: use the same granularity in qopt-adaround and qopt-quantize
