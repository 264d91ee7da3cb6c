// qopt-qat: quantization-aware training of the network qopt-quantize makes.
// A 2-3-2 MLP, eight samples x in [0, 1]^2, label 1 where x0 > x1.

// RUN: rm -rf %t && mkdir -p %t
// RUN: python -c "import numpy as np; x = np.array([[0, 1], [1, 0], [0.75, 0.25], [0.25, 0.5], [1, 0.5], [0.5, 1], [0, 0.25], [0.5, 0]], np.float32); np.save('%t/x.npy', x); np.save('%t/y.npy', (x[:, 0] > x[:, 1]).astype(np.int64)); np.save('%t/y7.npy', np.zeros(7, np.int64)); np.save('%t/y5.npy', np.full(8, 5)); np.save('%t/yf.npy', np.zeros(8, np.float32))"

// epochs=0 trains nothing: the weights become their nearest int2 grid values
// (per output channel, scale max|w|: row (1, -0.5) of the transB weight gives
// levels (1, 0), ties to even; (0.25, 0.75) gives (0, 1) at scale 0.75), the
// layers record the format and scales as qopt-adaround does, and every
// quantized value's range is written back (non-negative ones as [0, hi];
// the signed logits keep both bounds for uint8).
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/x.npy entry=mlp}, qopt-qat{data=%t/x.npy labels=%t/y.npy weights=int2 activations=uint8 entry=mlp epochs=0})' | filecheck %s --check-prefix=ZERO
// ZERO:       func.func @mlp(%x: tensor<?x2xf32> {q.range = #q.range<0.0, 1.0, qat>})
// ZERO-NEXT:    %w1 = nn.constant dense<{{\[}}[1.000000e+00, 0.000000e+00], [0.000000e+00, 7.500000e-01], [-1.000000e+00, 0.000000e+00]]> : tensor<3x2xf32>
// ZERO-NEXT:    %b1 = nn.constant dense<[0.000000e+00, 1.250000e-01, 0.000000e+00]>
// ZERO-NEXT:    %h = nn.gemm %x, %w1, %b1 {q.range = #q.range<-1.0, 1.0, minmax, {{.*}}>, q.weight_format = "int2", q.weight_scales = array<f64: 1.000000e+00, 7.500000e-01, 1.000000e+00>, transB = true}
// ZERO-NEXT:    %r = nn.relu %h {q.range = #q.range<0.0, 1.0, qat>}
// ZERO-NEXT:    %w2 = nn.constant dense<{{\[}}[1.000000e+00, -1.000000e+00], [0.000000e+00, 0.000000e+00], [0.000000e+00, 1.000000e+00]]>
// ZERO:         %y = nn.gemm %r, %w2, %b2 {q.range = #q.range<-1.0625, 1.4375, qat>, q.weight_format = "int2", q.weight_scales = array<f64: 1.000000e+00, 1.000000e+00>}

// Twenty epochs move weights across grid points (w1 row 0 to (1, -1), w2 row
// 1 to (1, 0)), train the biases and every range (the relu's %h keeps its
// calibrated range: qopt-quantize fuses the relu and quantizes %r only).
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/x.npy entry=mlp}, qopt-qat{data=%t/x.npy labels=%t/y.npy weights=int2 activations=uint8 entry=mlp epochs=20 lr=0.01})' | filecheck %s --check-prefix=TRAIN
// TRAIN:       func.func @mlp(%x: tensor<?x2xf32> {q.range = #q.range<0.0, [[XHI:[0-9.]+]], qat>})
// TRAIN-NEXT:    %w1 = nn.constant dense<{{\[}}[1.000000e+00, -1.000000e+00], [0.000000e+00, 7.500000e-01], [-1.000000e+00, 0.000000e+00]]>
// TRAIN-NEXT:    %b1 = nn.constant dense<[{{-?[0-9.e+-]+}}, {{-?[0-9.e+-]+}}, 0.000000e+00]>
// TRAIN-NEXT:    %h = nn.gemm %x, %w1, %b1 {q.range = #q.range<-1.0, 1.0, minmax, {{.*}}>, q.weight_format = "int2", q.weight_scales = array<f64: 1.000000e+00, 7.500000e-01, 1.000000e+00>, transB = true}
// TRAIN-NEXT:    %r = nn.relu %h {q.range = #q.range<0.0, 1.05{{[0-9]+}}, qat>}
// TRAIN-NEXT:    %w2 = nn.constant dense<{{\[}}[1.000000e+00, -1.000000e+00], [1.000000e+00, 0.000000e+00], [0.000000e+00, 1.000000e+00]]>
// TRAIN:         %y = nn.gemm %r, %w2, %b2 {q.range = #q.range<-0.87{{[0-9]+}}, 1.25{{[0-9]+}}, qat>, q.weight_format = "int2", q.weight_scales = array<f64: 1.000000e+00, 1.000000e+00>}

// qopt-quantize with the same options then uses the recorded scales and the
// trained ranges (%x: scale = hi / 255).
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/x.npy entry=mlp}, qopt-qat{data=%t/x.npy labels=%t/y.npy weights=int2 activations=uint8 entry=mlp epochs=20 lr=0.01}, qopt-quantize{weights=int2 activations=uint8 entry=mlp})' | filecheck %s --check-prefix=QUANT
// QUANT:       %x_q = q.quantize %x : (tensor<?x2xf32>) -> tensor<?x2x!q.uniform<u8:f32, 0.0045354{{[0-9]+}}>>
// QUANT-NEXT:  %w1 = q.constant "0xF101" : tensor<2x3x!q.uniform<i2<-1:1>:f32:1, {1.0, 0.75, 1.0}>>
// QUANT:       %w2 = q.constant "0x1D04" : tensor<3x2x!q.uniform<i2<-1:1>:f32:1, {1.0, 1.0}>>
// QUANT:       %y = q.requantize %y_acc {{.*}} -> tensor<?x2x!q.uniform<u8:f32, 0.0083645{{[0-9]+}}:105>>

func.func @mlp(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %w1 = nn.constant dense<[[1.0, -0.5], [0.25, 0.75], [-1.0, 0.5]]> : tensor<3x2xf32>
  %b1 = nn.constant dense<[0.0, 0.125, 0.0]> : tensor<3xf32>
  %h = nn.gemm %x, %w1, %b1 {transB = true} : (tensor<?x2xf32>, tensor<3x2xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %r = nn.relu %h : (tensor<?x3xf32>) -> tensor<?x3xf32>
  %w2 = nn.constant dense<[[1.0, -1.0], [0.5, 0.5], [-0.5, 1.0]]> : tensor<3x2xf32>
  %b2 = nn.constant dense<[0.25, -0.25]> : tensor<2xf32>
  %y = nn.gemm %r, %w2, %b2 : (tensor<?x3xf32>, tensor<3x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  func.return %y : tensor<?x2xf32>
}

// Errors: one line, exit status 2.
// RUN: not qopt-opt %s -p 'qopt-qat{data="%t/x.npy"}' 2>&1 | filecheck %s --check-prefix=NOLABELS
// NOLABELS:     qopt-opt: error: pass 'qopt-qat' requires option 'labels'
// NOLABELS-EMPTY:
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-qat{data=%t/x.npy labels=%t/y.npy weights=int99})' 2>&1 | filecheck %s --check-prefix=WFMT
// WFMT:         qopt-opt: error: pass 'qopt-qat': unknown weight format 'int99' ({{.*}})
// WFMT-EMPTY:
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-qat{data=%t/x.npy labels=%t/y.npy activations=pot4})' 2>&1 | filecheck %s --check-prefix=AFMT
// AFMT:         qopt-opt: error: pass 'qopt-qat': 'pot4' is a weight format; activations take {{.*}}
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-qat{data=%t/x.npy labels=%t/y.npy epochs=-1})' 2>&1 | filecheck %s --check-prefix=EPOCHS
// EPOCHS:       qopt-opt: error: pass 'qopt-qat': option 'epochs' must be >= 0, got -1
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-qat{data=%t/x.npy labels=%t/y.npy lr=0})' 2>&1 | filecheck %s --check-prefix=LR
// LR:           qopt-opt: error: pass 'qopt-qat': option 'lr' must be > 0, got 0.0
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/x.npy entry=mlp}, qopt-qat{data=%t/x.npy labels=%t/nope.npy entry=mlp})' 2>&1 | filecheck %s --check-prefix=MISSING
// MISSING:      qopt-opt: error: pass 'qopt-qat' failed: cannot read '{{.*}}nope.npy': No such file or directory
// MISSING-EMPTY:
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/x.npy entry=mlp}, qopt-qat{data=%t/x.npy labels=%t/y7.npy entry=mlp})' 2>&1 | filecheck %s --check-prefix=COUNT
// COUNT:        qopt-opt: error: pass 'qopt-qat' failed: 'y7.npy' holds 7 labels but the data has 8 samples
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/x.npy entry=mlp}, qopt-qat{data=%t/x.npy labels=%t/y5.npy entry=mlp})' 2>&1 | filecheck %s --check-prefix=CLASSES
// CLASSES:      qopt-opt: error: pass 'qopt-qat' failed: 'y5.npy' holds labels outside 0..1 (the logits have 2 classes)
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/x.npy entry=mlp}, qopt-qat{data=%t/x.npy labels=%t/yf.npy entry=mlp})' 2>&1 | filecheck %s --check-prefix=FLOATS
// FLOATS:       qopt-opt: error: pass 'qopt-qat' failed: 'yf.npy' holds float32 values, not integer labels
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-qat{data=%t/x.npy labels=%t/y.npy entry=mlp})' 2>&1 | filecheck %s --check-prefix=NORANGE
// NORANGE:      qopt-opt: error: pass 'qopt-qat' failed: argument %x of @mlp has no calibrated range (q.range): run qopt-calibrate first
// NORANGE-EMPTY:

// Ops without a torch function are listed at once.
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-qat{data=%t/x.npy labels=%t/y.npy entry=quantized})' 2>&1 | filecheck %s --check-prefix=NOTORCH
// NOTORCH:      qopt-opt: error: pass 'qopt-qat' failed: @quantized has ops that cannot run in torch: 'q.quantize' (2), 'q.dequantize' (2)
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-qat{data=%t/x.npy labels=%t/y.npy entry=nope})' 2>&1 | filecheck %s --check-prefix=ENTRY
// ENTRY:        qopt-opt: error: pass 'qopt-qat' failed: no function @nope to train (functions with a body: @mlp, @quantized; choose one with entry=NAME)

func.func @quantized(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %q = q.quantize %x : (tensor<?x2xf32>) -> tensor<?x2x!q.uniform<u8:f32, 0.5>>
  %d = q.dequantize %q : (tensor<?x2x!q.uniform<u8:f32, 0.5>>) -> tensor<?x2xf32>
  %q2 = q.quantize %d : (tensor<?x2xf32>) -> tensor<?x2x!q.uniform<u8:f32, 0.25>>
  %d2 = q.dequantize %q2 : (tensor<?x2x!q.uniform<u8:f32, 0.25>>) -> tensor<?x2xf32>
  func.return %d2 : tensor<?x2xf32>
}
