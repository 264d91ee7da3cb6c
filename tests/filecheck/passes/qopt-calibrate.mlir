// qopt-calibrate: run the float graph on calibration data and record a
// #q.range (with #q.stats) on every float value that depends on an argument.
// The data are built so that every range is known by hand:
//   x = (arange(24).reshape(4, 2, 3) - 8) / 4: the values -2.0, -1.75, ..., 3.75;
//   channel 0 of axis 1 holds -2.0..3.0, channel 1 -1.25..3.75.
//   wide: 3996 logistic quantiles 8 log(u / (1 - u)), u = (k + 0.5) / 3996,
//   and the outliers 512, -512, 400, -300, so that amax = 512 and every mse
//   threshold (512 k / 512) is an integer and every entropy threshold
//   (512 i / 2048) a multiple of 0.25.

// RUN: rm -rf %t && mkdir -p %t
// RUN: python -c "import numpy as np; x = (np.arange(24, dtype=np.float32).reshape(4, 2, 3) - 8) / 4; np.savez('%t/calib.npz', x=x); np.save('%t/x.npy', x); np.savez('%t/x3.npz', x=x[:3]); np.savez('%t/two.npz', b=np.array([[1, 2], [3, 4]], np.float32), a=np.array([[10, 20], [30, 40]], np.float32)); np.savez('%t/tokens.npz', i=np.array([[0, 1], [2, 1]])); u = (np.arange(3996) + 0.5) / 3996; np.save('%t/wide.npy', np.concatenate([8 * np.log(u / (1 - u)), [512, -512, 400, -300]]).astype(np.float32).reshape(1000, 4))"
// RUN: python -c "import numpy as np; x = np.zeros((4, 2, 3), np.float32); np.savez('%t/pair.npz', x=x, y=x); np.savez('%t/shape.npz', x=np.zeros((4, 3, 2), np.float32)); np.savez('%t/empty.npz', x=np.zeros((0, 2, 3), np.float32)); np.savez('%t/complex.npz', x=np.zeros((4, 2, 3), np.complex64)); np.savez('%t/floats.npz', i=np.zeros((2, 2), np.float32)); x[1, 1, 1] = np.nan; np.savez('%t/nan.npz', x=x); open('%t/junk.npz', 'w').write('junk')"

// minmax (the default): [min, max]; constants and %four (computed only from
// constants) get nothing; the two results of nn.split get q.ranges.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/calib.npz})' | filecheck %s --check-prefix=MINMAX
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/calib.npz method=minmax batch-size=1})' | filecheck %s --check-prefix=MINMAX
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/x.npy batch-size=3})' | filecheck %s --check-prefix=MINMAX
// RUN: xdsl-opt %s -p 'qopt-calibrate{data="%t/calib.npz"}' | filecheck %s --check-prefix=MINMAX
// MINMAX-LABEL: func.func @main(
// MINMAX-SAME:    %x: tensor<?x2x3xf32> {q.range = #q.range<-2.0, 3.75, minmax, stats = #q.stats<min = -2.0, max = 3.75, mean = 0.875, std = 1.73054663810793{{[0-9]*}}, count = 24>>})
// MINMAX-NEXT:    %two = nn.constant dense<2.000000e+00> : tensor<f32>
// MINMAX-NEXT:    %four = nn.mul %two, %two : (tensor<f32>, tensor<f32>) -> tensor<f32>
// MINMAX-NEXT:    %zero = nn.constant dense<0.000000e+00> : tensor<f32>
// MINMAX-NEXT:    %y = nn.mul %x, %four {q.range = #q.range<-8.0, 15.0, minmax, stats = #q.stats<min = -8.0, max = 15.0, mean = 3.5, std = 6.92218655243172{{[0-9]*}}, count = 24>>}
// MINMAX-NEXT:    %r = nn.relu %y {q.range = #q.range<0.0, 15.0, minmax, stats = #q.stats<min = 0.0, max = 15.0, mean = 5.0, std = {{.*}}, count = 24>>}
// MINMAX-NEXT:    %m = nn.sub %zero, %r {q.range = #q.range<-15.0, 0.0, minmax, stats = #q.stats<min = -15.0, max = 0.0, mean = -5.0, std = {{.*}}, count = 24>>}
// MINMAX-NEXT:    %s0, %s1 = nn.split %y {q.ranges = [#q.range<-8.0, 12.0, minmax, stats = #q.stats<min = -8.0, max = 12.0, mean = 2.0, std = {{.*}}, count = 12>>, #q.range<-5.0, 15.0, minmax, stats = #q.stats<min = -5.0, max = 15.0, mean = 5.0, std = {{.*}}, count = 12>>], axis = 1 : i64}
// MINMAX-NEXT:    func.return
// Only the entry function is calibrated.
// MINMAX-LABEL: func.func @two(%a: tensor<?x2xf32>, %b: tensor<?x2xf32>)
// MINMAX-NEXT:    %s = nn.sub %a, %b : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>

// percentile=50: signed values get [P(25), P(75)] (np.percentile, linear);
// %r (>= 0) gets [0, P(50)], %m (<= 0) gets [P(50), 0]. The same for any
// batch size (the tails are kept exactly).
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/calib.npz method=percentile percentile=50})' | filecheck %s --check-prefix=PCT
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/calib.npz method=percentile percentile=50.0 batch-size=1})' | filecheck %s --check-prefix=PCT
// PCT-LABEL: func.func @main(
// PCT-SAME:    {q.range = #q.range<-0.5625, 2.3125, percentile, stats = #q.stats<min = -2.0, max = 3.75, mean = 0.875, std = {{.*}}, count = 24>>}
// PCT:         %y = nn.mul %x, %four {q.range = #q.range<-2.25, 9.25, percentile, stats =
// PCT-NEXT:    %r = nn.relu %y {q.range = #q.range<0.0, 3.5, percentile, stats =
// PCT-NEXT:    %m = nn.sub %zero, %r {q.range = #q.range<-3.5, 0.0, percentile, stats =
// PCT-NEXT:    %s0, %s1 = nn.split %y {q.ranges = [#q.range<-3.0, 7.0, percentile, stats = {{.*}}>>, #q.range<0.0, 10.0, percentile, stats = {{.*}}>>], axis = 1 : i64}

// percentile=100 is minmax, except that 0 stays the bound of one-signed values.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/calib.npz method=percentile percentile=100})' | filecheck %s --check-prefix=PCT100
// PCT100: {q.range = #q.range<-2.0, 3.75, percentile,
// PCT100: %y = nn.mul %x, %four {q.range = #q.range<-8.0, 15.0, percentile,
// PCT100: %r = nn.relu %y {q.range = #q.range<0.0, 15.0, percentile,

// granularity=channel: per index of axis 1 for rank >= 2 (the stats stay per
// tensor); dynamic=true marks the ranges.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/calib.npz granularity=channel dynamic=true})' | filecheck %s --check-prefix=CHAN
// CHAN-LABEL: func.func @main(
// CHAN-SAME:    %x: tensor<?x2x3xf32> {q.range = #q.range<axis = 1, [-2.0, -1.25], [3.0, 3.75], minmax, dynamic, stats = #q.stats<min = -2.0, max = 3.75, mean = 0.875, std = {{.*}}, count = 24>>}
// CHAN:         %y = nn.mul %x, %four {q.range = #q.range<axis = 1, [-8.0, -5.0], [12.0, 15.0], minmax, dynamic, stats =
// CHAN-NEXT:    %r = nn.relu %y {q.range = #q.range<axis = 1, [0.0, 0.0], [12.0, 15.0], minmax, dynamic, stats =
// CHAN-NEXT:    %m = nn.sub %zero, %r {q.range = #q.range<axis = 1, [-12.0, -15.0], [0.0, 0.0], minmax, dynamic, stats =
// CHAN-NEXT:    %s0, %s1 = nn.split %y {q.ranges = [#q.range<axis = 1, [-8.0], [12.0], minmax, dynamic, stats = {{.*}}>>, #q.range<axis = 1, [-5.0], [15.0], minmax, dynamic, stats = {{.*}}>>], axis = 1 : i64}

// mse: symmetric [-T, T] for signed values, [0, T] for non-negative ones.
// At 4 bits the outliers are clipped; at 8 bits they nearly set the range.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/wide.npy entry=wide method=mse bits=4})' | filecheck %s --check-prefix=MSE4
// MSE4-LABEL: func.func @wide(%w: tensor<?x4xf32> {q.range = #q.range<-169.0, 169.0, mse, stats = #q.stats<min = -512.0, max = 512.0, mean = {{.*}}, std = {{.*}}, count = 4000>>})
// MSE4-NEXT:    %r = nn.relu %w {q.range = #q.range<0.0, 339.0, mse, stats = #q.stats<min = 0.0, max = 512.0,
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/wide.npy entry=wide method=mse})' | filecheck %s --check-prefix=MSE8
// MSE8-LABEL: func.func @wide(%w: tensor<?x4xf32> {q.range = #q.range<-507.0, 507.0, mse,
// MSE8-NEXT:    %r = nn.relu %w {q.range = #q.range<0.0, 510.0, mse,

// entropy (KL on a 2048-bin histogram of |x|) clips the outliers at any width.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/wide.npy entry=wide method=entropy batch-size=7})' | filecheck %s --check-prefix=KL8
// KL8-LABEL: func.func @wide(%w: tensor<?x4xf32> {q.range = #q.range<-72.0, 72.0, entropy,
// KL8-NEXT:    %r = nn.relu %w {q.range = #q.range<0.0, 72.0, entropy,
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/wide.npy entry=wide method=entropy bits=4})' | filecheck %s --check-prefix=KL4
// KL4-LABEL: func.func @wide(%w: tensor<?x4xf32> {q.range = #q.range<-54.5, 54.5, entropy,
// KL4-NEXT:    %r = nn.relu %w {q.range = #q.range<0.0, 63.25, entropy,

// An .npz array named like an argument goes to it, whatever its position.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/two.npz entry=two})' | filecheck %s --check-prefix=NAMES
// NAMES-LABEL: func.func @two(%a: tensor<?x2xf32> {q.range = #q.range<10.0, 40.0, minmax, stats = #q.stats<min = 10.0, max = 40.0, mean = 25.0, std = {{.*}}, count = 4>>}, %b: tensor<?x2xf32> {q.range = #q.range<1.0, 4.0, minmax, stats = #q.stats<min = 1.0, max = 4.0, mean = 2.5, std = {{.*}}, count = 4>>})
// NAMES-NEXT:    %s = nn.sub %a, %b {q.range = #q.range<9.0, 36.0, minmax,

// Integer arguments are fed but get no range; what they select does.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/tokens.npz entry=tokens})' | filecheck %s --check-prefix=INT
// INT-LABEL: func.func @tokens(%i: tensor<?x2xi64>)
// INT-NEXT:    %t = nn.constant
// INT-NEXT:    %e = nn.gather %t, %i {q.range = #q.range<-4.0, 6.0, minmax, stats = #q.stats<min = -4.0, max = 6.0, mean = 1.5, std = 3.5, count = 8>>, axis = 0 : i64}

// A static first dimension fixes the batch (here 2 samples per run).
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/calib.npz entry=static batch-size=3})' | filecheck %s --check-prefix=STATIC
// STATIC-LABEL: func.func @static(%x: tensor<2x2x3xf32> {q.range = #q.range<-2.0, 3.75, minmax,
// STATIC-NEXT:    %r = nn.relu %x {q.range = #q.range<0.0, 3.75, minmax,

// Errors: one line, exit status 2, no traceback.
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(qopt-calibrate{data=%t/missing.npz})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=MISSING
// MISSING-NOT: Traceback
// MISSING:     qopt-opt: error: pass 'qopt-calibrate' failed: cannot read '{{.*}}missing.npz': No such file or directory
// MISSING-NEXT: exit 2
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/junk.npz})' 2>&1 | filecheck %s --check-prefix=JUNK
// JUNK:        qopt-opt: error: pass 'qopt-calibrate' failed: '{{.*}}junk.npz' is not a .npy or .npz file
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/pair.npz})' 2>&1 | filecheck %s --check-prefix=COUNT
// COUNT:       qopt-opt: error: pass 'qopt-calibrate' failed: 'pair.npz' holds 2 arrays but @main takes 1 argument
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/x.npy entry=two})' 2>&1 | filecheck %s --check-prefix=NPY
// NPY:         qopt-opt: error: pass 'qopt-calibrate' failed: 'x.npy' holds one array but @two takes 2 arguments: give an .npz with one array each
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/shape.npz})' 2>&1 | filecheck %s --check-prefix=SHAPE
// SHAPE:       qopt-opt: error: pass 'qopt-calibrate' failed: 'shape.npz': array 'x' (argument 0) has shape 4x3x2, the argument is tensor<?x2x3> (axis 0 indexes the samples)
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/empty.npz})' 2>&1 | filecheck %s --check-prefix=EMPTY
// EMPTY:       qopt-opt: error: pass 'qopt-calibrate' failed: 'empty.npz' holds no samples (axis 0 has size 0)
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/complex.npz})' 2>&1 | filecheck %s --check-prefix=DTYPE
// DTYPE:       qopt-opt: error: pass 'qopt-calibrate' failed: 'complex.npz': array 'x' (argument 0) holds complex64 values, the argument expects real numbers
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/floats.npz entry=tokens})' 2>&1 | filecheck %s --check-prefix=INTDATA
// INTDATA:     qopt-opt: error: pass 'qopt-calibrate' failed: 'floats.npz': array 'i' (argument 0) holds float32 values, the argument expects integers
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/nan.npz})' 2>&1 | filecheck %s --check-prefix=NAN
// NAN:         qopt-opt: error: pass 'qopt-calibrate' failed: 'nan.npz': array 'x' (argument 0) holds NaN or infinite values
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/x3.npz entry=static})' 2>&1 | filecheck %s --check-prefix=BATCH
// BATCH:       qopt-opt: error: pass 'qopt-calibrate' failed: the calibration set has 3 samples, which is not a multiple of the static batch size 2 of @static
// quantiles=4: the stats also hold 4 equiprobable bins (edges, counts,
// means), with any method and batch size. Each edge sits in the middle of
// the gap between the 6th and 7th, 12th and 13th, ... smallest value (to
// within the 65536-bin histogram); %r has 9 zeros, so its first edge (the
// one nearest to 6 values below) leaves 9 below, between 0 and 1.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/calib.npz quantiles=4})' | filecheck %s --check-prefix=QUANT
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/calib.npz quantiles=4 method=mse batch-size=1})' | filecheck %s --check-prefix=QUANT
// QUANT-LABEL: func.func @main(
// QUANT-SAME:    stats = #q.stats<min = -2.0, max = 3.75, mean = 0.875, std = {{.*}}, count = 24, quantiles = [-0.6250572204589844, 0.875, 2.374969482421875], counts = [6, 6, 6, 6], means = [-1.375, 0.125, 1.625, 3.125]>>})
// QUANT:         %r = nn.relu %y {q.range = #q.range<0.0, 15.0, {{minmax|mse}}, stats = #q.stats<min = 0.0, max = 15.0, mean = 5.0, std = {{.*}}, count = 24, quantiles = [0.5001068115234375, 3.50006103515625, 9.499969482421875], counts = [9, 3, 6, 6], means = [0.0, 2.0, 6.5, 12.5]>>}
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/calib.npz quantiles=3})' 2>&1 | filecheck %s --check-prefix=QBINS
// QBINS:       qopt-opt: error: pass 'qopt-calibrate': option 'quantiles' must be 0 or a power of two in 2..256, got 3
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/calib.npz quantiles=512})' 2>&1 | filecheck %s --check-prefix=QBINS512
// QBINS512:    qopt-opt: error: pass 'qopt-calibrate': option 'quantiles' must be 0 or a power of two in 2..256, got 512

// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/calib.npz entry=nope})' 2>&1 | filecheck %s --check-prefix=ENTRY
// ENTRY:       qopt-opt: error: pass 'qopt-calibrate' failed: no function @nope to calibrate (functions with a body: @main, @two, @tokens, @static, @wide; choose one with entry=NAME)
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{method=mse})' 2>&1 | filecheck %s --check-prefix=NODATA
// NODATA:      qopt-opt: error: pass 'qopt-calibrate' requires option 'data'
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/calib.npz method=max})' 2>&1 | filecheck %s --check-prefix=METHOD
// METHOD:      qopt-opt: error: pass 'qopt-calibrate' option 'method' expects one of 'minmax', 'percentile', 'mse', 'entropy', got 'max'
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/calib.npz method=percentile percentile=0})' 2>&1 | filecheck %s --check-prefix=PVALUE
// PVALUE:      qopt-opt: error: pass 'qopt-calibrate': option 'percentile' must be in (0, 100], got 0.0
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/calib.npz bits=1})' 2>&1 | filecheck %s --check-prefix=BITS
// BITS:        qopt-opt: error: pass 'qopt-calibrate': option 'bits' must be in 2..16, got 1
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/calib.npz granularity=row})' 2>&1 | filecheck %s --check-prefix=GRAN
// GRAN:        qopt-opt: error: pass 'qopt-calibrate' option 'granularity' expects one of 'tensor', 'channel', got 'row'
// RUN: not qopt-opt %s --pass-pipeline='builtin.module(qopt-calibrate{data=%t/calib.npz batch-size=0})' 2>&1 | filecheck %s --check-prefix=BSIZE
// BSIZE:       qopt-opt: error: pass 'qopt-calibrate': option 'batch-size' must be at least 1, got 0

func.func @main(%x: tensor<?x2x3xf32>) -> (tensor<?x2x3xf32>, tensor<?x2x3xf32>, tensor<?x1x3xf32>, tensor<?x1x3xf32>) {
  %two = nn.constant dense<2.0> : tensor<f32>
  %four = nn.mul %two, %two : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %zero = nn.constant dense<0.0> : tensor<f32>
  %y = nn.mul %x, %four : (tensor<?x2x3xf32>, tensor<f32>) -> tensor<?x2x3xf32>
  %r = nn.relu %y : (tensor<?x2x3xf32>) -> tensor<?x2x3xf32>
  %m = nn.sub %zero, %r : (tensor<f32>, tensor<?x2x3xf32>) -> tensor<?x2x3xf32>
  %s0, %s1 = nn.split %y {axis = 1 : i64} : (tensor<?x2x3xf32>) -> (tensor<?x1x3xf32>, tensor<?x1x3xf32>)
  func.return %r, %m, %s0, %s1 : tensor<?x2x3xf32>, tensor<?x2x3xf32>, tensor<?x1x3xf32>, tensor<?x1x3xf32>
}

func.func @two(%a: tensor<?x2xf32>, %b: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %s = nn.sub %a, %b : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  func.return %s : tensor<?x2xf32>
}

func.func @tokens(%i: tensor<?x2xi64>) -> tensor<?x2x2xf32> {
  %t = nn.constant dense<[[1.0, 2.0], [3.0, -4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %e = nn.gather %t, %i {axis = 0 : i64} : (tensor<3x2xf32>, tensor<?x2xi64>) -> tensor<?x2x2xf32>
  func.return %e : tensor<?x2x2xf32>
}

func.func @static(%x: tensor<2x2x3xf32>) -> tensor<2x2x3xf32> {
  %r = nn.relu %x : (tensor<2x2x3xf32>) -> tensor<2x2x3xf32>
  func.return %r : tensor<2x2x3xf32>
}

func.func @wide(%w: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %r = nn.relu %w : (tensor<?x4xf32>) -> tensor<?x4xf32>
  func.return %r : tensor<?x4xf32>
}
