// qopt-adaround: learned rounding of the weights onto the format's grid.
// One calibration row x = (1, 2, 1). With int2 weights (levels -1, 0, 1) and
// a largest weight of 1 per output column, the scales are 1. Column 0 holds
// (1, 0.3, 0.35): nearest rounding gives (1, 0, 0), an output error of
// 2 * 0.3 + 0.35 = 0.95; rounding 0.35 *up* gives 2 * 0.3 - 0.65 = -0.05,
// the smallest error of the four choices. Column 1 is the mirror image
// (1, 0.7, 0.65): nearest (1, 1, 1) errs by -0.95, rounding 0.65 *down* by
// 0.05. AdaRound finds both; iters=0 gives nearest rounding. inputs=float:
// the layer sees the float model's inputs (here the data itself); the
// default inputs=quantized needs calibrated IR (see @seq below).

// RUN: rm -rf %t && mkdir -p %t
// RUN: python -c "import numpy as np; np.save('%t/x.npy', np.array([[1, 2, 1]], np.float32)); np.savez('%t/two.npz', x=np.zeros((2, 3), np.float32), y=np.zeros((2, 3), np.float32))"

// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/x.npy weights=int2 entry=mm inputs=float})' | filecheck %s --check-prefix=MM
// RUN: xdsl-opt %s -p 'qopt-adaround{data="%t/x.npy" weights="int2" entry="mm" inputs="float"}' | filecheck %s --check-prefix=MM
// MM-LABEL: func.func @mm(
// MM-NEXT:    %w = nn.constant dense<{{\[}}[1.000000e+00, 1.000000e+00], [0.000000e+00, 1.000000e+00], [1.000000e+00, 0.000000e+00]]> : tensor<3x2xf32>
// MM-NEXT:    %y = nn.matmul %x, %w {q.weight_format = "int2", q.weight_scales = array<f64: 1.000000e+00, 1.000000e+00>} : (tensor<?x3xf32>, tensor<3x2xf32>) -> tensor<?x2xf32>

// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/x.npy weights=int2 entry=mm iters=0 inputs=float})' | filecheck %s --check-prefix=NEAREST
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
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/x.npy weights=int2 entry=gemm inputs=float bias-correct=false})' | filecheck %s --check-prefix=GEMM
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
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/img.npy weights=int2 entry=conv inputs=float})' | filecheck %s --check-prefix=CONV
// CONV-LABEL: func.func @conv(
// CONV-NEXT:    %w = nn.constant dense<{{\[}}{{\[}}{{\[}}[1.000000e+00, 0.000000e+00, 1.000000e+00]]], {{\[}}{{\[}}[1.000000e+00, 1.000000e+00, 0.000000e+00]]]]> : tensor<2x1x1x3xf32>
// CONV-NEXT:    %y = nn.conv2d %x, %w {q.weight_format = "int2", q.weight_scales = array<f64: 1.000000e+00, 1.000000e+00>

func.func @conv(%x: tensor<1x1x1x3xf32>) -> tensor<1x2x1x1xf32> {
  %w = nn.constant dense<[[[[1.0, 0.3, 0.35]]], [[[1.0, 0.7, 0.65]]]]> : tensor<2x1x1x3xf32>
  %y = nn.conv2d %x, %w : (tensor<1x1x1x3xf32>, tensor<2x1x1x3xf32>) -> tensor<1x2x1x1xf32>
  func.return %y : tensor<1x2x1x1xf32>
}

// bias-correct=true (the default) adds the mean output error E[x W - x W~]
// to the bias and rounds to minimise the error left after that. With one
// row nothing is left whatever the rounding, so it stays nearest and the
// bias takes the whole error: 0.5 + 0.95 and -0.5 - 0.95.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/x.npy weights=int2 entry=gemm inputs=float})' | filecheck %s --check-prefix=BIAS
// BIAS-LABEL: func.func @gemm(
// BIAS-NEXT:    %w = nn.constant dense<{{\[}}[1.000000e+00, 0.000000e+00, 0.000000e+00], [1.000000e+00, 1.000000e+00, 1.000000e+00]]> : tensor<2x3xf32>
// BIAS-NEXT:    %b = nn.constant dense<[1.450000e+00, -1.450000e+00]> : tensor<2xf32>

// inputs=quantized (the default) rounds the layers in order, each on the
// inputs that the quantized model (qopt-quantize with the layers before it
// rounded) gives it, against the float layer on float inputs. For x = (1, 1),
// %w1 = ((1, 1), (0.4, 0)) rounds to ((1, 1), (0, 0)) either way, so %y is
// (1, 1) instead of (1.4, 1). %w2 = (1, 0.45) targets 1.4 + 0.45 = 1.85: on
// the float %y, 0.45 -> 0 gives 1.4 (error 0.45, vs -0.55 for 1); on the
// quantized %y, 0.45 -> 1 gives 2 (error -0.15, vs 0.85 for 0), which
// corrects most of the first layer's error.
// RUN: python -c "import numpy as np; np.save('%t/ones.npy', np.ones((1, 2), np.float32))"
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/ones.npy entry=seq}, qopt-adaround{data=%t/ones.npy weights=int2 entry=seq})' | filecheck %s --check-prefix=SEQ
// SEQ-LABEL: func.func @seq(
// SEQ:         %w1 = nn.constant dense<{{\[}}[1.000000e+00, 1.000000e+00], [0.000000e+00, 0.000000e+00]]>
// SEQ:         %w2 = nn.constant dense<1.000000e+00> : tensor<2x1xf32>
// SEQ-NEXT:    %z = nn.matmul %y, %w2 {q.range = {{.*}}, q.weight_format = "int2", q.weight_scales = array<f64: 1.000000e+00>}
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/ones.npy entry=seq}, qopt-adaround{data=%t/ones.npy weights=int2 entry=seq inputs=float})' | filecheck %s --check-prefix=SEQ-FLOAT
// SEQ-FLOAT:   %w2 = nn.constant dense<{{\[}}[1.000000e+00], [0.000000e+00]]>

func.func @seq(%x: tensor<?x2xf32>) -> tensor<?x1xf32> {
  %w1 = nn.constant dense<[[1.0, 1.0], [0.4, 0.0]]> : tensor<2x2xf32>
  %y = nn.matmul %x, %w1 : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  %w2 = nn.constant dense<[[1.0], [0.45]]> : tensor<2x1xf32>
  %z = nn.matmul %y, %w2 : (tensor<?x2xf32>, tensor<2x1xf32>) -> tensor<?x1xf32>
  func.return %z : tensor<?x1xf32>
}

// A layer with a recorded q.weight_type (qopt-mixed-precision) is rounded
// onto that type's grid and keeps it: row 1 is i4 (steps of 0.25), the
// others i2 << 2 (0, +-4 levels: -1, 0, 1). Nearest rounding (iters=0):
// 0.75 -> 1, -0.3 -> 0, 0.1 -> 0, 0.5 -> 0.5, 0.26 -> 0, -0.13 -> 0.
// RUN: python -c "import numpy as np; np.save('%t/x4.npy', np.ones((2, 4), np.float32))"
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/x4.npy entry=typed iters=0 inputs=float})' | filecheck %s --check-prefix=TYPED
// TYPED-LABEL: func.func @typed(
// TYPED-NEXT:    %w = nn.constant dense<{{\[}}[1.000000e+00, 0.000000e+00], [0.000000e+00, 5.000000e-01], [-1.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00]]> : tensor<4x2xf32>
// TYPED-NEXT:    %y = nn.matmul %x, %w {q.weight_type = !q.mixed<[i2<-1:1> << 2, i4<-7:7>]:f32:1, {0.25, 0.25}, row = "0x02">} :
// TYPED-NOT:     q.weight_format

func.func @typed(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = nn.constant dense<[[0.75, -0.3], [0.1, 0.5], [-1.0, 0.26], [0.0, -0.13]]> : tensor<4x2xf32>
  %y = nn.matmul %x, %w {q.weight_type = !q.mixed<[i2<-1:1> << 2, i4<-7:7>]:f32:1, {0.25, 0.25}, row = "0x02">} : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  func.return %y : tensor<?x2xf32>
}

// scales=output picks, per column, the scale s = 2^(-k/32), k = 0..63 (the
// largest weight is 1), whose nearest rounding gives the smallest output
// error, here for x = (1, 1). %w1 column 0 (1, 0.4) targets 1.4: with s > 0.8
// the levels are (1, 0) and the output s; below, (1, 1) and 2s, closest for
// k = 16 (2 * 0.7071 = 1.414); column 1 (1, 0) keeps s = 1. %w2 on the float
// %y = (1.4, 1) targets 1.85: (1, 1) * 2.4s, closest for k = 12 (0.7711).
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/ones.npy weights=int2 entry=seq inputs=float scales=output iters=0})' | filecheck %s --check-prefix=SCALES
// SCALES:      %w1 = nn.constant dense<{{\[}}[0.707106769, 1.000000e+00], [0.707106769, 0.000000e+00]]>
// SCALES-NEXT: q.weight_scales = array<f64: 0.70710678118654757, 1.000000e+00>
// SCALES-NEXT: %w2 = nn.constant dense<0.771105409> : tensor<2x1xf32>
// SCALES-NEXT: q.weight_scales = array<f64: 0.77110541270397037>

// Errors: one line, exit status 2.
// RUN: not qopt-opt %s -p 'qopt-adaround{weights=int4}' 2>&1 | filecheck %s --check-prefix=NODATA
// NODATA:      qopt-opt: error: pass 'qopt-adaround' requires option 'data'
// NODATA-EMPTY:
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/x.npy weights=int99})' 2>&1 | filecheck %s --check-prefix=WFMT
// WFMT:        qopt-opt: error: pass 'qopt-adaround': unknown weight format 'int99' (int2..int16, {{.*}})
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
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/x.npy inputs=fake})' 2>&1 | filecheck %s --check-prefix=INPUTS
// INPUTS:      qopt-opt: error: pass 'qopt-adaround': unknown inputs 'fake' (quantized, float)
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/x.npy scales=max})' 2>&1 | filecheck %s --check-prefix=SCALESERR
// SCALESERR:   qopt-opt: error: pass 'qopt-adaround': unknown scales 'max' (quantize, output)
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/x.npy activations=pot4})' 2>&1 | filecheck %s --check-prefix=ACTS
// ACTS:        qopt-opt: error: pass 'qopt-adaround': 'pot4' is a weight format; activations take int2..int16, uint2..uint16
// inputs=quantized runs qopt-quantize on the layers before: it needs ranges.
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/x.npy entry=mm})' 2>&1 | filecheck %s --check-prefix=NORANGE
// NORANGE:     qopt-opt: error: pass 'qopt-adaround' failed: inputs=quantized runs qopt-quantize, which failed: {{.*}}has no calibrated range (q.range): run qopt-calibrate first (or use inputs=float)
// NORANGE-EMPTY:
// GROUP:       qopt-opt: error: pass 'qopt-adaround': weight granularity 'group:4' is not supported
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/nope.npy entry=mm})' 2>&1 | filecheck %s --check-prefix=MISSING
// MISSING:     qopt-opt: error: pass 'qopt-adaround' failed: cannot read '{{.*}}nope.npy': No such file or directory
// MISSING-EMPTY:
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/two.npz entry=mm})' 2>&1 | filecheck %s --check-prefix=TWO
// TWO:         qopt-opt: error: pass 'qopt-adaround' failed: 'two.npz' holds 2 arrays but @mm takes 1 argument
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-adaround{data=%t/x.npy entry=nope})' 2>&1 | filecheck %s --check-prefix=ENTRY
// ENTRY:       qopt-opt: error: pass 'qopt-adaround' failed: no function @nope to round (functions with a body: @mm, @gemm, @conv, @seq, @typed; choose one with entry=NAME)

// qopt-quantize rejects another format or granularity for a rounded layer.
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/x.npy entry=mm}, qopt-adaround{data=%t/x.npy weights=int2 entry=mm}, qopt-quantize{weights=int4 entry=mm})' 2>&1 | filecheck %s --check-prefix=OTHERFMT
// OTHERFMT:    qopt-opt: error: pass 'qopt-quantize' failed: 'nn.matmul' %y: its weights were rounded for 'int2' (qopt-adaround) but are quantized as 'int4': use the same weight format in both passes
// OTHERFMT-EMPTY:
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/x.npy entry=mm}, qopt-adaround{data=%t/x.npy weights=int2 entry=mm}, qopt-quantize{weights=int2 weight-granularity=tensor entry=mm})' 2>&1 | filecheck %s --check-prefix=OTHERGRAN
// OTHERGRAN:   qopt-opt: error: pass 'qopt-quantize' failed: 'nn.matmul' %y: q.weight_scales holds 2 scales, weight-granularity=tensor needs 1 positive ones: use the same granularity in qopt-adaround and qopt-quantize
