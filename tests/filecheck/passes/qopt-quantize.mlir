// qopt-quantize: calibrated nn IR -> q integer IR. Every function below is
// rewritten on its own (entry=NAME). Ranges are written by hand so that the
// scales are exact: an int8 range of +-1.984375 (127/64) gives scale 1/64
// (0.015625); [0, 3.984375] (255/64) gives u8 with scale 1/64. Weights with
// a largest magnitude of 1 per output channel get int8 scale 1/127.

// RUN: rm -rf %t && mkdir -p %t
// RUN: echo 'fc1 : weights=pot4 acts=uint8 # first match wins' > %t/recipe.txt
// RUN: echo 'nn.gemm : weights=int4' >> %t/recipe.txt
// RUN: echo 'fc1 weights=pot4' > %t/bad.txt
// RUN: echo 'fc1 : weights=pot9' > %t/badfmt.txt
// RUN: echo 'r : acts=thr2' > %t/thr.txt

// Conv + relu: x i8 (1/64), per-channel int8 weights (max 1.984375 -> 1/64,
// max 0.5 -> 0.5/127), a 32-bit bias at sx * sw -> an i33 accumulator. The
// relu's range [0, 5] gives u8 with scale 5/255: the requantize saturates at
// level 0 = real 0, so the relu is dropped. Channel 0: sx * sw / so =
// (1/4096) / (5/255) = 51 / 2^12.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(qopt-quantize{entry=conv})' | filecheck %s --check-prefix=CONV
// CONV-LABEL: func.func @conv(
// CONV-NEXT:    %x_q = q.quantize %x : (tensor<1x1x3x3xf32>) -> tensor<1x1x3x3x!q.uniform<i8:f32, 0.015625>>
// CONV-NEXT:    %w = q.constant "0x7FE010017FC00020" : tensor<2x1x2x2x!q.uniform<i8<-127:127>:f32:0, {0.015625, 0.003937007874015748}>>
// CONV-NEXT:    %b = q.constant "0x0008000020F0FFFF" : tensor<2x!q.uniform<i32:f32:0, {0.000244140625, 6.151574803149606e-05}>>
// CONV-NEXT:    %c = q.conv2d %x_q, %w, %b {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x1x3x3x!q.uniform<i8:f32, 0.015625>>, tensor<2x1x2x2x!q.uniform<i8<-127:127>:f32:0, {0.015625, 0.003937007874015748}>>, tensor<2x!q.uniform<i32:f32:0, {0.000244140625, 6.151574803149606e-05}>>) -> tensor<1x2x2x2x!q.uniform<i33:f32:1, {0.000244140625, 6.151574803149606e-05}>>
// CONV-NEXT:    %r = q.requantize %c {multiplier = array<i64: 51, 52635>, shift = array<i64: 12, 24>} : (tensor<1x2x2x2x!q.uniform<i33:f32:1, {0.000244140625, 6.151574803149606e-05}>>) -> tensor<1x2x2x2x!q.uniform<u8:f32, 0.0196078431372549>>
// CONV-NEXT:    %r_dq = q.dequantize %r : (tensor<1x2x2x2x!q.uniform<u8:f32, 0.0196078431372549>>) -> tensor<1x2x2x2xf32>
// CONV-NEXT:    func.return %r_dq : tensor<1x2x2x2xf32>
// CONV-NEXT:  }

// The rewritten function runs (float in, float out) close to the float one
// (3.230469, 0, 4.570557, 1.625, 0.375, 0, 0.804688, 0.308594).
// RUN: qopt-opt %s -p 'qopt-quantize{entry=conv}' | qopt-run - --entry conv -i '[[[[1.0, -0.5, 0.25], [1.984375, 0.0, -1.984375], [0.5, 0.5, 0.5]]]]' | filecheck %s --check-prefix=RUN-CONV
// RUN-CONV:      result 0: tensor<1x2x2x2xf32>
// RUN-CONV-NEXT:   3.235294, 0.000000
// RUN-CONV-NEXT:   4.568628, 1.627451
// RUN-CONV-NEXT:   0.372549, 0.000000
// RUN-CONV-NEXT:   0.803922, 0.313726

// Residual adds. %a (range +-4: scale 4/127) + %x (1/64): the coarser %a is
// requantized to 1/64 (ratio 256/127 = 16513 / 2^13) into an i10, q.add is
// exact at 1/64, the fused relu's range [0, 6] gives u8 6/255 (85 / 2^7 =
// (1/64) / (6/255)). %m (range 127/32: scale 1/32) + %x: the ratio is 2, so
// q.add aligns by a shift and no requantize is needed before it.
// RUN: qopt-opt %s -p 'qopt-quantize{entry=residual}' | filecheck %s --check-prefix=RES
// RES-LABEL: func.func @residual(
// RES-NEXT:    %x_q = q.quantize %x : (tensor<?x4xf32>) -> tensor<?x4x!q.uniform<i8:f32, 0.015625>>
// RES-NEXT:    %w = q.constant "0x7F2000C0407F000000007F208100407F" : tensor<4x4x!q.uniform<i8<-127:127>:f32:1, {0.007874015748031496, 0.007874015748031496, 0.007874015748031496, 0.007874015748031496}>>
// RES-NEXT:    %a_acc = q.matmul %x_q, %w : {{.*}} -> tensor<?x4x!q.uniform<i17:f32:1, {0.00012303149606299212, 0.00012303149606299212, 0.00012303149606299212, 0.00012303149606299212}>>
// RES-NEXT:    %a = q.requantize %a_acc {multiplier = array<i64: 1, 1, 1, 1>, shift = array<i64: 8, 8, 8, 8>} : {{.*}} -> tensor<?x4x!q.uniform<i8:f32, 0.031496062992125984>>
// RES-NEXT:    %a_aligned = q.requantize %a {multiplier = array<i64: 16513>, shift = array<i64: 13>} : (tensor<?x4x!q.uniform<i8:f32, 0.031496062992125984>>) -> tensor<?x4x!q.uniform<i10:f32, 0.015625>>
// RES-NEXT:    %s = q.add %a_aligned, %x_q : (tensor<?x4x!q.uniform<i10:f32, 0.015625>>, tensor<?x4x!q.uniform<i8:f32, 0.015625>>) -> tensor<?x4x!q.uniform<i11:f32, 0.015625>>
// RES-NEXT:    %r = q.requantize %s {multiplier = array<i64: 85>, shift = array<i64: 7>} : (tensor<?x4x!q.uniform<i11:f32, 0.015625>>) -> tensor<?x4x!q.uniform<u8:f32, 0.023529411764705882>>
// RES-NEXT:    %r_dq = q.dequantize %r
// RES-NEXT:    %w_1 = q.constant
// RES-NEXT:    %m_acc = q.matmul %x_q, %w_1
// RES-NEXT:    %m = q.requantize %m_acc {multiplier = array<i64: 16513, 16513, 16513, 16513>, shift = array<i64: 22, 22, 22, 22>} : {{.*}} -> tensor<?x4x!q.uniform<i8:f32, 0.03125>>
// RES-NEXT:    %t_acc = q.add %x_q, %m : (tensor<?x4x!q.uniform<i8:f32, 0.015625>>, tensor<?x4x!q.uniform<i8:f32, 0.03125>>) -> tensor<?x4x!q.uniform<i10:f32, 0.015625>>
// RES-NEXT:    %t = q.requantize %t_acc {multiplier = array<i64: 52019>, shift = array<i64: 17>} : (tensor<?x4x!q.uniform<i10:f32, 0.015625>>) -> tensor<?x4x!q.uniform<i8:f32, 0.03937007874015748>>
// RES-NEXT:    %t_dq = q.dequantize %t
// RES-NEXT:    func.return %r_dq, %t_dq : tensor<?x4xf32>, tensor<?x4xf32>
// RUN: qopt-opt %s -p 'qopt-quantize{entry=residual}' | qopt-run - --entry residual -i '[[1.0, -0.5, 0.25, 1.984375]]' | filecheck %s --check-prefix=RUN-RES
// RUN-RES:      result 0: tensor<?x4xf32> (shape 1x4)
// RUN-RES-NEXT:   0.000000, 0.000000, 1.505882, 3.529412
// RUN-RES-NEXT: result 1: tensor<?x4xf32> (shape 1x4)
// RUN-RES-NEXT:   0.866142, -0.511811, 0.984252, 3.110236

// A relu whose (hand-written) range is signed keeps a q.relu after the
// requantize; a clip(0, 1) whose range reaches 3.98 clamps at level 64 = 1.0.
// RUN: qopt-opt %s -p 'qopt-quantize{entry=fused}' | filecheck %s --check-prefix=FUSED
// FUSED-LABEL: func.func @fused(
// FUSED:         %a = q.matmul %x_q, %w
// FUSED-NEXT:    %r_rq = q.requantize %a {multiplier = array<i64: 43919, 43919, 43919, 43919>, shift = array<i64: 23, 23, 23, 23>} : {{.*}} -> tensor<?x4x!q.uniform<i8:f32, 0.023499015748031496>>
// FUSED-NEXT:    %r = q.relu %r_rq : (tensor<?x4x!q.uniform<i8:f32, 0.023499015748031496>>) -> tensor<?x4x!q.uniform<i8:f32, 0.023499015748031496>>
// FUSED:         %b = q.matmul %x_q, %w_1
// FUSED-NEXT:    %k_rq = q.requantize %b {multiplier = array<i64: 16513, 16513, 16513, 16513>, shift = array<i64: 21, 21, 21, 21>} : {{.*}} -> tensor<?x4x!q.uniform<u8:f32, 0.015625>>
// FUSED-NEXT:    %k = q.clamp %k_rq {min = 0 : i64, max = 64 : i64} : (tensor<?x4x!q.uniform<u8:f32, 0.015625>>) -> tensor<?x4x!q.uniform<u8:f32, 0.015625>>
// FUSED-NOT:     nn.
// FUSED-LABEL: func.func @elementwise(

// A relu after single-use reshape/flatten is fused too: the layout ops move
// to the quantized value and the relu's range [0, 1.9921875] gives u8 1/128.
// RUN: qopt-opt %s -p 'qopt-quantize{entry=chain}' | filecheck %s --check-prefix=CHAIN
// CHAIN-LABEL: func.func @chain(
// CHAIN:         %c = q.conv2d %x_q, %w
// CHAIN-NEXT:    %r_rq = q.requantize %c {multiplier = array<i64: 16513, 16513>, shift = array<i64: 20, 20>} : {{.*}} -> tensor<?x2x1x4x!q.uniform<u8:f32, 0.0078125>>
// CHAIN-NEXT:    %s = nn.reshape %r_rq : (tensor<?x2x1x4x!q.uniform<u8:f32, 0.0078125>>) -> tensor<?x2x4x!q.uniform<u8:f32, 0.0078125>>
// CHAIN-NEXT:    %r = nn.flatten %s : (tensor<?x2x4x!q.uniform<u8:f32, 0.0078125>>) -> tensor<?x8x!q.uniform<u8:f32, 0.0078125>>
// CHAIN-NEXT:    %r_dq = q.dequantize %r
// CHAIN-NEXT:    func.return %r_dq

// Standalone relu/clip and layout ops on quantized values: q.relu on i8,
// clip(-0.5, 1) as q.clamp [-32, 64], relu of a u8 value is the identity,
// reshape and transpose carry the quantized element type.
// RUN: qopt-opt %s -p 'qopt-quantize{entry=elementwise}' | filecheck %s --check-prefix=ELEM
// ELEM-LABEL: func.func @elementwise(
// ELEM-NEXT:    %x_q = q.quantize %x : (tensor<?x4xf32>) -> tensor<?x4x!q.uniform<i8:f32, 0.015625>>
// ELEM-NEXT:    %u_q = q.quantize %u : (tensor<?x4xf32>) -> tensor<?x4x!q.uniform<u8:f32, 0.015625>>
// ELEM-NEXT:    %u_dq = q.dequantize %u_q
// ELEM-NEXT:    %r = q.relu %x_q : (tensor<?x4x!q.uniform<i8:f32, 0.015625>>) -> tensor<?x4x!q.uniform<i8:f32, 0.015625>>
// ELEM-NEXT:    %r_dq = q.dequantize %r
// ELEM-NEXT:    %c = q.clamp %x_q {min = -32 : i64, max = 64 : i64} : (tensor<?x4x!q.uniform<i8:f32, 0.015625>>) -> tensor<?x4x!q.uniform<i8:f32, 0.015625>>
// ELEM-NEXT:    %c_dq = q.dequantize %c
// ELEM-NEXT:    %t = nn.reshape %u_q : (tensor<?x4x!q.uniform<u8:f32, 0.015625>>) -> tensor<?x2x2x!q.uniform<u8:f32, 0.015625>>
// ELEM-NEXT:    %p = nn.transpose %t {perm = array<i64: 0, 2, 1>} : (tensor<?x2x2x!q.uniform<u8:f32, 0.015625>>) -> tensor<?x2x2x!q.uniform<u8:f32, 0.015625>>
// ELEM-NEXT:    %p_dq = q.dequantize %p : (tensor<?x2x2x!q.uniform<u8:f32, 0.015625>>) -> tensor<?x2x2xf32>
// ELEM-NEXT:    func.return %r_dq, %c_dq, %u_dq, %p_dq

// Pools: maxpool keeps the type; average pools are window sums (scale
// 1/64 / 4 and 1/64 / 16) requantized to their ranges; the concat's inputs
// are requantized to the type of its range (equal types), flatten passes the
// quantized value through.
// RUN: qopt-opt %s -p 'qopt-quantize{entry=pools}' | filecheck %s --check-prefix=POOL
// RUN: qopt-opt %s -p 'qopt-quantize{entry=pools}' --print-op-generic | qopt-opt | filecheck %s --check-prefix=POOL
// POOL-LABEL: func.func @pools(
// POOL-NEXT:    %x_q = q.quantize %x : (tensor<?x2x4x4xf32>) -> tensor<?x2x4x4x!q.uniform<u8:f32, 0.015625>>
// POOL-NEXT:    %m = q.maxpool2d %x_q {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, ceil_mode = false} : (tensor<?x2x4x4x!q.uniform<u8:f32, 0.015625>>) -> tensor<?x2x2x2x!q.uniform<u8:f32, 0.015625>>
// POOL-NEXT:    %f = nn.flatten %m : (tensor<?x2x2x2x!q.uniform<u8:f32, 0.015625>>) -> tensor<?x8x!q.uniform<u8:f32, 0.015625>>
// POOL-NEXT:    %f_dq = q.dequantize %f
// POOL-NEXT:    %a_acc = q.avgpool2d %x_q {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, ceil_mode = false} : (tensor<?x2x4x4x!q.uniform<u8:f32, 0.015625>>) -> tensor<?x2x2x2x!q.uniform<i11:f32, 0.00390625>>
// POOL-NEXT:    %a = q.requantize %a_acc {multiplier = array<i64: 255>, shift = array<i64: 8>} : (tensor<?x2x2x2x!q.uniform<i11:f32, 0.00390625>>) -> tensor<?x2x2x2x!q.uniform<u8:f32, 0.00392156862745098>>
// POOL-NEXT:    %g_acc = q.avgpool2d %x_q {kernel_shape = array<i64: 4, 4>, strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, ceil_mode = false} : (tensor<?x2x4x4x!q.uniform<u8:f32, 0.015625>>) -> tensor<?x2x1x1x!q.uniform<i13:f32, 0.0009765625>>
// POOL-NEXT:    %g = q.requantize %g_acc {multiplier = array<i64: 255>, shift = array<i64: 11>} : (tensor<?x2x1x1x!q.uniform<i13:f32, 0.0009765625>>) -> tensor<?x2x1x1x!q.uniform<u8:f32, 0.00784313725490196>>
// POOL-NEXT:    %g_dq = q.dequantize %g
// POOL-NEXT:    %a_rq = q.requantize %a {multiplier = array<i64: 32897>, shift = array<i64: 17>} : (tensor<?x2x2x2x!q.uniform<u8:f32, 0.00392156862745098>>) -> tensor<?x2x2x2x!q.uniform<u8:f32, 0.015625>>
// POOL-NEXT:    %c = nn.concat %m, %a_rq {axis = 1 : i64} : (tensor<?x2x2x2x!q.uniform<u8:f32, 0.015625>>, tensor<?x2x2x2x!q.uniform<u8:f32, 0.015625>>) -> tensor<?x4x2x2x!q.uniform<u8:f32, 0.015625>>
// POOL-NEXT:    %c_dq = q.dequantize %c
// POOL-NEXT:    func.return %f_dq, %g_dq, %c_dq

// Float fallback: the softmax takes the dequantized %a and its result is
// quantized (u8, its range [0, 1]) for the next matmul.
// RUN: qopt-opt %s -p 'qopt-quantize{entry=fallback}' | filecheck %s --check-prefix=FALL
// FALL-LABEL: func.func @fallback(
// FALL:          %a = q.requantize %a_acc {{.*}} -> tensor<?x4x!q.uniform<i8:f32, 0.031496062992125984>>
// FALL-NEXT:     %a_dq = q.dequantize %a : (tensor<?x4x!q.uniform<i8:f32, 0.031496062992125984>>) -> tensor<?x4xf32>
// FALL-NEXT:     %p = nn.softmax %a_dq {q.range = #q.range<0.0, 1.0>} : (tensor<?x4xf32>) -> tensor<?x4xf32>
// FALL-NEXT:     %p_q = q.quantize %p : (tensor<?x4xf32>) -> tensor<?x4x!q.uniform<u8:f32, 0.00392156862745098>>
// FALL-NEXT:     %v = q.constant "0x7F81404020E0007F" : tensor<4x2x!q.uniform<i8<-127:127>:f32:1, {0.007874015748031496, 0.007874015748031496}>>
// FALL-NEXT:     %y_acc = q.matmul %p_q, %v : {{.*}} -> tensor<?x2x!q.uniform<i18:f32:1, {3.087849312953528e-05, 3.087849312953528e-05}>>
// FALL-NEXT:     %y = q.requantize %y_acc {multiplier = array<i64: 32897, 32897>, shift = array<i64: 23, 23>}
// FALL-NOT:      nn.constant
// FALL-LABEL: func.func @lut(

// A matmul followed by the add of a constant row takes it as its bias.
// RUN: qopt-opt %s -p 'qopt-quantize{entry=bias_add}' | filecheck %s --check-prefix=BADD
// BADD-LABEL: func.func @bias_add(
// BADD:          %b = q.constant "0xE00F000020F0FFFF" : tensor<2x!q.uniform<i32:f32:0, {0.00012303149606299212, 0.00012303149606299212}>>
// BADD-NEXT:     %m = q.matmul %x_q, %w, %b : {{.*}} -> tensor<?x3x2x!q.uniform<i33:f32:2, {0.00012303149606299212, 0.00012303149606299212}>>
// BADD-NEXT:     %y = q.requantize %m {multiplier = array<i64: 37449, 37449>, shift = array<i64: 23, 23>} : {{.*}} -> tensor<?x3x2x!q.uniform<i8:f32, 0.027559055118110236>>
// BADD-NOT:      nn.add
// BADD-LABEL: func.func @asym(

// A unary nonlinearity of an 8-bit value becomes a table of 256 entries
// (sigmoid(-128 * 4/127) * 255 = 4.5 -> 4, ..., sigmoid(4) * 255 -> 250);
// with lut=false it stays float.
// RUN: qopt-opt %s -p 'qopt-quantize{entry=lut}' | filecheck %s --check-prefix=LUT
// LUT-LABEL: func.func @lut(
// LUT:           %s = q.lut %a {table = "0x0405050505{{[0-9A-F]+}}FAFAFAFAFA"} : (tensor<?x4x!q.uniform<i8:f32, 0.031496062992125984>>) -> tensor<?x4x!q.uniform<u8:f32, 0.00392156862745098>>
// LUT-NEXT:      %s_dq = q.dequantize %s
// RUN: qopt-opt %s -p 'qopt-quantize{entry=lut lut=false}' | filecheck %s --check-prefix=NOLUT
// NOLUT-LABEL: func.func @lut(
// NOLUT:         %a_dq = q.dequantize %a
// NOLUT-NEXT:    %s = nn.sigmoid %a_dq {q.range = #q.range<0.0, 1.0>} : (tensor<?x4xf32>) -> tensor<?x4xf32>
// NOLUT-NEXT:    func.return %s

// Asymmetric activations (uint8): [-1, 2.984375] is u8 with scale 1/64 and
// zero point 64; [-2, 1.984375] has zero point 128.
// RUN: qopt-opt %s -p 'qopt-quantize{entry=asym activations=uint8}' | filecheck %s --check-prefix=ASYM
// ASYM-LABEL: func.func @asym(
// ASYM-NEXT:    %x_q = q.quantize %x : (tensor<?x4xf32>) -> tensor<?x4x!q.uniform<u8:f32, 0.015625:64>>
// ASYM-NEXT:    %w = q.constant "0x7F81404020E0007F"
// ASYM-NEXT:    %y_acc = q.matmul %x_q, %w : (tensor<?x4x!q.uniform<u8:f32, 0.015625:64>>, {{.*}}) -> tensor<?x2x!q.uniform<i18:f32:1, {0.00012303149606299212, 0.00012303149606299212}>>
// ASYM-NEXT:    %y = q.requantize %y_acc {multiplier = array<i64: 16513, 16513>, shift = array<i64: 21, 21>} : {{.*}} -> tensor<?x2x!q.uniform<u8:f32, 0.015625:128>>

// Weight formats of W = [[1, 0.5, -0.375, 0.0625], [0, 0.125, -0.75, 0.25]]
// (gemm transB: stored as the [4, 2] matrix W^T, one scale per column).
// int8: 127 64 -48 8 / 0 21 -127 42 at scales 1/127, 0.75/127.
// RUN: qopt-opt %s -p 'qopt-quantize{entry=formats}' | filecheck %s --check-prefix=INT8
// INT8:      %w = q.constant "0x7F004015D081082A" : tensor<4x2x!q.uniform<i8<-127:127>:f32:1, {0.007874015748031496, 0.005905511811023622}>>
// INT8-NEXT: %b = q.constant "0xE00F0000ABD5FFFF" : tensor<2x!q.uniform<i32:f32:0, {0.00012303149606299212, 9.227362204724409e-05}>>
// INT8-NEXT: %y_acc = q.matmul %x_q, %w, %b : {{.*}} -> tensor<?x2x!q.uniform<i33:f32:1, {0.00012303149606299212, 9.227362204724409e-05}>>
// INT8-NEXT: %y = q.requantize %y_acc {multiplier = array<i64: 1, 3>, shift = array<i64: 7, 9>}
// int4 (-7..7): 7 3 -3 0 / 0 1 -7 2 at scales 1/7, 0.75/7.
// RUN: qopt-opt %s -p 'qopt-quantize{entry=formats weights=int4}' | filecheck %s --check-prefix=INT4
// INT4:      %w = q.constant "0x07139D20" : tensor<4x2x!q.uniform<i4<-7:7>:f32:1, {0.14285714285714285, 0.10714285714285714}>>
// INT4:      %y = q.requantize %y_acc {multiplier = array<i64: 37157, 55735>, shift = array<i64: 18, 19>}
// pot4 (0, +-1..+-64; searched scales): 64 32 -32 4 / 0 8 -64 16; the second
// column's best scale is 0.75/64 exactly.
// RUN: qopt-opt %s -p 'qopt-quantize{entry=formats weights=pot4}' | filecheck %s --check-prefix=POT4
// POT4:      %w = q.constant "0x0746FE53" : tensor<4x2x!q.pot<i4:f32:1, {0.014962551260915214, 0.01171875}>>
// POT4:      %y = q.requantize %y_acc {multiplier = array<i64: 62267, 381>, shift = array<i64: 22, 15>}
// spot2 (two pot4 terms): 128 64 -48 8 / 0 20 -128 40 at 1/128 and 0.75/128.
// RUN: qopt-opt %s -p 'qopt-quantize{entry=formats weights=spot2}' | filecheck %s --check-prefix=SPOT2
// SPOT2:     %w = q.constant "0x77000735DEFF0446" : tensor<4x2x!q.spot<2 x i4:f32:1, {0.0078125, 0.005859375}>>
// SPOT2:     %y = q.requantize %y_acc {multiplier = array<i64: 127, 381>, shift = array<i64: 14, 16>}
// ternary (-1, 0, 1; searched scales): 1 1 -1 0 / 0 0 -1 0.
// RUN: qopt-opt %s -p 'qopt-quantize{entry=formats weights=ternary}' | filecheck %s --check-prefix=TERN
// TERN:      %w = q.constant "0x110F" : tensor<4x2x!q.uniform<i2<-1:1>:f32:1, {0.620928906036742, 0.75}>>
// per tensor: one scale; bias-bits=0: the bias takes i15, the accumulator i18.
// RUN: qopt-opt %s -p 'qopt-quantize{entry=formats weights=spot2 weight-granularity=tensor}' | filecheck %s --check-prefix=TENSOR
// TENSOR:    %w = q.constant "0x77000705DEEF0406" : tensor<4x2x!q.spot<2 x i4:f32, 0.0078125>>
// TENSOR:    %y = q.requantize %y_acc {multiplier = array<i64: 127>, shift = array<i64: 14>}
// RUN: qopt-opt %s -p 'qopt-quantize{entry=formats bias-bits=0}' | filecheck %s --check-prefix=BIAS0
// BIAS0:     %b = q.constant "0xE08FD52A" : tensor<2x!q.uniform<i15:f32:0, {0.00012303149606299212, 9.227362204724409e-05}>>
// BIAS0-NEXT: %y_acc = q.matmul %x_q, %w, %b : {{.*}} -> tensor<?x2x!q.uniform<i18:f32:1,

// binary (-1, +1, one bit each; scale mean|w| per column, 0 counts as +1):
// 1 1 -1 1 / 1 1 -1 1 at 1.9375/4 and 1.125/4; the 8 codes fill one byte
// (LSB first: 1 1 1 1 0 0 1 1 = 0xCF).
// RUN: qopt-opt %s -p 'qopt-quantize{entry=formats weights=binary}' | filecheck %s --check-prefix=BIN
// BIN:       %w = q.constant "0xCF" : tensor<4x2x!q.binary<f32:1, {0.484375, 0.28125}>>
// BIN-NEXT:  %b = q.constant "0x420000001CFFFFFF" : tensor<2x!q.uniform<i32:f32:0, {0.007568359375, 0.00439453125}>>
// BIN-NEXT:  %y_acc = q.matmul %x_q, %w, %b : {{.*}} -> tensor<?x2x!q.uniform<i33:f32:1, {0.007568359375, 0.00439453125}>>

// Threshold activations (thr2) from hand-written quantiles (4 bins, as
// qopt-calibrate{quantiles=4} records them). %x: thresholds [-1, 0, 1], bin
// means -1.5 -0.5 0.5 1.5: the least-squares fit s·(code - zp) gives
// s = 10/12, zp = 1 (zp = 2 ties; the smaller wins). The relu's bins
// (4 zeros, then 1, 1, 2 values; means 0, 0.75, 1.5, 2.5) give s = 18.75/23,
// zp 0, and its thresholds [0.5, 1, 2] > 0 absorb the relu: q.threshold
// compares the accumulator (scale (10/12)/127) with ceil(t / scale) =
// ceil(76.2, 152.4, 304.8) = 77, 153, 305. The residual add requantizes the
// codes of %x to the finer scale (thresholds input) and adds them to the
// relu's codes; its thresholds [-0.5, 0.5, 2] at scale 18.75/23 are 0, 1, 3.
// RUN: qopt-opt %s -p 'qopt-quantize{entry=thr activations=thr2}' | filecheck %s --check-prefix=THR
// THR-LABEL: func.func @thr(
// THR-NEXT:    %x_q = q.quantize %x : (tensor<?x4xf32>) -> tensor<?x4x!q.thresholds<u2:f32, 0.8333333333333334:1, [-1.0, 0.0, 1.0]>>
// THR-NEXT:    %w = q.constant "0x7F000000007F000000007F000000007F"
// THR-NEXT:    %a = q.matmul %x_q, %w : {{.*}} -> tensor<?x4x!q.uniform<i11:f32:1, {0.006561679790026247, 0.006561679790026247, 0.006561679790026247, 0.006561679790026247}>>
// THR-NEXT:    %r = q.threshold %a {thresholds = array<i64: 77, 153, 305, 77, 153, 305, 77, 153, 305, 77, 153, 305>} : {{.*}} -> tensor<?x4x!q.thresholds<u2:f32, 0.8152173913043478, [0.5, 1.0, 2.0]>>
// THR-NEXT:    %r_dq = q.dequantize %r
// THR-NEXT:    %x_q_aligned = q.requantize %x_q {multiplier = array<i64: 4187>, shift = array<i64: 12>} : (tensor<?x4x!q.thresholds<u2:f32, 0.8333333333333334:1, [-1.0, 0.0, 1.0]>>) -> tensor<?x4x!q.uniform<i4:f32, 0.8152173913043478>>
// THR-NEXT:    %s_acc = q.add %r, %x_q_aligned : {{.*}} -> tensor<?x4x!q.uniform<i5:f32, 0.8152173913043478>>
// THR-NEXT:    %s = q.threshold %s_acc {thresholds = array<i64: 0, 1, 3>} : {{.*}} -> tensor<?x4x!q.thresholds<u2:f32, 1.5833333333333333:1, [-0.5, 0.5, 2.0]>>
// THR-NEXT:    %s_dq = q.dequantize %s
// THR-NEXT:    func.return %r_dq, %s_dq
// x = [-1.5, -0.2, 0.3, 1.7] has codes 0 1 2 3 (reals -5/6, 0, 5/6, 10/6); the
// accumulator -127 0 127 254 passes 0 0 1 2 thresholds; the add gives
// -1 0 2 4, codes 0 1 2 3 (float: relu(x) + x = -1.5, -0.2, 0.6, 3.4).
// RUN: qopt-opt %s -p 'qopt-quantize{entry=thr activations=thr2}' | qopt-run - --entry thr -i '[[-1.5, -0.2, 0.3, 1.7]]' | filecheck %s --check-prefix=RUN-THR
// RUN-THR:      result 0: tensor<?x4xf32> (shape 1x4)
// RUN-THR-NEXT:   0.000000, 0.000000, 0.815217, 1.630435
// RUN-THR-NEXT: result 1: tensor<?x4xf32> (shape 1x4)
// RUN-THR-NEXT:   -1.583333, 0.000000, 1.583333, 3.166667
// A recipe gives the relu thr2 and keeps the rest int8 (acts=thr2 in recipes).
// RUN: qopt-opt %s -p 'qopt-quantize{entry=thr recipe=%t/thr.txt}' | filecheck %s --check-prefix=THR-RECIPE
// THR-RECIPE:      %x_q = q.quantize %x : (tensor<?x4xf32>) -> tensor<?x4x!q.uniform<i8:f32, 0.015748031496062992>>
// THR-RECIPE:      %r = q.threshold %a {{.*}} -> tensor<?x4x!q.thresholds<u2:f32, 0.8152173913043478, [0.5, 1.0, 2.0]>>
// THR-RECIPE:      %s = q.requantize %s_acc {{.*}} -> tensor<?x4x!q.uniform<i8:f32, 0.03937007874015748>>

// mult-bits=8: 8-bit multipliers.
// RUN: qopt-opt %s -p 'qopt-quantize{entry=layers mult-bits=8}' | filecheck %s --check-prefix=MULT8
// MULT8:     %fc2 = q.requantize %fc2_acc {multiplier = array<i64: 129, 129, 129, 129>, shift = array<i64: 15, 15, 15, 15>}

// Recipe: fc1 matches both rules, the first wins (pot4 weights, uint8 output
// with zero point 128); fc2 matches only `nn.gemm` (int4 weights) and keeps
// the int8 activations of the options.
// RUN: qopt-opt %s -p 'qopt-quantize{entry=layers recipe=%t/recipe.txt}' | filecheck %s --check-prefix=RECIPE
// RECIPE-LABEL: func.func @layers(
// RECIPE-NEXT:    %x_q = q.quantize %x : (tensor<?x4xf32>) -> tensor<?x4x!q.uniform<i8:f32, 0.015625>>
// RECIPE-NEXT:    %w = q.constant "0x67F0750000670E75" : tensor<4x4x!q.pot<i4:f32:1, {0.015625, 0.015625, 0.015625, 0.015625}>>
// RECIPE-NEXT:    %fc1_acc = q.matmul %x_q, %w
// RECIPE-NEXT:    %fc1 = q.requantize %fc1_acc {multiplier = array<i64: 255, 255, 255, 255>, shift = array<i64: 15, 15, 15, 15>} : {{.*}} -> tensor<?x4x!q.uniform<u8:f32, 0.03137254901960784:128>>
// RECIPE-NEXT:    %w_1 = q.constant "0x3790720000370D72" : tensor<4x4x!q.uniform<i4<-7:7>:f32:1, {0.14285714285714285, 0.14285714285714285, 0.14285714285714285, 0.14285714285714285}>>
// RECIPE-NEXT:    %fc2_acc = q.matmul %fc1, %w_1
// RECIPE-NEXT:    %fc2 = q.requantize %fc2_acc {{.*}} -> tensor<?x4x!q.uniform<i8:f32, 0.06299212598425197>>
// Without the recipe both layers are int8.
// RUN: qopt-opt %s -p 'qopt-quantize{entry=layers}' | filecheck %s --check-prefix=NORECIPE
// NORECIPE:      %fc1 = q.requantize %fc1_acc {{.*}} -> tensor<?x4x!q.uniform<i8:f32, 0.031496062992125984>>
// NORECIPE:      %w_1 = q.constant "0x7F400081207F000000007F40C000207F" : tensor<4x4x!q.uniform<i8<-127:127>

// Only the entry function changes.
// RUN: qopt-opt %s -p 'qopt-quantize{entry=conv}' | filecheck %s --check-prefix=OTHERS
// OTHERS-LABEL: func.func @residual(
// OTHERS-NEXT:    %w = nn.constant

// Errors: one line each, exit status 2.
// RUN: not qopt-opt %s -p 'qopt-quantize{entry=uncalibrated}' 2>&1 | filecheck %s --check-prefix=UNCAL
// UNCAL:       qopt-opt: error: pass 'qopt-quantize' failed: 'nn.gemm' %y has no calibrated range (q.range): run qopt-calibrate first
// UNCAL-EMPTY:
// RUN: not qopt-opt %s -p 'qopt-quantize{entry=dynamic}' 2>&1 | filecheck %s --check-prefix=DYN
// DYN:         qopt-opt: error: pass 'qopt-quantize' failed: argument %x of @dynamic: dynamic ranges are not supported by qopt-quantize yet (calibrate without dynamic=true)
// RUN: not qopt-opt %s -p 'qopt-quantize{weights=int99}' 2>&1 | filecheck %s --check-prefix=WFMT
// WFMT:        qopt-opt: error: pass 'qopt-quantize': unknown weight format 'int99' (int2..int16, pot3, pot4, pot5, spot2, spot3, ternary, binary)
// WFMT-EMPTY:
// RUN: not qopt-opt %s -p 'qopt-quantize{activations=pot4}' 2>&1 | filecheck %s --check-prefix=AFMT
// AFMT:        qopt-opt: error: pass 'qopt-quantize': 'pot4' is a weight format; activations take int2..int16, uint2..uint16, thr2..thr8
// RUN: not qopt-opt %s -p 'qopt-quantize{activations=int1}' 2>&1 | filecheck %s --check-prefix=AFMT1
// AFMT1:       qopt-opt: error: pass 'qopt-quantize': unknown activation format 'int1' (int2..int16, uint2..uint16, thr2..thr8)
// RUN: not qopt-opt %s -p 'qopt-quantize{weight-granularity=group:32}' 2>&1 | filecheck %s --check-prefix=GROUP
// GROUP:       qopt-opt: error: pass 'qopt-quantize': weight granularity 'group:32' is not supported: q.conv2d and q.matmul take per-tensor or per-output-channel weight scales (per-block scales would give every partial sum its own scale); use channel
// RUN: not qopt-opt %s -p 'qopt-quantize{weight-granularity=row}' 2>&1 | filecheck %s --check-prefix=GRAN
// GRAN:        qopt-opt: error: pass 'qopt-quantize': unknown weight granularity 'row' (tensor, channel, group:G)
// RUN: not qopt-opt %s -p 'qopt-quantize{bias-bits=40}' 2>&1 | filecheck %s --check-prefix=BBITS
// BBITS:       qopt-opt: error: pass 'qopt-quantize': option 'bias-bits' must be 0 or 2..32, got 40
// RUN: not qopt-opt %s -p 'qopt-quantize{mult-bits=0}' 2>&1 | filecheck %s --check-prefix=MBITS
// MBITS:       qopt-opt: error: pass 'qopt-quantize': option 'mult-bits' must be in 1..32, got 0
// RUN: not qopt-opt %s -p 'qopt-quantize{recipe=%t/bad.txt}' 2>&1 | filecheck %s --check-prefix=SYNTAX
// SYNTAX:      qopt-opt: error: pass 'qopt-quantize': {{.*}}bad.txt:1:5: unexpected 'weights'; expected ',' or ':'
// SYNTAX-EMPTY:
// RUN: not qopt-opt %s -p 'qopt-quantize{recipe=%t/badfmt.txt}' 2>&1 | filecheck %s --check-prefix=RFMT
// RFMT:        qopt-opt: error: pass 'qopt-quantize': {{.*}}badfmt.txt:1:7: unknown weight format 'pot9' (int2..int16, pot3, pot4, pot5, spot2, spot3, ternary, binary)
// RUN: not qopt-opt %s -p 'qopt-quantize{recipe=%t/missing.txt}' 2>&1 | filecheck %s --check-prefix=NOFILE
// NOFILE:      qopt-opt: error: pass 'qopt-quantize': cannot read recipe '{{.*}}missing.txt': No such file or directory
// RUN: not qopt-opt %s -p 'qopt-quantize{entry=formats activations=thr2}' 2>&1 | filecheck %s --check-prefix=NOQUANT
// NOQUANT:     qopt-opt: error: pass 'qopt-quantize' failed: argument %x of @formats: activations thr2 need the calibrated quantiles of the value: run qopt-calibrate with quantiles=4 (or more)
// RUN: not qopt-opt %s -p 'qopt-quantize{entry=thr activations=thr8}' 2>&1 | filecheck %s --check-prefix=FEWBINS
// FEWBINS:     qopt-opt: error: pass 'qopt-quantize' failed: argument %x of @thr: the calibrated quantiles have 4 bins, thr8 needs a multiple of 256: run qopt-calibrate with quantiles=256 (or more)
// RUN: not qopt-opt %s -p 'qopt-quantize{activations=thr1}' 2>&1 | filecheck %s --check-prefix=THR1
// THR1:        qopt-opt: error: pass 'qopt-quantize': activation format 'thr1': threshold codes take 2..8 bits (thr2..thr8)
// RUN: not qopt-opt %s -p 'qopt-quantize{activations=thr9}' 2>&1 | filecheck %s --check-prefix=THR9
// THR9:        qopt-opt: error: pass 'qopt-quantize': activation format 'thr9': threshold codes take 2..8 bits (thr2..thr8)
// RUN: not qopt-opt %s -p 'qopt-quantize{activations=binary}' 2>&1 | filecheck %s --check-prefix=ABIN
// ABIN:        qopt-opt: error: pass 'qopt-quantize': 'binary' is a weight format; activations take int2..int16, uint2..uint16, thr2..thr8
// RUN: not qopt-opt %s -p 'qopt-quantize{entry=zero_channel weights=binary}' 2>&1 | filecheck %s --check-prefix=BINZERO
// BINZERO:     qopt-opt: error: pass 'qopt-quantize' failed: 'nn.matmul' %y: cannot quantize: channel 1 of axis 1 is all zero: binary weights have no zero level (use ternary)
// RUN: not qopt-opt %s -p 'qopt-quantize{entry=zero_channel weights=binary weight-granularity=group:8}' 2>&1 | filecheck %s --check-prefix=BINGROUP
// BINGROUP:    qopt-opt: error: pass 'qopt-quantize': weight granularity 'group:8' is not supported
// RUN: not qopt-opt %s -p 'qopt-quantize{entry=nope}' 2>&1 | filecheck %s --check-prefix=ENTRY
// ENTRY:       qopt-opt: error: pass 'qopt-quantize' failed: no function @nope to quantize (functions with a body: @conv, @residual, {{.*}}; choose one with entry=NAME)

func.func @conv(%x: tensor<1x1x3x3xf32> {q.range = #q.range<-1.984375, 1.984375>}) -> tensor<1x2x2x2xf32> {
  %w = nn.constant dense<[[[[1.984375, -0.5], [0.25, 0.015625]]], [[[0.5, -0.25], [0.0, 0.125]]]]> : tensor<2x1x2x2xf32>
  %b = nn.constant dense<[0.5, -0.25]> : tensor<2xf32>
  %c = nn.conv2d %x, %w, %b {q.range = #q.range<-3.96875, 3.96875>} : (tensor<1x1x3x3xf32>, tensor<2x1x2x2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
  %r = nn.relu %c {q.range = #q.range<0.0, 5.0>} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  func.return %r : tensor<1x2x2x2xf32>
}

func.func @residual(%x: tensor<?x4xf32> {q.range = #q.range<-1.984375, 1.984375>}) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  %w = nn.constant dense<[[1.0, 0.5, 0.0, -1.0], [0.25, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.5], [-0.5, 0.0, 0.25, 1.0]]> : tensor<4x4xf32>
  %a = nn.gemm %x, %w {transB = true, q.range = #q.range<-4.0, 4.0>} : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  %s = nn.add %a, %x {q.range = #q.range<-6.0, 6.0>} : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %r = nn.relu %s {q.range = #q.range<0.0, 6.0>} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %m = nn.matmul %x, %w {q.range = #q.range<-3.96875, 3.96875>} : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  %t = nn.add %x, %m {q.range = #q.range<-5.0, 5.0>} : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  func.return %r, %t : tensor<?x4xf32>, tensor<?x4xf32>
}

func.func @fallback(%x: tensor<?x4xf32> {q.range = #q.range<-1.984375, 1.984375>}) -> tensor<?x2xf32> {
  %w = nn.constant dense<[[1.0, 0.5, 0.0, -1.0], [0.25, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.5], [-0.5, 0.0, 0.25, 1.0]]> : tensor<4x4xf32>
  %v = nn.constant dense<[[1.0, -1.0], [0.5, 0.5], [0.25, -0.25], [0.0, 1.0]]> : tensor<4x2xf32>
  %a = nn.gemm %x, %w {transB = true, q.range = #q.range<-4.0, 4.0>} : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  %p = nn.softmax %a {q.range = #q.range<0.0, 1.0>} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %y = nn.matmul %p, %v {q.range = #q.range<-1.0, 1.0>} : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  func.return %y : tensor<?x2xf32>
}

func.func @lut(%x: tensor<?x4xf32> {q.range = #q.range<-1.984375, 1.984375>}) -> tensor<?x4xf32> {
  %w = nn.constant dense<[[1.0, 0.5, 0.0, -1.0], [0.25, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.5], [-0.5, 0.0, 0.25, 1.0]]> : tensor<4x4xf32>
  %a = nn.gemm %x, %w {q.range = #q.range<-4.0, 4.0>} : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  %s = nn.sigmoid %a {q.range = #q.range<0.0, 1.0>} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  func.return %s : tensor<?x4xf32>
}

func.func @formats(%x: tensor<?x4xf32> {q.range = #q.range<-1.984375, 1.984375>}) -> tensor<?x2xf32> {
  %w = nn.constant dense<[[1.0, 0.5, -0.375, 0.0625], [0.0, 0.125, -0.75, 0.25]]> : tensor<2x4xf32>
  %b = nn.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %y = nn.gemm %x, %w, %b {transB = true, q.range = #q.range<-2.0, 2.0>} : (tensor<?x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  func.return %y : tensor<?x2xf32>
}

func.func @layers(%x: tensor<?x4xf32> {q.range = #q.range<-1.984375, 1.984375>}) -> tensor<?x4xf32> {
  %w = nn.constant dense<[[1.0, 0.5, 0.0, -1.0], [0.25, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.5], [-0.5, 0.0, 0.25, 1.0]]> : tensor<4x4xf32>
  %fc1 = nn.gemm %x, %w {q.range = #q.range<-4.0, 4.0>} : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  %fc2 = nn.gemm %fc1, %w {q.range = #q.range<-8.0, 8.0>} : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  func.return %fc2 : tensor<?x4xf32>
}

func.func @pools(%x: tensor<?x2x4x4xf32> {q.range = #q.range<0.0, 3.984375>}) -> (tensor<?x8xf32>, tensor<?x2x1x1xf32>, tensor<?x4x2x2xf32>) {
  %m = nn.maxpool2d %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<?x2x4x4xf32>) -> tensor<?x2x2x2xf32>
  %f = nn.flatten %m : (tensor<?x2x2x2xf32>) -> tensor<?x8xf32>
  %a = nn.avgpool2d %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, q.range = #q.range<0.0, 1.0>} : (tensor<?x2x4x4xf32>) -> tensor<?x2x2x2xf32>
  %g = nn.global_avgpool %x {q.range = #q.range<0.0, 2.0>} : (tensor<?x2x4x4xf32>) -> tensor<?x2x1x1xf32>
  %c = nn.concat %m, %a {axis = 1 : i64, q.range = #q.range<0.0, 3.984375>} : (tensor<?x2x2x2xf32>, tensor<?x2x2x2xf32>) -> tensor<?x4x2x2xf32>
  func.return %f, %g, %c : tensor<?x8xf32>, tensor<?x2x1x1xf32>, tensor<?x4x2x2xf32>
}

func.func @uncalibrated(%x: tensor<?x4xf32> {q.range = #q.range<-1.0, 1.0>}) -> tensor<?x4xf32> {
  %w = nn.constant dense<1.0> : tensor<4x4xf32>
  %y = nn.gemm %x, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  func.return %y : tensor<?x4xf32>
}

func.func @dynamic(%x: tensor<?x4xf32> {q.range = #q.range<-1.0, 1.0, minmax, dynamic>}) -> tensor<?x4xf32> {
  %r = nn.relu %x {q.range = #q.range<0.0, 1.0>} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  func.return %r : tensor<?x4xf32>
}

func.func @fused(%x: tensor<?x4xf32> {q.range = #q.range<-1.984375, 1.984375>}) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  %w = nn.constant dense<[[1.0, 0.5, 0.0, -1.0], [0.25, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.5], [-0.5, 0.0, 0.25, 1.0]]> : tensor<4x4xf32>
  %a = nn.matmul %x, %w {q.range = #q.range<-4.0, 4.0>} : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  %r = nn.relu %a {q.range = #q.range<-1.0, 2.984375>} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %b = nn.gemm %x, %w {q.range = #q.range<-4.0, 4.0>} : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  %k = nn.clip %b {min = 0.0 : f32, max = 1.0 : f32, q.range = #q.range<0.0, 3.984375>} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  func.return %r, %k : tensor<?x4xf32>, tensor<?x4xf32>
}

func.func @elementwise(%x: tensor<?x4xf32> {q.range = #q.range<-1.984375, 1.984375>}, %u: tensor<?x4xf32> {q.range = #q.range<0.0, 3.984375>}) -> (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x2x2xf32>) {
  %r = nn.relu %x {q.range = #q.range<0.0, 1.984375>} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %c = nn.clip %x {min = -0.5 : f32, max = 1.0 : f32, q.range = #q.range<-0.5, 1.0>} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %s = nn.relu %u {q.range = #q.range<0.0, 3.984375>} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %t = nn.reshape %s : (tensor<?x4xf32>) -> tensor<?x2x2xf32>
  %p = nn.transpose %t {perm = array<i64: 0, 2, 1>} : (tensor<?x2x2xf32>) -> tensor<?x2x2xf32>
  func.return %r, %c, %s, %p : tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x2x2xf32>
}

func.func @bias_add(%x: tensor<?x3x4xf32> {q.range = #q.range<-1.984375, 1.984375>}) -> tensor<?x3x2xf32> {
  %w = nn.constant dense<[[1.0, -1.0], [0.5, 0.5], [0.25, -0.25], [0.0, 1.0]]> : tensor<4x2xf32>
  %b = nn.constant dense<[0.5, -0.5]> : tensor<2xf32>
  %m = nn.matmul %x, %w {q.range = #q.range<-3.0, 3.0>} : (tensor<?x3x4xf32>, tensor<4x2xf32>) -> tensor<?x3x2xf32>
  %y = nn.add %m, %b {q.range = #q.range<-3.5, 3.5>} : (tensor<?x3x2xf32>, tensor<2xf32>) -> tensor<?x3x2xf32>
  func.return %y : tensor<?x3x2xf32>
}

func.func @asym(%x: tensor<?x4xf32> {q.range = #q.range<-1.0, 2.984375>}) -> tensor<?x2xf32> {
  %w = nn.constant dense<[[1.0, -1.0], [0.5, 0.5], [0.25, -0.25], [0.0, 1.0]]> : tensor<4x2xf32>
  %y = nn.matmul %x, %w {q.range = #q.range<-2.0, 1.984375>} : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  func.return %y : tensor<?x2xf32>
}

func.func @chain(%x: tensor<?x1x1x4xf32> {q.range = #q.range<-1.984375, 1.984375>}) -> tensor<?x8xf32> {
  %w = nn.constant dense<[[[[1.0]]], [[[-1.0]]]]> : tensor<2x1x1x1xf32>
  %c = nn.conv2d %x, %w {q.range = #q.range<-1.984375, 1.984375>} : (tensor<?x1x1x4xf32>, tensor<2x1x1x1xf32>) -> tensor<?x2x1x4xf32>
  %s = nn.reshape %c {q.range = #q.range<-1.984375, 1.984375>} : (tensor<?x2x1x4xf32>) -> tensor<?x2x4xf32>
  %f = nn.flatten %s {q.range = #q.range<-1.984375, 1.984375>} : (tensor<?x2x4xf32>) -> tensor<?x8xf32>
  %r = nn.relu %f {q.range = #q.range<0.0, 1.9921875>} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  func.return %r : tensor<?x8xf32>
}

func.func @thr(%x: tensor<?x4xf32> {q.range = #q.range<-2.0, 2.0, minmax, stats = #q.stats<min = -2.0, max = 2.0, mean = 0.0, std = 1.0, count = 8, quantiles = [-1.0, 0.0, 1.0], counts = [2, 2, 2, 2], means = [-1.5, -0.5, 0.5, 1.5]>>}) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  %w = nn.constant dense<[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]> : tensor<4x4xf32>
  %a = nn.matmul %x, %w {q.range = #q.range<-2.0, 2.0>} : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  %r = nn.relu %a {q.range = #q.range<0.0, 3.0, minmax, stats = #q.stats<min = 0.0, max = 3.0, mean = 1.0, std = 1.0, count = 8, quantiles = [0.5, 1.0, 2.0], counts = [4, 1, 1, 2], means = [0.0, 0.75, 1.5, 2.5]>>} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %s = nn.add %r, %x {q.range = #q.range<-2.0, 5.0, minmax, stats = #q.stats<min = -2.0, max = 5.0, mean = 1.0, std = 2.0, count = 8, quantiles = [-0.5, 0.5, 2.0], counts = [2, 2, 2, 2], means = [-1.5, 0.0, 1.0, 3.5]>>} : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  func.return %r, %s : tensor<?x4xf32>, tensor<?x4xf32>
}

func.func @zero_channel(%x: tensor<?x4xf32> {q.range = #q.range<-1.984375, 1.984375>}) -> tensor<?x2xf32> {
  %w = nn.constant dense<[[1.0, 0.0], [0.5, 0.0], [0.25, 0.0], [0.0, 0.0]]> : tensor<4x2xf32>
  %y = nn.matmul %x, %w {q.range = #q.range<-2.0, 2.0>} : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  func.return %y : tensor<?x2xf32>
}
