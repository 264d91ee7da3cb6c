// RUN: xdsl-opt %s | xdsl-opt | filecheck %s
// RUN: xdsl-opt %s --print-op-generic | xdsl-opt | filecheck %s
// RUN: xdsl-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// Every q op in the custom and the generic format. The constants, tables,
// requantize multipliers and accumulator widths were produced by the Python
// builders (`q.ConstantOp.from_levels`, `q.LutOp.from_function`,
// `q.RequantizeOp`, `q.Conv2dOp`, ... with seeded random levels), not by hand.

// Packed constants of every type: int4 two per byte, per-axis and per-block
// uniform, pot, spot, per-axis thresholds, mixed row/block/outlier maps, a scalar.
// CHECK-LABEL: func.func @constants(
// CHECK-SAME:  ) -> (tensor<3x3x!q.uniform<u4:f32, 0.5:3>>, tensor<2x3x!q.uniform<i8:f32:0, {0.5, 0.25:-1}>>, tensor<2x4x!q.uniform<i3:f32:{0:1, 1:2}, {{[{][{]}}0.5, 0.25}, {1.0, 2.0{{[}][}]}}>>, tensor<2x4x!q.pot<i4:f32, 0.5>>, tensor<5x!q.pot<u3<1:4>:f32, 0.5>>, tensor<3x2x!q.spot<2 x i4<0:5>:f32:0, {0.5, 0.25, 0.125}>>, tensor<3x2x!q.thresholds<u2:f32:1, 0.5:1, {{[[][[]}}-1.0, 0.0, 1.0], [0.0, 0.5, 2.0{{[]][]]}}>>, tensor<3x4x!q.mixed<[i2 << 2, i8]:f32, 0.1, row = "0x02">>, tensor<2x6x!q.mixed<[pot i4, spot 2 x i3 << 1, u4]:f32:0, {0.1, 0.2}, block 3 = "0x58">>, tensor<2x5x!q.mixed<[i3, i8]:f32, 0.05, outliers = "0x0200000009000000">>, tensor<4x!q.uniform<i32:f32, 0.001>>, tensor<!q.uniform<i8:f32, 0.5>>) {
// CHECK-NEXT:    %u4 = q.constant "0xA33145CE0E" : tensor<3x3x!q.uniform<u4:f32, 0.5:3>>
// CHECK-NEXT:    %i8 = q.constant "0x7E94A45E94AA" : tensor<2x3x!q.uniform<i8:f32:0, {0.5, 0.25:-1}>>
// CHECK-NEXT:    %blocks = q.constant "0x9DDD43" : tensor<2x4x!q.uniform<i3:f32:{0:1, 1:2}, {{[{][{]}}0.5, 0.25}, {1.0, 2.0{{[}][}]}}>>
// CHECK-NEXT:    %pot = q.constant "0x720E31CF" : tensor<2x4x!q.pot<i4:f32, 0.5>>
// CHECK-NEXT:    %potu = q.constant "0x0237" : tensor<5x!q.pot<u3<1:4>:f32, 0.5>>
// CHECK-NEXT:    %spot = q.constant "0x01239CAC1EBD" : tensor<3x2x!q.spot<2 x i4<0:5>:f32:0, {0.5, 0.25, 0.125}>>
// CHECK-NEXT:    %thr = q.constant "0x770E" : tensor<3x2x!q.thresholds<u2:f32:1, 0.5:1, {{[[][[]}}-1.0, 0.0, 1.0], [0.0, 0.5, 2.0{{[]][]]}}>>
// CHECK-NEXT:    %row = q.constant "0xF990C4A692F5" : tensor<3x4x!q.mixed<[i2 << 2, i8]:f32, 0.1, row = "0x02">>
// CHECK-NEXT:    %block = q.constant "0x04C775873109AE01" : tensor<2x6x!q.mixed<[pot i4, spot 2 x i3 << 1, u4]:f32:0, {0.1, 0.2}, block 3 = "0x58">>
// CHECK-NEXT:    %outliers = q.constant "0x7FF4D795BE" : tensor<2x5x!q.mixed<[i3, i8]:f32, 0.05, outliers = "0x0200000009000000">>
// CHECK-NEXT:    %bias = q.constant "0x2A51B623BB344EAF88375EB40C34CD67" : tensor<4x!q.uniform<i32:f32, 0.001>>
// CHECK-NEXT:    %scalar = q.constant "0x50" : tensor<!q.uniform<i8:f32, 0.5>>
// CHECK-NEXT:    func.return %u4, %i8, %blocks, %pot, %potu, %spot, %thr, %row, %block, %outliers, %bias, %scalar : tensor<3x3x!q.uniform<u4:f32, 0.5:3>>, tensor<2x3x!q.uniform<i8:f32:0, {0.5, 0.25:-1}>>, tensor<2x4x!q.uniform<i3:f32:{0:1, 1:2}, {{[{][{]}}0.5, 0.25}, {1.0, 2.0{{[}][}]}}>>, tensor<2x4x!q.pot<i4:f32, 0.5>>, tensor<5x!q.pot<u3<1:4>:f32, 0.5>>, tensor<3x2x!q.spot<2 x i4<0:5>:f32:0, {0.5, 0.25, 0.125}>>, tensor<3x2x!q.thresholds<u2:f32:1, 0.5:1, {{[[][[]}}-1.0, 0.0, 1.0], [0.0, 0.5, 2.0{{[]][]]}}>>, tensor<3x4x!q.mixed<[i2 << 2, i8]:f32, 0.1, row = "0x02">>, tensor<2x6x!q.mixed<[pot i4, spot 2 x i3 << 1, u4]:f32:0, {0.1, 0.2}, block 3 = "0x58">>, tensor<2x5x!q.mixed<[i3, i8]:f32, 0.05, outliers = "0x0200000009000000">>, tensor<4x!q.uniform<i32:f32, 0.001>>, tensor<!q.uniform<i8:f32, 0.5>>
// CHECK-NEXT:  }
func.func @constants() -> (tensor<3x3x!q.uniform<u4:f32, 0.5:3>>, tensor<2x3x!q.uniform<i8:f32:0, {0.5, 0.25:-1}>>, tensor<2x4x!q.uniform<i3:f32:{0:1, 1:2}, {{0.5, 0.25}, {1.0, 2.0}}>>, tensor<2x4x!q.pot<i4:f32, 0.5>>, tensor<5x!q.pot<u3<1:4>:f32, 0.5>>, tensor<3x2x!q.spot<2 x i4<0:5>:f32:0, {0.5, 0.25, 0.125}>>, tensor<3x2x!q.thresholds<u2:f32:1, 0.5:1, [[-1.0, 0.0, 1.0], [0.0, 0.5, 2.0]]>>, tensor<3x4x!q.mixed<[i2 << 2, i8]:f32, 0.1, row = "0x02">>, tensor<2x6x!q.mixed<[pot i4, spot 2 x i3 << 1, u4]:f32:0, {0.1, 0.2}, block 3 = "0x58">>, tensor<2x5x!q.mixed<[i3, i8]:f32, 0.05, outliers = "0x0200000009000000">>, tensor<4x!q.uniform<i32:f32, 0.001>>, tensor<!q.uniform<i8:f32, 0.5>>) {
  %u4 = q.constant "0xA33145CE0E" : tensor<3x3x!q.uniform<u4:f32, 0.5:3>>
  %i8 = q.constant "0x7E94A45E94AA" : tensor<2x3x!q.uniform<i8:f32:0, {0.5, 0.25:-1}>>
  %blocks = q.constant "0x9DDD43" : tensor<2x4x!q.uniform<i3:f32:{0:1, 1:2}, {{0.5, 0.25}, {1.0, 2.0}}>>
  %pot = q.constant "0x720E31CF" : tensor<2x4x!q.pot<i4:f32, 0.5>>
  %potu = q.constant "0x0237" : tensor<5x!q.pot<u3<1:4>:f32, 0.5>>
  %spot = q.constant "0x01239CAC1EBD" : tensor<3x2x!q.spot<2 x i4<0:5>:f32:0, {0.5, 0.25, 0.125}>>
  %thr = q.constant "0x770E" : tensor<3x2x!q.thresholds<u2:f32:1, 0.5:1, [[-1.0, 0.0, 1.0], [0.0, 0.5, 2.0]]>>
  %row = q.constant "0xF990C4A692F5" : tensor<3x4x!q.mixed<[i2 << 2, i8]:f32, 0.1, row = "0x02">>
  %block = q.constant "0x04C775873109AE01" : tensor<2x6x!q.mixed<[pot i4, spot 2 x i3 << 1, u4]:f32:0, {0.1, 0.2}, block 3 = "0x58">>
  %outliers = q.constant "0x7FF4D795BE" : tensor<2x5x!q.mixed<[i3, i8]:f32, 0.05, outliers = "0x0200000009000000">>
  %bias = q.constant "0x2A51B623BB344EAF88375EB40C34CD67" : tensor<4x!q.uniform<i32:f32, 0.001>>
  %scalar = q.constant "0x50" : tensor<!q.uniform<i8:f32, 0.5>>
  func.return %u4, %i8, %blocks, %pot, %potu, %spot, %thr, %row, %block, %outliers, %bias, %scalar : tensor<3x3x!q.uniform<u4:f32, 0.5:3>>, tensor<2x3x!q.uniform<i8:f32:0, {0.5, 0.25:-1}>>, tensor<2x4x!q.uniform<i3:f32:{0:1, 1:2}, {{0.5, 0.25}, {1.0, 2.0}}>>, tensor<2x4x!q.pot<i4:f32, 0.5>>, tensor<5x!q.pot<u3<1:4>:f32, 0.5>>, tensor<3x2x!q.spot<2 x i4<0:5>:f32:0, {0.5, 0.25, 0.125}>>, tensor<3x2x!q.thresholds<u2:f32:1, 0.5:1, [[-1.0, 0.0, 1.0], [0.0, 0.5, 2.0]]>>, tensor<3x4x!q.mixed<[i2 << 2, i8]:f32, 0.1, row = "0x02">>, tensor<2x6x!q.mixed<[pot i4, spot 2 x i3 << 1, u4]:f32:0, {0.1, 0.2}, block 3 = "0x58">>, tensor<2x5x!q.mixed<[i3, i8]:f32, 0.05, outliers = "0x0200000009000000">>, tensor<4x!q.uniform<i32:f32, 0.001>>, tensor<!q.uniform<i8:f32, 0.5>>
}

// Quantize to uniform, per-axis pot and thresholds; dequantize.
// CHECK-LABEL: func.func @quantize(
// CHECK-SAME:  %x: tensor<2x3x4xf32>) -> (tensor<2x3x4x!q.uniform<u8:f32, 0.02:128>>, tensor<2x3x4x!q.pot<i4:f32:1, {0.5, 0.25, 1.0}>>, tensor<2x3x4x!q.thresholds<u2:f32, 0.5, [-1.0, 0.0, 1.0]>>, tensor<2x3x4xf32>) {
// CHECK-NEXT:    %qx = q.quantize %x : (tensor<2x3x4xf32>) -> tensor<2x3x4x!q.uniform<u8:f32, 0.02:128>>
// CHECK-NEXT:    %px = q.quantize %x : (tensor<2x3x4xf32>) -> tensor<2x3x4x!q.pot<i4:f32:1, {0.5, 0.25, 1.0}>>
// CHECK-NEXT:    %tx = q.quantize %x : (tensor<2x3x4xf32>) -> tensor<2x3x4x!q.thresholds<u2:f32, 0.5, [-1.0, 0.0, 1.0]>>
// CHECK-NEXT:    %dx = q.dequantize %qx : (tensor<2x3x4x!q.uniform<u8:f32, 0.02:128>>) -> tensor<2x3x4xf32>
// CHECK-NEXT:    func.return %qx, %px, %tx, %dx : tensor<2x3x4x!q.uniform<u8:f32, 0.02:128>>, tensor<2x3x4x!q.pot<i4:f32:1, {0.5, 0.25, 1.0}>>, tensor<2x3x4x!q.thresholds<u2:f32, 0.5, [-1.0, 0.0, 1.0]>>, tensor<2x3x4xf32>
// CHECK-NEXT:  }
func.func @quantize(%x: tensor<2x3x4xf32>) -> (tensor<2x3x4x!q.uniform<u8:f32, 0.02:128>>, tensor<2x3x4x!q.pot<i4:f32:1, {0.5, 0.25, 1.0}>>, tensor<2x3x4x!q.thresholds<u2:f32, 0.5, [-1.0, 0.0, 1.0]>>, tensor<2x3x4xf32>) {
  %qx = q.quantize %x : (tensor<2x3x4xf32>) -> tensor<2x3x4x!q.uniform<u8:f32, 0.02:128>>
  %px = q.quantize %x : (tensor<2x3x4xf32>) -> tensor<2x3x4x!q.pot<i4:f32:1, {0.5, 0.25, 1.0}>>
  %tx = q.quantize %x : (tensor<2x3x4xf32>) -> tensor<2x3x4x!q.thresholds<u2:f32, 0.5, [-1.0, 0.0, 1.0]>>
  %dx = q.dequantize %qx : (tensor<2x3x4x!q.uniform<u8:f32, 0.02:128>>) -> tensor<2x3x4xf32>
  func.return %qx, %px, %tx, %dx : tensor<2x3x4x!q.uniform<u8:f32, 0.02:128>>, tensor<2x3x4x!q.pot<i4:f32:1, {0.5, 0.25, 1.0}>>, tensor<2x3x4x!q.thresholds<u2:f32, 0.5, [-1.0, 0.0, 1.0]>>, tensor<2x3x4xf32>
}

// Grouped, strided, dilated convolution with asymmetric pads, per-channel
// spot weights and a per-channel bias.
// CHECK-LABEL: func.func @conv2d(
// CHECK-SAME:  %x: tensor<1x4x9x9x!q.uniform<u8:f32, 0.02:128>>) -> tensor<1x4x5x4x!q.uniform<i21:f32:1, {0.01, 0.005, 0.0025, 0.01}>> {
// CHECK-NEXT:    %w = q.constant "0x12261CAEB69E9C0A241E9DAEDECD34029C349C661D240D0303269C0E0B23BD66000013129B12AB663612CE9CAC14011E23EECEEE9D36BE23EECEAC3E9BCEA69AEEEEA50C0A241324" : tensor<4x2x3x3x!q.spot<2 x i4<0:5>:f32:0, {0.5, 0.25, 0.125, 0.5}>>
// CHECK-NEXT:    %b = q.constant "0x2FF27FA500CB0B402100" : tensor<4x!q.uniform<i20:f32:0, {0.01, 0.005, 0.0025, 0.01}>>
// CHECK-NEXT:    %acc = q.conv2d %x, %w, %b {strides = array<i64: 2, 2>, pads = array<i64: 1, 0, 1, 2>, dilations = array<i64: 1, 2>, group = 2 : i64} : (tensor<1x4x9x9x!q.uniform<u8:f32, 0.02:128>>, tensor<4x2x3x3x!q.spot<2 x i4<0:5>:f32:0, {0.5, 0.25, 0.125, 0.5}>>, tensor<4x!q.uniform<i20:f32:0, {0.01, 0.005, 0.0025, 0.01}>>) -> tensor<1x4x5x4x!q.uniform<i21:f32:1, {0.01, 0.005, 0.0025, 0.01}>>
// CHECK-NEXT:    func.return %acc : tensor<1x4x5x4x!q.uniform<i21:f32:1, {0.01, 0.005, 0.0025, 0.01}>>
// CHECK-NEXT:  }
func.func @conv2d(%x: tensor<1x4x9x9x!q.uniform<u8:f32, 0.02:128>>) -> tensor<1x4x5x4x!q.uniform<i21:f32:1, {0.01, 0.005, 0.0025, 0.01}>> {
  %w = q.constant "0x12261CAEB69E9C0A241E9DAEDECD34029C349C661D240D0303269C0E0B23BD66000013129B12AB663612CE9CAC14011E23EECEEE9D36BE23EECEAC3E9BCEA69AEEEEA50C0A241324" : tensor<4x2x3x3x!q.spot<2 x i4<0:5>:f32:0, {0.5, 0.25, 0.125, 0.5}>>
  %b = q.constant "0x2FF27FA500CB0B402100" : tensor<4x!q.uniform<i20:f32:0, {0.01, 0.005, 0.0025, 0.01}>>
  %acc = q.conv2d %x, %w, %b {strides = array<i64: 2, 2>, pads = array<i64: 1, 0, 1, 2>, dilations = array<i64: 1, 2>, group = 2 : i64} : (tensor<1x4x9x9x!q.uniform<u8:f32, 0.02:128>>, tensor<4x2x3x3x!q.spot<2 x i4<0:5>:f32:0, {0.5, 0.25, 0.125, 0.5}>>, tensor<4x!q.uniform<i20:f32:0, {0.01, 0.005, 0.0025, 0.01}>>) -> tensor<1x4x5x4x!q.uniform<i21:f32:1, {0.01, 0.005, 0.0025, 0.01}>>
  func.return %acc : tensor<1x4x5x4x!q.uniform<i21:f32:1, {0.01, 0.005, 0.0025, 0.01}>>
}

// A mixed (per-row) weight and a dynamic batch: the width uses the map.
// CHECK-LABEL: func.func @conv2d_mixed(
// CHECK-SAME:  %x: tensor<?x3x5x5x!q.uniform<u8:f32, 0.02:128>>) -> tensor<?x4x5x5x!q.uniform<i17:f32, 0.005>> {
// CHECK-NEXT:    %w = q.constant "0xBF30ECBBB2684908" : tensor<4x3x1x1x!q.mixed<[i2, i8]:f32, 0.25, row = "0x06">>
// CHECK-NEXT:    %acc = q.conv2d %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<?x3x5x5x!q.uniform<u8:f32, 0.02:128>>, tensor<4x3x1x1x!q.mixed<[i2, i8]:f32, 0.25, row = "0x06">>) -> tensor<?x4x5x5x!q.uniform<i17:f32, 0.005>>
// CHECK-NEXT:    func.return %acc : tensor<?x4x5x5x!q.uniform<i17:f32, 0.005>>
// CHECK-NEXT:  }
func.func @conv2d_mixed(%x: tensor<?x3x5x5x!q.uniform<u8:f32, 0.02:128>>) -> tensor<?x4x5x5x!q.uniform<i17:f32, 0.005>> {
  %w = q.constant "0xBF30ECBBB2684908" : tensor<4x3x1x1x!q.mixed<[i2, i8]:f32, 0.25, row = "0x06">>
  %acc = q.conv2d %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<?x3x5x5x!q.uniform<u8:f32, 0.02:128>>, tensor<4x3x1x1x!q.mixed<[i2, i8]:f32, 0.25, row = "0x06">>) -> tensor<?x4x5x5x!q.uniform<i17:f32, 0.005>>
  func.return %acc : tensor<?x4x5x5x!q.uniform<i17:f32, 0.005>>
}

// Batched matmul with per-column pot weights and a bias, and without bias.
// CHECK-LABEL: func.func @matmul(
// CHECK-SAME:  %a: tensor<?x4x5x!q.uniform<i8:f32, 0.1:-10>>, %b: tensor<5x6x!q.uniform<u4:f32, 0.5:8>>) -> (tensor<?x4x3x!q.uniform<i18:f32:2, {0.05, 0.025, 0.0125}>>, tensor<?x4x6x!q.uniform<i14:f32, 0.05>>) {
// CHECK-NEXT:    %c = q.constant "0xA39EABFC5E113D04" : tensor<5x3x!q.pot<i4:f32:1, {0.5, 0.25, 0.125}>>
// CHECK-NEXT:    %bias = q.constant "0x04017BFFDBFE" : tensor<3x!q.uniform<i16:f32:0, {0.05, 0.025, 0.0125}>>
// CHECK-NEXT:    %y = q.matmul %a, %c, %bias : (tensor<?x4x5x!q.uniform<i8:f32, 0.1:-10>>, tensor<5x3x!q.pot<i4:f32:1, {0.5, 0.25, 0.125}>>, tensor<3x!q.uniform<i16:f32:0, {0.05, 0.025, 0.0125}>>) -> tensor<?x4x3x!q.uniform<i18:f32:2, {0.05, 0.025, 0.0125}>>
// CHECK-NEXT:    %z = q.matmul %a, %b : (tensor<?x4x5x!q.uniform<i8:f32, 0.1:-10>>, tensor<5x6x!q.uniform<u4:f32, 0.5:8>>) -> tensor<?x4x6x!q.uniform<i14:f32, 0.05>>
// CHECK-NEXT:    func.return %y, %z : tensor<?x4x3x!q.uniform<i18:f32:2, {0.05, 0.025, 0.0125}>>, tensor<?x4x6x!q.uniform<i14:f32, 0.05>>
// CHECK-NEXT:  }
func.func @matmul(%a: tensor<?x4x5x!q.uniform<i8:f32, 0.1:-10>>, %b: tensor<5x6x!q.uniform<u4:f32, 0.5:8>>) -> (tensor<?x4x3x!q.uniform<i18:f32:2, {0.05, 0.025, 0.0125}>>, tensor<?x4x6x!q.uniform<i14:f32, 0.05>>) {
  %c = q.constant "0xA39EABFC5E113D04" : tensor<5x3x!q.pot<i4:f32:1, {0.5, 0.25, 0.125}>>
  %bias = q.constant "0x04017BFFDBFE" : tensor<3x!q.uniform<i16:f32:0, {0.05, 0.025, 0.0125}>>
  %y = q.matmul %a, %c, %bias : (tensor<?x4x5x!q.uniform<i8:f32, 0.1:-10>>, tensor<5x3x!q.pot<i4:f32:1, {0.5, 0.25, 0.125}>>, tensor<3x!q.uniform<i16:f32:0, {0.05, 0.025, 0.0125}>>) -> tensor<?x4x3x!q.uniform<i18:f32:2, {0.05, 0.025, 0.0125}>>
  %z = q.matmul %a, %b : (tensor<?x4x5x!q.uniform<i8:f32, 0.1:-10>>, tensor<5x6x!q.uniform<u4:f32, 0.5:8>>) -> tensor<?x4x6x!q.uniform<i14:f32, 0.05>>
  func.return %y, %z : tensor<?x4x3x!q.uniform<i18:f32:2, {0.05, 0.025, 0.0125}>>, tensor<?x4x6x!q.uniform<i14:f32, 0.05>>
}

// Per-channel multiply-and-shift, and a shift-only requantize.
// CHECK-LABEL: func.func @requantize(
// CHECK-SAME:  %x: tensor<2x3x4x!q.uniform<i24:f32:1, {0.001, 0.002, 0.003}>>, %y: tensor<8x!q.uniform<i16:f32, 0.1>>) -> (tensor<2x3x4x!q.uniform<u8:f32, 0.05:3>>, tensor<8x!q.uniform<i8:f32, 0.4>>) {
// CHECK-NEXT:    %r = q.requantize %x {multiplier = array<i64: 41943, 41943, 62915>, shift = array<i64: 21, 20, 20>} : (tensor<2x3x4x!q.uniform<i24:f32:1, {0.001, 0.002, 0.003}>>) -> tensor<2x3x4x!q.uniform<u8:f32, 0.05:3>>
// CHECK-NEXT:    %s = q.requantize %y {multiplier = array<i64: 1>, shift = array<i64: 2>} : (tensor<8x!q.uniform<i16:f32, 0.1>>) -> tensor<8x!q.uniform<i8:f32, 0.4>>
// CHECK-NEXT:    func.return %r, %s : tensor<2x3x4x!q.uniform<u8:f32, 0.05:3>>, tensor<8x!q.uniform<i8:f32, 0.4>>
// CHECK-NEXT:  }
func.func @requantize(%x: tensor<2x3x4x!q.uniform<i24:f32:1, {0.001, 0.002, 0.003}>>, %y: tensor<8x!q.uniform<i16:f32, 0.1>>) -> (tensor<2x3x4x!q.uniform<u8:f32, 0.05:3>>, tensor<8x!q.uniform<i8:f32, 0.4>>) {
  %r = q.requantize %x {multiplier = array<i64: 41943, 41943, 62915>, shift = array<i64: 21, 20, 20>} : (tensor<2x3x4x!q.uniform<i24:f32:1, {0.001, 0.002, 0.003}>>) -> tensor<2x3x4x!q.uniform<u8:f32, 0.05:3>>
  %s = q.requantize %y {multiplier = array<i64: 1>, shift = array<i64: 2>} : (tensor<8x!q.uniform<i16:f32, 0.1>>) -> tensor<8x!q.uniform<i8:f32, 0.4>>
  func.return %r, %s : tensor<2x3x4x!q.uniform<u8:f32, 0.05:3>>, tensor<8x!q.uniform<i8:f32, 0.4>>
}

// Add with power-of-two alignment and broadcasting; relu and clamp.
// CHECK-LABEL: func.func @elementwise(
// CHECK-SAME:  %a: tensor<2x8x!q.uniform<u8:f32, 0.5:128>>, %b: tensor<8x!q.uniform<i8:f32, 0.125:-3>>) -> (tensor<2x8x!q.uniform<i11:f32, 0.125>>, tensor<2x8x!q.uniform<u8:f32, 0.5:128>>, tensor<2x8x!q.uniform<u8:f32, 0.5:128>>) {
// CHECK-NEXT:    %sum = q.add %a, %b : (tensor<2x8x!q.uniform<u8:f32, 0.5:128>>, tensor<8x!q.uniform<i8:f32, 0.125:-3>>) -> tensor<2x8x!q.uniform<i11:f32, 0.125>>
// CHECK-NEXT:    %relu = q.relu %a : (tensor<2x8x!q.uniform<u8:f32, 0.5:128>>) -> tensor<2x8x!q.uniform<u8:f32, 0.5:128>>
// CHECK-NEXT:    %clamp = q.clamp %a {min = 0 : i64, max = 100 : i64} : (tensor<2x8x!q.uniform<u8:f32, 0.5:128>>) -> tensor<2x8x!q.uniform<u8:f32, 0.5:128>>
// CHECK-NEXT:    func.return %sum, %relu, %clamp : tensor<2x8x!q.uniform<i11:f32, 0.125>>, tensor<2x8x!q.uniform<u8:f32, 0.5:128>>, tensor<2x8x!q.uniform<u8:f32, 0.5:128>>
// CHECK-NEXT:  }
func.func @elementwise(%a: tensor<2x8x!q.uniform<u8:f32, 0.5:128>>, %b: tensor<8x!q.uniform<i8:f32, 0.125:-3>>) -> (tensor<2x8x!q.uniform<i11:f32, 0.125>>, tensor<2x8x!q.uniform<u8:f32, 0.5:128>>, tensor<2x8x!q.uniform<u8:f32, 0.5:128>>) {
  %sum = q.add %a, %b : (tensor<2x8x!q.uniform<u8:f32, 0.5:128>>, tensor<8x!q.uniform<i8:f32, 0.125:-3>>) -> tensor<2x8x!q.uniform<i11:f32, 0.125>>
  %relu = q.relu %a : (tensor<2x8x!q.uniform<u8:f32, 0.5:128>>) -> tensor<2x8x!q.uniform<u8:f32, 0.5:128>>
  %clamp = q.clamp %a {min = 0 : i64, max = 100 : i64} : (tensor<2x8x!q.uniform<u8:f32, 0.5:128>>) -> tensor<2x8x!q.uniform<u8:f32, 0.5:128>>
  func.return %sum, %relu, %clamp : tensor<2x8x!q.uniform<i11:f32, 0.125>>, tensor<2x8x!q.uniform<u8:f32, 0.5:128>>, tensor<2x8x!q.uniform<u8:f32, 0.5:128>>
}

// Max pooling (ceil mode, dilation) and average-pool window sums.
// CHECK-LABEL: func.func @pools(
// CHECK-SAME:  %x: tensor<?x4x8x8x!q.uniform<i8:f32, 0.1:-5>>) -> (tensor<?x4x5x5x!q.uniform<i8:f32, 0.1:-5>>, tensor<?x4x6x6x!q.uniform<i8:f32, 0.1:-5>>, tensor<?x4x4x4x!q.uniform<i11:f32, 0.025>>) {
// CHECK-NEXT:    %max = q.maxpool2d %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, ceil_mode = true} : (tensor<?x4x8x8x!q.uniform<i8:f32, 0.1:-5>>) -> tensor<?x4x5x5x!q.uniform<i8:f32, 0.1:-5>>
// CHECK-NEXT:    %dil = q.maxpool2d %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 2, 2>, ceil_mode = false} : (tensor<?x4x8x8x!q.uniform<i8:f32, 0.1:-5>>) -> tensor<?x4x6x6x!q.uniform<i8:f32, 0.1:-5>>
// CHECK-NEXT:    %avg = q.avgpool2d %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, ceil_mode = false} : (tensor<?x4x8x8x!q.uniform<i8:f32, 0.1:-5>>) -> tensor<?x4x4x4x!q.uniform<i11:f32, 0.025>>
// CHECK-NEXT:    func.return %max, %dil, %avg : tensor<?x4x5x5x!q.uniform<i8:f32, 0.1:-5>>, tensor<?x4x6x6x!q.uniform<i8:f32, 0.1:-5>>, tensor<?x4x4x4x!q.uniform<i11:f32, 0.025>>
// CHECK-NEXT:  }
func.func @pools(%x: tensor<?x4x8x8x!q.uniform<i8:f32, 0.1:-5>>) -> (tensor<?x4x5x5x!q.uniform<i8:f32, 0.1:-5>>, tensor<?x4x6x6x!q.uniform<i8:f32, 0.1:-5>>, tensor<?x4x4x4x!q.uniform<i11:f32, 0.025>>) {
  %max = q.maxpool2d %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, ceil_mode = true} : (tensor<?x4x8x8x!q.uniform<i8:f32, 0.1:-5>>) -> tensor<?x4x5x5x!q.uniform<i8:f32, 0.1:-5>>
  %dil = q.maxpool2d %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 2, 2>, ceil_mode = false} : (tensor<?x4x8x8x!q.uniform<i8:f32, 0.1:-5>>) -> tensor<?x4x6x6x!q.uniform<i8:f32, 0.1:-5>>
  %avg = q.avgpool2d %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, ceil_mode = false} : (tensor<?x4x8x8x!q.uniform<i8:f32, 0.1:-5>>) -> tensor<?x4x4x4x!q.uniform<i11:f32, 0.025>>
  func.return %max, %dil, %avg : tensor<?x4x5x5x!q.uniform<i8:f32, 0.1:-5>>, tensor<?x4x6x6x!q.uniform<i8:f32, 0.1:-5>>, tensor<?x4x4x4x!q.uniform<i11:f32, 0.025>>
}

// Tables from functions: tanh on uint4, a square on threshold codes.
// CHECK-LABEL: func.func @lut(
// CHECK-SAME:  %x: tensor<2x8x!q.uniform<u4:f32, 0.25:8>>, %t: tensor<4x!q.thresholds<u2:f32, 0.5:1, [0.0, 1.0, 2.0]>>) -> (tensor<2x8x!q.uniform<i4:f32, 0.14285714285714285>>, tensor<4x!q.pot<u3:f32, 0.25>>) {
// CHECK-NEXT:    %tanh = q.lut %x {table = "0x99AACBED20436576"} : (tensor<2x8x!q.uniform<u4:f32, 0.25:8>>) -> tensor<2x8x!q.uniform<i4:f32, 0.14285714285714285>>
// CHECK-NEXT:    %sq = q.lut %t {table = "0x4106"} : (tensor<4x!q.thresholds<u2:f32, 0.5:1, [0.0, 1.0, 2.0]>>) -> tensor<4x!q.pot<u3:f32, 0.25>>
// CHECK-NEXT:    func.return %tanh, %sq : tensor<2x8x!q.uniform<i4:f32, 0.14285714285714285>>, tensor<4x!q.pot<u3:f32, 0.25>>
// CHECK-NEXT:  }
func.func @lut(%x: tensor<2x8x!q.uniform<u4:f32, 0.25:8>>, %t: tensor<4x!q.thresholds<u2:f32, 0.5:1, [0.0, 1.0, 2.0]>>) -> (tensor<2x8x!q.uniform<i4:f32, 0.14285714285714285>>, tensor<4x!q.pot<u3:f32, 0.25>>) {
  %tanh = q.lut %x {table = "0x99AACBED20436576"} : (tensor<2x8x!q.uniform<u4:f32, 0.25:8>>) -> tensor<2x8x!q.uniform<i4:f32, 0.14285714285714285>>
  %sq = q.lut %t {table = "0x4106"} : (tensor<4x!q.thresholds<u2:f32, 0.5:1, [0.0, 1.0, 2.0]>>) -> tensor<4x!q.pot<u3:f32, 0.25>>
  func.return %tanh, %sq : tensor<2x8x!q.uniform<i4:f32, 0.14285714285714285>>, tensor<4x!q.pot<u3:f32, 0.25>>
}

// Optional properties left out (defaults) and the generic input form.
// CHECK-LABEL: func.func @defaults(
// CHECK-SAME:  %x: tensor<1x4x9x9x!q.uniform<u8:f32, 0.02:128>>, %w: tensor<2x4x3x3x!q.pot<i4:f32, 0.5>>) -> (tensor<1x2x7x7x!q.uniform<i20:f32, 0.01>>, tensor<1x4x8x8x!q.uniform<u8:f32, 0.02:128>>, tensor<1x4x3x3x!q.uniform<i12:f32, 0.0022222222222222222>>) {
// CHECK-NEXT:    %c = q.conv2d %x, %w : (tensor<1x4x9x9x!q.uniform<u8:f32, 0.02:128>>, tensor<2x4x3x3x!q.pot<i4:f32, 0.5>>) -> tensor<1x2x7x7x!q.uniform<i20:f32, 0.01>>
// CHECK-NEXT:    %m = q.maxpool2d %x {kernel_shape = array<i64: 2, 2>} : (tensor<1x4x9x9x!q.uniform<u8:f32, 0.02:128>>) -> tensor<1x4x8x8x!q.uniform<u8:f32, 0.02:128>>
// CHECK-NEXT:    %a = q.avgpool2d %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 3, 3>} : (tensor<1x4x9x9x!q.uniform<u8:f32, 0.02:128>>) -> tensor<1x4x3x3x!q.uniform<i12:f32, 0.0022222222222222222>>
// CHECK-NEXT:    func.return %c, %m, %a : tensor<1x2x7x7x!q.uniform<i20:f32, 0.01>>, tensor<1x4x8x8x!q.uniform<u8:f32, 0.02:128>>, tensor<1x4x3x3x!q.uniform<i12:f32, 0.0022222222222222222>>
// CHECK-NEXT:  }
func.func @defaults(%x: tensor<1x4x9x9x!q.uniform<u8:f32, 0.02:128>>, %w: tensor<2x4x3x3x!q.pot<i4:f32, 0.5>>) -> (tensor<1x2x7x7x!q.uniform<i20:f32, 0.01>>, tensor<1x4x8x8x!q.uniform<u8:f32, 0.02:128>>, tensor<1x4x3x3x!q.uniform<i12:f32, 0.0022222222222222222>>) {
  %c = q.conv2d %x, %w : (tensor<1x4x9x9x!q.uniform<u8:f32, 0.02:128>>, tensor<2x4x3x3x!q.pot<i4:f32, 0.5>>) -> tensor<1x2x7x7x!q.uniform<i20:f32, 0.01>>
  %m = q.maxpool2d %x {kernel_shape = array<i64: 2, 2>} : (tensor<1x4x9x9x!q.uniform<u8:f32, 0.02:128>>) -> tensor<1x4x8x8x!q.uniform<u8:f32, 0.02:128>>
  %a = "q.avgpool2d"(%x) <{kernel_shape = array<i64: 3, 3>, strides = array<i64: 3, 3>}> : (tensor<1x4x9x9x!q.uniform<u8:f32, 0.02:128>>) -> tensor<1x4x3x3x!q.uniform<i12:f32, 0.0022222222222222222>>
  func.return %c, %m, %a : tensor<1x2x7x7x!q.uniform<i20:f32, 0.01>>, tensor<1x4x8x8x!q.uniform<u8:f32, 0.02:128>>, tensor<1x4x3x3x!q.uniform<i12:f32, 0.0022222222222222222>>
}
// The generic form prints properties in <{...}>; one op of each kind:
// GENERIC: %u4 = "q.constant"() <{value = "0xA33145CE0E"}> : () -> tensor<3x3x!q.uniform<u4:f32, 0.5:3>>
// GENERIC: %qx = "q.quantize"(%x) : (tensor<2x3x4xf32>) -> tensor<2x3x4x!q.uniform<u8:f32, 0.02:128>>
// GENERIC: %dx = "q.dequantize"(%qx) : (tensor<2x3x4x!q.uniform<u8:f32, 0.02:128>>) -> tensor<2x3x4xf32>
// GENERIC: %acc = "q.conv2d"(%x, %w, %b) <{strides = array<i64: 2, 2>, pads = array<i64: 1, 0, 1, 2>, dilations = array<i64: 1, 2>, group = 2 : i64}> : (tensor<1x4x9x9x!q.uniform<u8:f32, 0.02:128>>, tensor<4x2x3x3x!q.spot<2 x i4<0:5>:f32:0, {0.5, 0.25, 0.125, 0.5}>>, tensor<4x!q.uniform<i20:f32:0, {0.01, 0.005, 0.0025, 0.01}>>) -> tensor<1x4x5x4x!q.uniform<i21:f32:1, {0.01, 0.005, 0.0025, 0.01}>>
// GENERIC: %y = "q.matmul"(%a, %c, %bias) : (tensor<?x4x5x!q.uniform<i8:f32, 0.1:-10>>, tensor<5x3x!q.pot<i4:f32:1, {0.5, 0.25, 0.125}>>, tensor<3x!q.uniform<i16:f32:0, {0.05, 0.025, 0.0125}>>) -> tensor<?x4x3x!q.uniform<i18:f32:2, {0.05, 0.025, 0.0125}>>
// GENERIC: %r = "q.requantize"(%x) <{multiplier = array<i64: 41943, 41943, 62915>, shift = array<i64: 21, 20, 20>}> : (tensor<2x3x4x!q.uniform<i24:f32:1, {0.001, 0.002, 0.003}>>) -> tensor<2x3x4x!q.uniform<u8:f32, 0.05:3>>
// GENERIC: %sum = "q.add"(%a, %b) : (tensor<2x8x!q.uniform<u8:f32, 0.5:128>>, tensor<8x!q.uniform<i8:f32, 0.125:-3>>) -> tensor<2x8x!q.uniform<i11:f32, 0.125>>
// GENERIC: %relu = "q.relu"(%a) : (tensor<2x8x!q.uniform<u8:f32, 0.5:128>>) -> tensor<2x8x!q.uniform<u8:f32, 0.5:128>>
// GENERIC: %clamp = "q.clamp"(%a) <{min = 0 : i64, max = 100 : i64}> : (tensor<2x8x!q.uniform<u8:f32, 0.5:128>>) -> tensor<2x8x!q.uniform<u8:f32, 0.5:128>>
// GENERIC: %max = "q.maxpool2d"(%x) <{kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, ceil_mode = true}> : (tensor<?x4x8x8x!q.uniform<i8:f32, 0.1:-5>>) -> tensor<?x4x5x5x!q.uniform<i8:f32, 0.1:-5>>
// GENERIC: %avg = "q.avgpool2d"(%x) <{kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, ceil_mode = false}> : (tensor<?x4x8x8x!q.uniform<i8:f32, 0.1:-5>>) -> tensor<?x4x4x4x!q.uniform<i11:f32, 0.025>>
// GENERIC: %tanh = "q.lut"(%x) <{table = "0x99AACBED20436576"}> : (tensor<2x8x!q.uniform<u4:f32, 0.25:8>>) -> tensor<2x8x!q.uniform<i4:f32, 0.14285714285714285>>

// Multi-threshold activations (integer compares, thresholds built by
// q.ThresholdOp from the types): per-channel rows from a per-axis
// accumulator, a per-tensor row whose threshold 30.0 lies above every level
// (qmax + 1 = 256, never reached), and per-axis real thresholds on codes.
// CHECK-LABEL: func.func @threshold(
// CHECK-SAME:  %acc: tensor<2x3x4x!q.uniform<i16:f32:1, {0.001, 0.002, 0.003}>>, %y: tensor<8x!q.uniform<u8:f32, 0.1:3>>, %t: tensor<4x!q.thresholds<u2:f32, 0.5:1, [0.0, 1.0, 2.0]>>) -> (tensor<2x3x4x!q.thresholds<u2:f32, 0.5:1, [-1.0, 0.25, 2.0]>>, tensor<8x!q.thresholds<u3:f32, 0.25, [0.0, 0.3, 1.0, 1.0, 30.0]>>, tensor<4x!q.thresholds<u1:f32:0, 1.0, {{\[\[}}0.0], [0.5], [1.0], [-1.0{{\]\]}}>>) {
// CHECK-NEXT:    %codes = q.threshold %acc {thresholds = array<i64: -999, 250, 2000, -499, 125, 1000, -333, 84, 667>} : (tensor<2x3x4x!q.uniform<i16:f32:1, {0.001, 0.002, 0.003}>>) -> tensor<2x3x4x!q.thresholds<u2:f32, 0.5:1, [-1.0, 0.25, 2.0]>>
// CHECK-NEXT:    %clamped = q.threshold %y {thresholds = array<i64: 3, 6, 13, 13, 256>} : (tensor<8x!q.uniform<u8:f32, 0.1:3>>) -> tensor<8x!q.thresholds<u3:f32, 0.25, [0.0, 0.3, 1.0, 1.0, 30.0]>>
// CHECK-NEXT:    %rows = q.threshold %t {thresholds = array<i64: 1, 2, 3, 0>} : (tensor<4x!q.thresholds<u2:f32, 0.5:1, [0.0, 1.0, 2.0]>>) -> tensor<4x!q.thresholds<u1:f32:0, 1.0, {{\[\[}}0.0], [0.5], [1.0], [-1.0{{\]\]}}>>
// CHECK-NEXT:    func.return %codes, %clamped, %rows
// CHECK-NEXT:  }
func.func @threshold(%acc: tensor<2x3x4x!q.uniform<i16:f32:1, {0.001, 0.002, 0.003}>>, %y: tensor<8x!q.uniform<u8:f32, 0.1:3>>, %t: tensor<4x!q.thresholds<u2:f32, 0.5:1, [0.0, 1.0, 2.0]>>) -> (tensor<2x3x4x!q.thresholds<u2:f32, 0.5:1, [-1.0, 0.25, 2.0]>>, tensor<8x!q.thresholds<u3:f32, 0.25, [0.0, 0.3, 1.0, 1.0, 30.0]>>, tensor<4x!q.thresholds<u1:f32:0, 1.0, [[0.0], [0.5], [1.0], [-1.0]]>>) {
  %codes = q.threshold %acc {thresholds = array<i64: -999, 250, 2000, -499, 125, 1000, -333, 84, 667>} : (tensor<2x3x4x!q.uniform<i16:f32:1, {0.001, 0.002, 0.003}>>) -> tensor<2x3x4x!q.thresholds<u2:f32, 0.5:1, [-1.0, 0.25, 2.0]>>
  %clamped = q.threshold %y {thresholds = array<i64: 3, 6, 13, 13, 256>} : (tensor<8x!q.uniform<u8:f32, 0.1:3>>) -> tensor<8x!q.thresholds<u3:f32, 0.25, [0.0, 0.3, 1.0, 1.0, 30.0]>>
  %rows = q.threshold %t {thresholds = array<i64: 1, 2, 3, 0>} : (tensor<4x!q.thresholds<u2:f32, 0.5:1, [0.0, 1.0, 2.0]>>) -> tensor<4x!q.thresholds<u1:f32:0, 1.0, [[0.0], [0.5], [1.0], [-1.0]]>>
  func.return %codes, %clamped, %rows : tensor<2x3x4x!q.thresholds<u2:f32, 0.5:1, [-1.0, 0.25, 2.0]>>, tensor<8x!q.thresholds<u3:f32, 0.25, [0.0, 0.3, 1.0, 1.0, 30.0]>>, tensor<4x!q.thresholds<u1:f32:0, 1.0, [[0.0], [0.5], [1.0], [-1.0]]>>
}

// Binary weights: one bit each (code 1 = +1), per column scales; the
// accumulator of u8 (zero point 3) times ±1 over K = 5 is i12.
// CHECK-LABEL: func.func @binary(
// CHECK-SAME:  %x: tensor<?x4x5x!q.uniform<u8:f32, 0.1:3>>, %f: tensor<2x3xf32>) -> (tensor<?x4x3x!q.uniform<i12:f32:2, {0.05, 0.025, 0.0125}>>, tensor<2x3x!q.binary<f32, 0.5>>) {
// CHECK-NEXT:    %w = q.constant "0x077E" : tensor<5x3x!q.binary<f32:1, {0.5, 0.25, 0.125}>>
// CHECK-NEXT:    %y = q.matmul %x, %w : (tensor<?x4x5x!q.uniform<u8:f32, 0.1:3>>, tensor<5x3x!q.binary<f32:1, {0.5, 0.25, 0.125}>>) -> tensor<?x4x3x!q.uniform<i12:f32:2, {0.05, 0.025, 0.0125}>>
// CHECK-NEXT:    %b = q.quantize %f : (tensor<2x3xf32>) -> tensor<2x3x!q.binary<f32, 0.5>>
// CHECK-NEXT:    func.return %y, %b
// CHECK-NEXT:  }
func.func @binary(%x: tensor<?x4x5x!q.uniform<u8:f32, 0.1:3>>, %f: tensor<2x3xf32>) -> (tensor<?x4x3x!q.uniform<i12:f32:2, {0.05, 0.025, 0.0125}>>, tensor<2x3x!q.binary<f32, 0.5>>) {
  %w = q.constant "0x077E" : tensor<5x3x!q.binary<f32:1, {0.5, 0.25, 0.125}>>
  %y = q.matmul %x, %w : (tensor<?x4x5x!q.uniform<u8:f32, 0.1:3>>, tensor<5x3x!q.binary<f32:1, {0.5, 0.25, 0.125}>>) -> tensor<?x4x3x!q.uniform<i12:f32:2, {0.05, 0.025, 0.0125}>>
  %b = q.quantize %f : (tensor<2x3xf32>) -> tensor<2x3x!q.binary<f32, 0.5>>
  func.return %y, %b : tensor<?x4x3x!q.uniform<i12:f32:2, {0.05, 0.025, 0.0125}>>, tensor<2x3x!q.binary<f32, 0.5>>
}
// GENERIC: %codes = "q.threshold"(%acc) <{thresholds = array<i64: -999, 250, 2000, -499, 125, 1000, -333, 84, 667>}> : (tensor<2x3x4x!q.uniform<i16:f32:1, {0.001, 0.002, 0.003}>>) -> tensor<2x3x4x!q.thresholds<u2:f32, 0.5:1, [-1.0, 0.25, 2.0]>>
