// RUN: xdsl-opt %s --allow-unregistered-dialect | xdsl-opt --allow-unregistered-dialect | filecheck %s
// RUN: xdsl-opt %s --allow-unregistered-dialect --print-op-generic | xdsl-opt --allow-unregistered-dialect | filecheck %s

// Every form of the q element types round-trips through the custom format and
// through the generic format; defaults print in their short form (zero point
// 0, full integer range, default exponent range, `:{a:1}` as `:a`).

// Uniform integers, per tensor: width, signedness, zero point, narrow range,
// expressed type; `:0` zero points and integer scales normalise.
// CHECK: func.func private @uniform_per_tensor(!q.uniform<i8:f32, 0.5>, !q.uniform<u8:f32, 0.02:128>, !q.uniform<i8:f32, 0.5:-3>, !q.uniform<i8:f32, 0.5>, !q.uniform<i8:f16, 2.0>, !q.uniform<u4:f64, 1.0e-05:7>) -> ()
func.func private @uniform_per_tensor(!q.uniform<i8:f32, 0.5>, !q.uniform<u8:f32, 0.02:128>, !q.uniform<i8:f32, 0.5:-3>, !q.uniform<i8:f32, 0.5:0>, !q.uniform<i8:f16, 2>, !q.uniform<u4:f64, 1.0e-05:7>)
// CHECK-NEXT: func.func private @uniform_ranges(!q.uniform<i8<-127:127>:f32, 1.0>, !q.uniform<u4<1:14>:f32, 0.25:1>, !q.uniform<i8:f32, 1.0>, !q.uniform<i1:f32, 1.0>, !q.uniform<u1:f32, 1.0>) -> ()
func.func private @uniform_ranges(!q.uniform<i8<-127:127>:f32, 1.0>, !q.uniform<u4<1:14>:f32, 0.25:1>, !q.uniform<i8<-128:127>:f32, 1.0>, !q.uniform<i1:f32, 1.0>, !q.uniform<u1:f32, 1.0>)
// CHECK-NEXT: func.func private @uniform_wide(!q.uniform<i32:f32, 1.25e-07>, !q.uniform<i64:f64, 3.0e+20>, !q.uniform<u63:f32, 1.0>, !q.uniform<i16:f32, 0.1:-32768>) -> ()
func.func private @uniform_wide(!q.uniform<i32:f32, 1.25e-07>, !q.uniform<i64:f64, 3.0e+20>, !q.uniform<u63:f32, 1.0>, !q.uniform<i16:f32, 0.1:-32768>)

// Per axis and per block (sub-channel) scales.
// CHECK-NEXT: func.func private @uniform_per_axis(!q.uniform<u8:f32:1, {0.5:1, 0.25:128, 0.125}>, !q.uniform<i8:f32:0, {0.5, 0.25}>, !q.uniform<i8<-127:127>:f32:0, {0.5:-1, 0.25}>) -> ()
func.func private @uniform_per_axis(!q.uniform<u8:f32:1, {0.5:1, 0.25:128, 0.125}>, !q.uniform<i8:f32:{0:1}, {0.5, 0.25}>, !q.uniform<i8<-127:127>:f32:0, {0.5:-1, 0.25}>)
// CHECK-NEXT: func.func private @uniform_blocks(!q.uniform<i4:f32:{0:1, 1:32}, {{[{][{]}}0.5, 0.25}, {0.1:1, 0.2:-2{{[}][}]}}>, !q.uniform<u4:f32:{1:16}, {0.5:8, 0.25:7}>, !q.uniform<i8:f32:{0:2, 1:3, 2:4}, {{[{][{]}}{1.0, 2.0{{[}][}]}}, {{[{][{]}}3.0, 4.0{{[}][}]}}}>) -> ()
func.func private @uniform_blocks(!q.uniform<i4:f32:{0:1, 1:32}, {{0.5, 0.25}, {0.1:1, 0.2:-2}}>, !q.uniform<u4:f32:{1:16}, {0.5:8, 0.25:7}>, !q.uniform<i8:f32:{0:2, 1:3, 2:4}, {{{1.0, 2.0}}, {{3.0, 4.0}}}>)

// Powers of two: default exponent range (capped at 30), narrow ranges, unsigned.
// CHECK-NEXT: func.func private @pot(!q.pot<i4:f32, 0.5>, !q.pot<i4:f32, 0.5>, !q.pot<i4<1:3>:f32, 0.5>, !q.pot<u3:f32, 0.5>, !q.pot<u3<0:4>:f32, 0.5>, !q.pot<i8:f32, 1.0>, !q.pot<i8:f32, 1.0>, !q.pot<i2:f32, 1.0>, !q.pot<u1:f32, 1.0>) -> ()
func.func private @pot(!q.pot<i4:f32, 0.5>, !q.pot<i4<0:6>:f32, 0.5>, !q.pot<i4<1:3>:f32, 0.5>, !q.pot<u3:f32, 0.5>, !q.pot<u3<0:4>:f32, 0.5>, !q.pot<i8:f32, 1.0>, !q.pot<i8<0:30>:f32, 1.0>, !q.pot<i2:f32, 1.0>, !q.pot<u1:f32, 1.0>)
// CHECK-NEXT: func.func private @pot_scales(!q.pot<i4<2:5>:f32:0, {0.5, 0.25}>, !q.pot<u4:f64:{1:8}, {0.5, 1.0}>) -> ()
func.func private @pot_scales(!q.pot<i4<2:5>:f32:0, {0.5, 0.25}>, !q.pot<u4:f64:{1:8}, {0.5, 1.0}>)

// Sums of powers of two.
// CHECK-NEXT: func.func private @spot(!q.spot<2 x i4:f32, 0.5>, !q.spot<2 x i3:f16, 0.5>, !q.spot<3 x u3<1:4>:f32, 0.25>, !q.spot<4 x i3:f32, 1.0>, !q.spot<2 x i4<0:5>:f32:1, {0.5, 0.25}>) -> ()
func.func private @spot(!q.spot<2 x i4:f32, 0.5>, !q.spot<2 x i3<0:2>:f16, 0.5>, !q.spot<3 x u3<1:4>:f32, 0.25>, !q.spot<4 x i3:f32, 1.0>, !q.spot<2 x i4<0:5>:f32:1, {0.5, 0.25}>)

// Binary (bipolar) values: per tensor, per axis, per block; no zero point.
// CHECK-NEXT: func.func private @binary(!q.binary<f32, 0.5>, !q.binary<f16:0, {0.5, 0.25}>, !q.binary<f32:{0:1, 1:32}, {{[{][{]}}0.5, 0.25}, {1.0, 2.0{{[}][}]}}>, !q.binary<f64, 3.0>) -> ()
func.func private @binary(!q.binary<f32, 0.5>, !q.binary<f16:{0:1}, {0.5, 0.25:0}>, !q.binary<f32:{0:1, 1:32}, {{0.5, 0.25}, {1.0, 2.0}}>, !q.binary<f64, 3>)

// Threshold codes, per tensor and per axis.
// CHECK-NEXT: func.func private @thresholds(!q.thresholds<u2:f32, 0.5:1, [-1.0, 0.25, 2.0]>, !q.thresholds<u2:f32, 0.5, [-1.0, 0.25]>, !q.thresholds<u1:f32, 1.0, [0.0]>, !q.thresholds<u2:f32:1, 0.5, {{[[][[]}}-1.0, 0.25, 2.0], [0.0, 0.0, 1.5{{[]][]]}}>, !q.thresholds<u3:f64:0, 0.125:2, {{[[][[]}}0.001, 2.0{{[]][]]}}>) -> ()
func.func private @thresholds(!q.thresholds<u2:f32, 0.5:1, [-1.0, 0.25, 2.0]>, !q.thresholds<u2:f32, 0.5, [-1.0, 0.25]>, !q.thresholds<u1:f32, 1.0, [0.0]>, !q.thresholds<u2:f32:1, 0.5, [[-1.0, 0.25, 2.0], [0.0, 0.0, 1.5]]>, !q.thresholds<u3:f64:0, 0.125:2, [[1.0e-03, 2.0]]>)

// Mixed formats: row, block and outlier maps; shifted and pot/spot/binary sub-formats.
// CHECK-NEXT: func.func private @mixed(!q.mixed<[i2 << 2, i8]:f32, 0.1, row = "0x02">, !q.mixed<[pot i4, spot 2 x i3 << 1, u4]:f32:0, {0.1, 0.2}, block 8 = "0x24">, !q.mixed<[i4, i8]:f32, 0.1, outliers = "0x0300000009000000">, !q.mixed<[pot u3<1:4> << 3, i4<-7:7>]:f16, 0.5, row = "0x0F">, !q.mixed<[binary << 2, i4]:f32, 0.1, row = "0x02">) -> ()
func.func private @mixed(!q.mixed<[i2 << 2, i8]:f32, 0.1, row = "0x02">, !q.mixed<[pot i4, spot 2 x i3 << 1, u4]:f32:0, {0.1, 0.2}, block 8 = "0x24">, !q.mixed<[i4, i8]:f32, 0.1, outliers = "0x0300000009000000">, !q.mixed<[pot u3<1:4> << 3, i4<-7:7>]:f16, 0.5, row = "0x0F">, !q.mixed<[binary << 2, i4]:f32, 0.1, row = "0x02">)

// Tensors of q types, with dynamic dimensions.
// CHECK-NEXT: func.func private @tensors(tensor<?x8x!q.uniform<u8:f32, 0.02:128>>, tensor<?x?x3x3x!q.pot<i4:f32:1, {0.5, 0.25, 0.125}>>, tensor<1x?x!q.thresholds<u2:f32, 0.5, [0.0, 1.0, 2.0]>>, tensor<4x4x!q.mixed<[i2, i8]:f32, 0.1, row = "0x02">>, tensor<!q.spot<2 x i4:f32, 0.5>>) -> ()
func.func private @tensors(tensor<?x8x!q.uniform<u8:f32, 0.02:128>>, tensor<?x?x3x3x!q.pot<i4:f32:1, {0.5, 0.25, 0.125}>>, tensor<1x?x!q.thresholds<u2:f32, 0.5, [0.0, 1.0, 2.0]>>, tensor<4x4x!q.mixed<[i2, i8]:f32, 0.1, row = "0x02">>, tensor<!q.spot<2 x i4:f32, 0.5>>)

// Level sets as attributes, and bare types on an unregistered op.
// CHECK-NEXT: "test.op"() {a = #q.levels<i8>, b = #q.levels<u4<1:14>>, c = #q.levels<pot i4>, d = #q.levels<pot u3<1:4> << 2>, e = #q.levels<spot 2 x i3 << 1>, f = #q.levels<i2 << 3>, g = #q.levels<spot 3 x i4<0:5>>, h = #q.levels<binary>, i = #q.levels<binary << 4>} : () -> ()
"test.op"() {a = #q.levels<i8>, b = #q.levels<u4<1:14>>, c = #q.levels<pot i4>, d = #q.levels<pot u3<1:4> << 2>, e = #q.levels<spot 2 x i3 << 1>, f = #q.levels<i2 << 3>, g = #q.levels<spot 3 x i4<0:5>>, h = #q.levels<binary>, i = #q.levels<binary << 4>} : () -> ()
// CHECK-NEXT: %0, %1, %2 = "test.op"() : () -> (!q.uniform<i8:f32, 0.5>, !q.pot<i4:f32, 0.5>, !q.mixed<[i2, i8]:f32, 0.1, block 2 = "0x01">)
%0:3 = "test.op"() : () -> (!q.uniform<i8:f32, 0.5>, !q.pot<i4:f32, 0.5>, !q.mixed<[i2, i8]:f32, 0.1, block 2 = "0x01">)
