// RUN: xdsl-opt %s --split-input-file --verify-diagnostics --parsing-diagnostics --allow-unregistered-dialect | filecheck %s

// One case per verifier rule of the q types and ops. A type that breaks a rule
// is a located parse error (printed with --parsing-diagnostics); an op that
// breaks one fails verification with a message naming the op and the rule.
// Rules that the textual syntax cannot express (a threshold scale per axis, an
// unknown level kind, ...) are covered by tests/py/test_q_types.py.

// ---- element types: each rule of qtypes.py, reported at the type ----

// CHECK: q.uniform: the expressed type must be f16, f32 or f64, got bf16
func.func private @f(!q.uniform<i8:bf16, 1.0>)
// -----
// CHECK: expected a storage type like i8 or u4, got 'x8'
func.func private @f(!q.uniform<x8:f32, 1.0>)
// -----
// CHECK: q.levels: signed integer width 0 is not in [1, 64]
func.func private @f(!q.uniform<i0:f32, 1.0>)
// -----
// CHECK: q.levels: signed integer width 65 is not in [1, 64]
func.func private @f(!q.uniform<i65:f32, 1.0>)
// -----
// CHECK: q.levels: unsigned integer width 64 is not in [1, 63]
func.func private @f(!q.uniform<u64:f32, 1.0>)
// -----
// CHECK: q.levels: range [-200:0] is empty or does not fit i8 ([-128:127])
func.func private @f(!q.uniform<i8<-200:0>:f32, 1.0>)
// -----
// CHECK: q.levels: range [5:4] is empty or does not fit u4 ([0:15])
func.func private @f(!q.uniform<u4<5:4>:f32, 1.0>)
// -----
// CHECK: q.levels: shifted levels must stay below 2^62
"test.op"() {levels = #q.levels<i8 << 60>} : () -> ()
// -----
// CHECK: q.levels: signed pot code width 1 is not in [2, 16]
func.func private @f(!q.pot<i1:f32, 1.0>)
// -----
// CHECK: q.levels: unsigned pot code width 17 is not in [1, 16]
func.func private @f(!q.pot<u17:f32, 1.0>)
// -----
// CHECK: q.levels: spot takes 2 to 4 terms, got 5
func.func private @f(!q.spot<5 x i4:f32, 1.0>)
// -----
// CHECK: q.levels: spot takes 2 to 4 terms, got 1
func.func private @f(!q.spot<1 x i4:f32, 1.0>)
// -----
// CHECK: q.levels: exponent range [3:2] must satisfy 0 <= low <= high
func.func private @f(!q.pot<i4<3:2>:f32, 1.0>)
// -----
// CHECK: q.levels: exponent range [-1:2] must satisfy 0 <= low <= high
func.func private @f(!q.pot<i4<-1:2>:f32, 1.0>)
// -----
// CHECK: q.levels: exponent 31 is larger than 30
func.func private @f(!q.pot<i8<0:31>:f32, 1.0>)
// -----
// CHECK: q.levels: 4 exponents [0:3] do not fit a 3-bit signed code (at most 3)
func.func private @f(!q.pot<i3<0:3>:f32, 1.0>)
// -----
// CHECK: q.levels: 9 exponents [1:9] do not fit a 3-bit unsigned code (at most 7)
func.func private @f(!q.spot<2 x u3<1:9>:f32, 1.0>)
// -----
// CHECK: q.levels: shifted levels must stay below 2^62
"test.op"() {levels = #q.levels<pot i4 << 60>} : () -> ()
// -----
// CHECK: nested scale lists must all have the same length
func.func private @f(!q.uniform<i8:f32:{0:1, 1:2}, {{1.0, 2.0}, {3.0}}>)
// -----
// CHECK: q.uniform: quantized axes must be distinct, increasing and >= 0
func.func private @f(!q.uniform<i8:f32:{1:1, 0:1}, {{1.0}}>)
// -----
// CHECK: q.pot: block sizes must be >= 1
func.func private @f(!q.pot<i4:f32:{0:0}, {1.0}>)
// -----
// CHECK: q.uniform: scale 0.0 must be positive and finite
func.func private @f(!q.uniform<i8:f32, 0.0>)
// -----
// CHECK: q.spot: scale -0.5 must be positive and finite
func.func private @f(!q.spot<2 x i4:f32:0, {0.5, -0.5}>)
// -----
// CHECK: q.uniform: scale inf must be positive and finite
func.func private @f(!q.uniform<i8:f32, 1.0e999>)
// -----
// CHECK: q.uniform: levels of kind 'pot' are not allowed
func.func private @f(!q.uniform<pot i4:f32, 1.0>)
// -----
// CHECK: q.uniform: a level shift is only allowed inside q.mixed
func.func private @f(!q.uniform<i8 << 2:f32, 1.0>)
// -----
// CHECK: q.pot: zero points must be 0
func.func private @f(!q.pot<i4:f32, 0.5:1>)
// -----
// CHECK: q.spot: zero points must be 0
func.func private @f(!q.spot<2 x i4:f32:0, {0.5, 0.5:-1}>)
// -----
// CHECK: q.uniform: zero point 256 is outside the storage range [0:255]
func.func private @f(!q.uniform<u8:f32, 1.0:256>)
// -----
// CHECK: q.uniform: zero point -128 is outside the storage range [-127:127]
func.func private @f(!q.uniform<i8<-127:127>:f32:0, {1.0, 1.0:-128}>)

// ---- binary ----

// -----
// CHECK: q.binary: zero points must be 0
func.func private @f(!q.binary<f32, 0.5:1>)
// -----
// CHECK: q.binary: scale -1.0 must be positive and finite
func.func private @f(!q.binary<f32, -1.0>)
// -----
// CHECK: q.binary: the expressed type must be f16, f32 or f64, got bf16
func.func private @f(!q.binary<bf16, 1.0>)
// -----
// CHECK: q.uniform: levels of kind 'binary' are not allowed
func.func private @f(!q.uniform<binary:f32, 1.0>)
// -----
// CHECK: q.levels: shifted levels must stay below 2^62
"test.op"() {l = #q.levels<binary << 62>} : () -> ()
// -----
// CHECK: 'q.constant': value has non-zero padding bits
%0 = q.constant "0xF5" : tensor<4x!q.binary<f32, 0.5>>
// -----
// CHECK: 'q.relu': relu of q.binary is not defined (it has no zero level)
func.func @f(%x: tensor<4x!q.binary<f32, 0.5>>) -> tensor<4x!q.binary<f32, 0.5>> {
  %0 = q.relu %x : (tensor<4x!q.binary<f32, 0.5>>) -> tensor<4x!q.binary<f32, 0.5>>
  func.return %0 : tensor<4x!q.binary<f32, 0.5>>
}

// ---- threshold codes ----

// -----
// CHECK: q.thresholds codes are unsigned: expected u2
func.func private @f(!q.thresholds<i2:f32, 1.0, [0.0]>)
// -----
// CHECK: q.thresholds: code width 17 is not in [1, 16]
func.func private @f(!q.thresholds<u17:f32, 1.0, [0.0]>)
// -----
// CHECK: q.thresholds: 2 thresholds do not fit u1 codes (1 to 1)
func.func private @f(!q.thresholds<u1:f32, 1.0, [0.0, 1.0]>)
// -----
// CHECK: q.thresholds: 0 thresholds do not fit u2 codes (1 to 3)
func.func private @f(!q.thresholds<u2:f32, 1.0, []>)
// -----
// CHECK: every threshold list must have the same length
func.func private @f(!q.thresholds<u2:f32:0, 1.0, [[0.0, 1.0], [2.0]]>)
// -----
// CHECK: q.thresholds: thresholds must be sorted in non-decreasing order
func.func private @f(!q.thresholds<u2:f32, 1.0, [1.0, 0.0]>)
// -----
// CHECK: q.thresholds: thresholds must be finite
func.func private @f(!q.thresholds<u2:f32, 1.0, [0.0, 1.0e400]>)
// -----
// CHECK: q.thresholds: zero point 4 is outside [0:3]
func.func private @f(!q.thresholds<u2:f32, 1.0:4, [0.0, 1.0, 2.0]>)
// -----
// CHECK: q.thresholds: the expressed type must be f16, f32 or f64, got f80
func.func private @f(!q.thresholds<u2:f80, 1.0, [0.0]>)
// -----
// CHECK: parameter 'expressed_type' does not verify
func.func private @f(!q.mixed<[i2, i8]:i32, 0.1, row = "0x00">)

// ---- mixed formats ----

// -----
// CHECK: expected row, block or outliers, got 'column'
func.func private @f(!q.mixed<[i2, i8]:f32, 0.1, column = "0x00">)
// -----
// CHECK: q.mixed: zero points must be 0
func.func private @f(!q.mixed<[i2, i8]:f32, 0.1:1, row = "0x00">)
// -----
// CHECK: q.mixed: needs at least two formats
func.func private @f(!q.mixed<[i8]:f32, 0.1, row = "0x00">)
// -----
// CHECK: q.mixed: format i20 is wider than 16 bits
func.func private @f(!q.mixed<[i2, i20]:f32, 0.1, row = "0x00">)
// -----
// CHECK: q.mixed: outliers take exactly two formats (bulk, outlier)
func.func private @f(!q.mixed<[i2, i4, i8]:f32, 0.1, outliers = "0x">)
// -----
// CHECK: q.mixed: block size must be >= 1
func.func private @f(!q.mixed<[i2, i8]:f32, 0.1, block 0 = "0x00">)
// -----
// CHECK: q.mixed: bad map: non-hexadecimal number found in fromhex() arg at position 0
func.func private @f(!q.mixed<[i2, i8]:f32, 0.1, row = "0xZZ">)
// -----
// CHECK: q.mixed: bad map: hex data must start with 0x
func.func private @f(!q.mixed<[i2, i8]:f32, 0.1, row = "00">)
// -----
// CHECK: q.mixed: the outlier map must hold little-endian uint32 indices
func.func private @f(!q.mixed<[i2, i8]:f32, 0.1, outliers = "0x010203">)

// ---- types against the shapes of the tensors they describe ----

// -----
// CHECK: 'q.dequantize': operand 0: q.mixed: the tensor shape must be static
func.func @f(%x: tensor<?x4x!q.mixed<[i2, i8]:f32, 0.1, row = "0x00">>) -> tensor<?x4xf32> {
  %0 = q.dequantize %x : (tensor<?x4x!q.mixed<[i2, i8]:f32, 0.1, row = "0x00">>) -> tensor<?x4xf32>
  func.return %0 : tensor<?x4xf32>
}
// -----
// CHECK: 'q.dequantize': operand 0: q.mixed: a tensor of rank 0 cannot be mixed
func.func @f(%x: tensor<!q.mixed<[i2, i8]:f32, 0.1, row = "0x00">>) -> tensor<f32> {
  %0 = q.dequantize %x : (tensor<!q.mixed<[i2, i8]:f32, 0.1, row = "0x00">>) -> tensor<f32>
  func.return %0 : tensor<f32>
}
// -----
// CHECK: 'q.dequantize': operand 0: q.mixed: block size 3 does not divide the last dimension of 2x4
func.func @f(%x: tensor<2x4x!q.mixed<[i2, i8]:f32, 0.1, block 3 = "0x00">>) -> tensor<2x4xf32> {
  %0 = q.dequantize %x : (tensor<2x4x!q.mixed<[i2, i8]:f32, 0.1, block 3 = "0x00">>) -> tensor<2x4xf32>
  func.return %0 : tensor<2x4xf32>
}
// -----
// CHECK: 'q.dequantize': operand 0: q.mixed: outlier indices must be strictly increasing and below 8
func.func @f(%x: tensor<2x4x!q.mixed<[i2, i8]:f32, 0.1, outliers = "0x0500000003000000">>) -> tensor<2x4xf32> {
  %0 = q.dequantize %x : (tensor<2x4x!q.mixed<[i2, i8]:f32, 0.1, outliers = "0x0500000003000000">>) -> tensor<2x4xf32>
  func.return %0 : tensor<2x4xf32>
}
// -----
// CHECK: 'q.dequantize': operand 0: q.mixed: outlier indices must be strictly increasing and below 8
func.func @f(%x: tensor<2x4x!q.mixed<[i2, i8]:f32, 0.1, outliers = "0x08000000">>) -> tensor<2x4xf32> {
  %0 = q.dequantize %x : (tensor<2x4x!q.mixed<[i2, i8]:f32, 0.1, outliers = "0x08000000">>) -> tensor<2x4xf32>
  func.return %0 : tensor<2x4xf32>
}
// -----
// CHECK: 'q.dequantize': operand 0: q.mixed: the map holds 1 bytes, 9 rows need 2
func.func @f(%x: tensor<9x4x!q.mixed<[i2, i8]:f32, 0.1, row = "0x00">>) -> tensor<9x4xf32> {
  %0 = q.dequantize %x : (tensor<9x4x!q.mixed<[i2, i8]:f32, 0.1, row = "0x00">>) -> tensor<9x4xf32>
  func.return %0 : tensor<9x4xf32>
}
// -----
// CHECK: 'q.dequantize': operand 0: q.mixed: the map uses a format index >= 3
func.func @f(%x: tensor<2x4x!q.mixed<[i2, i4, i8]:f32, 0.1, row = "0x0C">>) -> tensor<2x4xf32> {
  %0 = q.dequantize %x : (tensor<2x4x!q.mixed<[i2, i4, i8]:f32, 0.1, row = "0x0C">>) -> tensor<2x4xf32>
  func.return %0 : tensor<2x4xf32>
}
// -----
// CHECK: 'q.dequantize': operand 0: q.uniform: quantized axis 1 is out of range for shape 4
func.func @f(%x: tensor<4x!q.uniform<i8:f32:1, {1.0, 2.0}>>) -> tensor<4xf32> {
  %0 = q.dequantize %x : (tensor<4x!q.uniform<i8:f32:1, {1.0, 2.0}>>) -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}
// -----
// CHECK: 'q.dequantize': operand 0: q.uniform: axis 1 of shape 2x3 has 3 elements, the type describes 2 blocks of 1
func.func @f(%x: tensor<2x3x!q.uniform<i8:f32:1, {1.0, 2.0}>>) -> tensor<2x3xf32> {
  %0 = q.dequantize %x : (tensor<2x3x!q.uniform<i8:f32:1, {1.0, 2.0}>>) -> tensor<2x3xf32>
  func.return %0 : tensor<2x3xf32>
}
// -----
// CHECK: 'q.dequantize': operand 0: q.pot: axis 1 of shape 2x63 has 63 elements, the type describes 2 blocks of 32
func.func @f(%x: tensor<2x63x!q.pot<i4:f32:{1:32}, {1.0, 2.0}>>) -> tensor<2x63xf32> {
  %0 = q.dequantize %x : (tensor<2x63x!q.pot<i4:f32:{1:32}, {1.0, 2.0}>>) -> tensor<2x63xf32>
  func.return %0 : tensor<2x63xf32>
}
// -----
// CHECK: 'q.dequantize': operand 0: q.thresholds: threshold axis 2 is out of range for shape 2x3
func.func @f(%x: tensor<2x3x!q.thresholds<u1:f32:2, 1.0, [[0.0], [1.0]]>>) -> tensor<2x3xf32> {
  %0 = q.dequantize %x : (tensor<2x3x!q.thresholds<u1:f32:2, 1.0, [[0.0], [1.0]]>>) -> tensor<2x3xf32>
  func.return %0 : tensor<2x3xf32>
}
// -----
// CHECK: 'q.dequantize': operand 0: q.thresholds: axis 1 of shape 2x3 has 3 elements, the type has 2 threshold lists
func.func @f(%x: tensor<2x3x!q.thresholds<u1:f32:1, 1.0, [[0.0], [1.0]]>>) -> tensor<2x3xf32> {
  %0 = q.dequantize %x : (tensor<2x3x!q.thresholds<u1:f32:1, 1.0, [[0.0], [1.0]]>>) -> tensor<2x3xf32>
  func.return %0 : tensor<2x3xf32>
}

// ---- q.constant ----

// -----
// CHECK: q.constant expects a tensor type
%0 = q.constant "0x00" : !q.uniform<i8:f32, 1.0>
// -----
// CHECK: 'q.constant': expected a tensor of a quantized type, got tensor<2xi8>
%0 = q.constant "0x0102" : tensor<2xi8>
// -----
// CHECK: 'q.constant': a constant needs a static shape, got ?x2
%0 = q.constant "0x0102" : tensor<?x2x!q.uniform<i8:f32, 1.0>>
// -----
// CHECK: 'q.constant': value must be an even-length hex string starting with 0x
%0 = q.constant "0x010" : tensor<2x!q.uniform<i8:f32, 1.0>>
// -----
// CHECK: 'q.constant': value must be an even-length hex string starting with 0x
%0 = q.constant "0102" : tensor<2x!q.uniform<i8:f32, 1.0>>
// -----
// CHECK: 'q.constant': value is not a valid hex string
%0 = q.constant "0x01GG" : tensor<2x!q.uniform<i8:f32, 1.0>>
// -----
// CHECK: 'q.constant': value holds 3 bytes, 3 x !q.uniform<i4:f32, 1.0> needs 2
%0 = q.constant "0x010203" : tensor<3x!q.uniform<i4:f32, 1.0>>
// -----
// CHECK: 'q.constant': value element 0 holds level 64, which !q.pot<i4<0:3>:f32, 1.0> cannot represent
%0 = q.constant "0x07" : tensor<2x!q.pot<i4<0:3>:f32, 1.0>>
// -----
// CHECK: 'q.constant': value element 0 holds level -128, which !q.uniform<i8<-127:127>:f32, 1.0> cannot represent
%0 = q.constant "0x80" : tensor<1x!q.uniform<i8<-127:127>:f32, 1.0>>
// -----
// CHECK: 'q.constant': value element 1 holds level 3, which !q.thresholds<u2:f32, 1.0, [0.0, 1.0]> cannot represent
%0 = q.constant "0x0C" : tensor<2x!q.thresholds<u2:f32, 1.0, [0.0, 1.0]>>
// -----
// CHECK: 'q.constant': value element 0 has code 8, not the canonical code 0 of level 0
%0 = q.constant "0x08" : tensor<2x!q.pot<i4:f32, 1.0>>
// -----
// CHECK: 'q.constant': value element 0 has code 147, not the canonical code 18 of level 3
%0 = q.constant "0x93" : tensor<1x!q.spot<2 x i4:f32, 1.0>>
// -----
// CHECK: 'q.constant': value has non-zero padding bits
%0 = q.constant "0xF1" : tensor<1x!q.uniform<i4:f32, 1.0>>
// -----
// CHECK: 'q.constant': value element 0 holds level -4, which !q.mixed<[i3<-3:3>, i8]:f32, 1.0, row = "0x02"> cannot represent
%0 = q.constant "0x040000" : tensor<2x2x!q.mixed<[i3<-3:3>, i8]:f32, 1.0, row = "0x02">>

// ---- q.quantize, q.dequantize ----

// -----
// CHECK: 'q.quantize': input element type f16 differs from the expressed type f32
func.func @f(%x: tensor<4xf16>) -> tensor<4x!q.uniform<i8:f32, 1.0>> {
  %0 = q.quantize %x : (tensor<4xf16>) -> tensor<4x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<4x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.quantize': result has shape 5, expected 4
func.func @f(%x: tensor<4xf32>) -> tensor<5x!q.uniform<i8:f32, 1.0>> {
  %0 = q.quantize %x : (tensor<4xf32>) -> tensor<5x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<5x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.quantize': expected a tensor of a quantized type, got tensor<4xi8>
func.func @f(%x: tensor<4xf32>) -> tensor<4xi8> {
  %0 = q.quantize %x : (tensor<4xf32>) -> tensor<4xi8>
  func.return %0 : tensor<4xi8>
}
// -----
// CHECK: 'q.dequantize': result element type f64 differs from the expressed type f32
func.func @f(%x: tensor<4x!q.pot<i4:f32, 1.0>>) -> tensor<4xf64> {
  %0 = q.dequantize %x : (tensor<4x!q.pot<i4:f32, 1.0>>) -> tensor<4xf64>
  func.return %0 : tensor<4xf64>
}

// ---- q.conv2d ----

// -----
// CHECK: 'q.conv2d': the weight must be quantized per tensor or per axis 0; per-block scales would give every partial sum a different scale
func.func @f(%x: tensor<1x4x3x3x!q.uniform<i8:f32, 1.0>>, %w: tensor<2x4x1x1x!q.uniform<i8:f32:{1:2}, {1.0, 2.0}>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>> {
  %0 = q.conv2d %x, %w : (tensor<1x4x3x3x!q.uniform<i8:f32, 1.0>>, tensor<2x4x1x1x!q.uniform<i8:f32:{1:2}, {1.0, 2.0}>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
  func.return %0 : tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
}
// -----
// CHECK: 'q.conv2d': the input must have one scale (per tensor), got !q.uniform<i8:f32:1, {1.0, 2.0}>
func.func @f(%x: tensor<1x2x3x3x!q.uniform<i8:f32:1, {1.0, 2.0}>>, %w: tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>> {
  %0 = q.conv2d %x, %w : (tensor<1x2x3x3x!q.uniform<i8:f32:1, {1.0, 2.0}>>, tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
  func.return %0 : tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
}
// -----
// CHECK: 'q.conv2d': the input (activation) cannot be q.mixed
func.func @f(%x: tensor<1x2x3x3x!q.mixed<[i2, i8]:f32, 1.0, row = "0x00">>, %w: tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>> {
  %0 = q.conv2d %x, %w : (tensor<1x2x3x3x!q.mixed<[i2, i8]:f32, 1.0, row = "0x00">>, tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
  func.return %0 : tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
}
// -----
// CHECK: 'q.conv2d': operands and result must share one expressed type
func.func @f(%x: tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, %w: tensor<2x2x1x1x!q.uniform<i8:f16, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>> {
  %0 = q.conv2d %x, %w : (tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, tensor<2x2x1x1x!q.uniform<i8:f16, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
  func.return %0 : tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
}
// -----
// CHECK: 'q.conv2d': the result must be quantized per tensor or per axis 1
func.func @f(%x: tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, %w: tensor<2x2x1x1x!q.pot<i4:f32:0, {1.0, 2.0}>>) -> tensor<1x2x3x3x!q.uniform<i32:f32:2, {1.0, 2.0, 3.0}>> {
  %0 = q.conv2d %x, %w : (tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, tensor<2x2x1x1x!q.pot<i4:f32:0, {1.0, 2.0}>>) -> tensor<1x2x3x3x!q.uniform<i32:f32:2, {1.0, 2.0, 3.0}>>
  func.return %0 : tensor<1x2x3x3x!q.uniform<i32:f32:2, {1.0, 2.0, 3.0}>>
}
// -----
// CHECK: 'q.conv2d': the result scales must equal the products of the operand scales [0.5, 1.0]
func.func @f(%x: tensor<1x2x3x3x!q.uniform<i8:f32, 0.5>>, %w: tensor<2x2x1x1x!q.pot<i4:f32:0, {1.0, 2.0}>>) -> tensor<1x2x3x3x!q.uniform<i32:f32:1, {1.0, 2.0}>> {
  %0 = q.conv2d %x, %w : (tensor<1x2x3x3x!q.uniform<i8:f32, 0.5>>, tensor<2x2x1x1x!q.pot<i4:f32:0, {1.0, 2.0}>>) -> tensor<1x2x3x3x!q.uniform<i32:f32:1, {1.0, 2.0}>>
  func.return %0 : tensor<1x2x3x3x!q.uniform<i32:f32:1, {1.0, 2.0}>>
}
// -----
// CHECK: 'q.conv2d': the result scales must equal the products of the operand scales [0.5, 1.0]
func.func @f(%x: tensor<1x2x3x3x!q.uniform<i8:f32, 0.5>>, %w: tensor<2x2x1x1x!q.pot<i4:f32:0, {1.0, 2.0}>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 0.5>> {
  %0 = q.conv2d %x, %w : (tensor<1x2x3x3x!q.uniform<i8:f32, 0.5>>, tensor<2x2x1x1x!q.pot<i4:f32:0, {1.0, 2.0}>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 0.5>>
  func.return %0 : tensor<1x2x3x3x!q.uniform<i32:f32, 0.5>>
}
// -----
// CHECK: 'q.conv2d': the bias must be q.uniform with zero point 0
func.func @f(%x: tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, %w: tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>, %b: tensor<2x!q.uniform<i16:f32, 1.0:1>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>> {
  %0 = q.conv2d %x, %w, %b : (tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>, tensor<2x!q.uniform<i16:f32, 1.0:1>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
  func.return %0 : tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
}
// -----
// CHECK: 'q.conv2d': the bias has shape 3, expected 2
func.func @f(%x: tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, %w: tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>, %b: tensor<3x!q.uniform<i16:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>> {
  %0 = q.conv2d %x, %w, %b : (tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>, tensor<3x!q.uniform<i16:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
  func.return %0 : tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
}
// -----
// CHECK: 'q.conv2d': the bias scales must equal the products of the operand scales [1.0]
func.func @f(%x: tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, %w: tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>, %b: tensor<2x!q.uniform<i16:f32, 0.5>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>> {
  %0 = q.conv2d %x, %w, %b : (tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>, tensor<2x!q.uniform<i16:f32, 0.5>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
  func.return %0 : tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
}
// -----
// CHECK: 'q.conv2d': accumulator i16 is too narrow: results span [-32512, 32768], which needs i17
func.func @f(%x: tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, %w: tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i16:f32, 1.0>> {
  %0 = q.conv2d %x, %w : (tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i16:f32, 1.0>>
  func.return %0 : tensor<1x2x3x3x!q.uniform<i16:f32, 1.0>>
}
// -----
// CHECK: 'q.conv2d': accumulator i17 is too narrow: results span [-163584, 163839], which needs i19
func.func @f(%x: tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, %w: tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>, %b: tensor<2x!q.uniform<i18:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i17:f32, 1.0>> {
  %0 = q.conv2d %x, %w, %b : (tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>, tensor<2x!q.uniform<i18:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i17:f32, 1.0>>
  func.return %0 : tensor<1x2x3x3x!q.uniform<i17:f32, 1.0>>
}
// -----
// CHECK: 'q.conv2d': the result must be a signed full-range q.uniform accumulator, got !q.uniform<u32:f32, 1.0>
func.func @f(%x: tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, %w: tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<u32:f32, 1.0>> {
  %0 = q.conv2d %x, %w : (tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<u32:f32, 1.0>>
  func.return %0 : tensor<1x2x3x3x!q.uniform<u32:f32, 1.0>>
}
// -----
// CHECK: 'q.conv2d': the accumulator zero point must be 0
func.func @f(%x: tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, %w: tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0:5>> {
  %0 = q.conv2d %x, %w : (tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0:5>>
  func.return %0 : tensor<1x2x3x3x!q.uniform<i32:f32, 1.0:5>>
}
// -----
// CHECK: 'q.conv2d': expects a rank-4 input and weight, got 2x3x3 and 2x2x1x1
func.func @f(%x: tensor<2x3x3x!q.uniform<i8:f32, 1.0>>, %w: tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>> {
  %0 = q.conv2d %x, %w : (tensor<2x3x3x!q.uniform<i8:f32, 1.0>>, tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
  func.return %0 : tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
}
// -----
// CHECK: 'q.conv2d': strides and dilations need 2 values, pads 4
func.func @f(%x: tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, %w: tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>> {
  %0 = q.conv2d %x, %w {pads = array<i64: 1, 1>} : (tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
  func.return %0 : tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
}
// -----
// CHECK: 'q.conv2d': strides and dilations must be >= 1 and pads >= 0
func.func @f(%x: tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, %w: tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>> {
  %0 = q.conv2d %x, %w {strides = array<i64: 0, 1>} : (tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
  func.return %0 : tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
}
// -----
// CHECK: 'q.conv2d': group 3 must divide the 2 output channels
func.func @f(%x: tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, %w: tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>> {
  %0 = q.conv2d %x, %w {group = 3 : i64} : (tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
  func.return %0 : tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
}
// -----
// CHECK: 'q.conv2d': input has 2 channels, weight expects 2 x group 2
func.func @f(%x: tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, %w: tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>> {
  %0 = q.conv2d %x, %w {group = 2 : i64} : (tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, tensor<2x2x1x1x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
  func.return %0 : tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
}
// -----
// CHECK: 'q.conv2d': the window does not fit the input
func.func @f(%x: tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, %w: tensor<2x2x5x5x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x1x1x!q.uniform<i32:f32, 1.0>> {
  %0 = q.conv2d %x, %w : (tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, tensor<2x2x5x5x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x1x1x!q.uniform<i32:f32, 1.0>>
  func.return %0 : tensor<1x2x1x1x!q.uniform<i32:f32, 1.0>>
}
// -----
// CHECK: 'q.conv2d': result has shape 1x2x3x3, expected 1x2x2x2
func.func @f(%x: tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, %w: tensor<2x2x2x2x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>> {
  %0 = q.conv2d %x, %w : (tensor<1x2x3x3x!q.uniform<i8:f32, 1.0>>, tensor<2x2x2x2x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
  func.return %0 : tensor<1x2x3x3x!q.uniform<i32:f32, 1.0>>
}

// ---- q.matmul ----

// -----
// CHECK: 'q.matmul': operands need rank >= 2, got 4 and 4x2
func.func @f(%a: tensor<4x!q.uniform<i8:f32, 1.0>>, %b: tensor<4x2x!q.uniform<i8:f32, 1.0>>) -> tensor<2x!q.uniform<i32:f32, 1.0>> {
  %0 = q.matmul %a, %b : (tensor<4x!q.uniform<i8:f32, 1.0>>, tensor<4x2x!q.uniform<i8:f32, 1.0>>) -> tensor<2x!q.uniform<i32:f32, 1.0>>
  func.return %0 : tensor<2x!q.uniform<i32:f32, 1.0>>
}
// -----
// CHECK: 'q.matmul': inner dimensions differ (4 and 3)
func.func @f(%a: tensor<2x4x!q.uniform<i8:f32, 1.0>>, %b: tensor<3x2x!q.uniform<i8:f32, 1.0>>) -> tensor<2x2x!q.uniform<i32:f32, 1.0>> {
  %0 = q.matmul %a, %b : (tensor<2x4x!q.uniform<i8:f32, 1.0>>, tensor<3x2x!q.uniform<i8:f32, 1.0>>) -> tensor<2x2x!q.uniform<i32:f32, 1.0>>
  func.return %0 : tensor<2x2x!q.uniform<i32:f32, 1.0>>
}
// -----
// CHECK: 'q.matmul': the reduction dimension must be static
func.func @f(%a: tensor<2x?x!q.uniform<i8:f32, 1.0>>, %b: tensor<?x2x!q.uniform<i8:f32, 1.0>>) -> tensor<2x2x!q.uniform<i32:f32, 1.0>> {
  %0 = q.matmul %a, %b : (tensor<2x?x!q.uniform<i8:f32, 1.0>>, tensor<?x2x!q.uniform<i8:f32, 1.0>>) -> tensor<2x2x!q.uniform<i32:f32, 1.0>>
  func.return %0 : tensor<2x2x!q.uniform<i32:f32, 1.0>>
}
// -----
// CHECK: 'q.matmul': the weight must be quantized per tensor or per axis 1; per-block scales would give every partial sum a different scale
func.func @f(%a: tensor<2x4x!q.uniform<i8:f32, 1.0>>, %b: tensor<4x2x!q.uniform<i8:f32:0, {1.0, 1.0, 2.0, 2.0}>>) -> tensor<2x2x!q.uniform<i32:f32, 1.0>> {
  %0 = q.matmul %a, %b : (tensor<2x4x!q.uniform<i8:f32, 1.0>>, tensor<4x2x!q.uniform<i8:f32:0, {1.0, 1.0, 2.0, 2.0}>>) -> tensor<2x2x!q.uniform<i32:f32, 1.0>>
  func.return %0 : tensor<2x2x!q.uniform<i32:f32, 1.0>>
}
// -----
// CHECK: 'q.matmul': the result scales must equal the products of the operand scales [0.5, 1.0]
func.func @f(%a: tensor<2x4x!q.uniform<i8:f32, 1.0>>, %b: tensor<4x2x!q.uniform<i8:f32:1, {0.5, 1.0}>>) -> tensor<2x2x!q.uniform<i32:f32:1, {1.0, 0.5}>> {
  %0 = q.matmul %a, %b : (tensor<2x4x!q.uniform<i8:f32, 1.0>>, tensor<4x2x!q.uniform<i8:f32:1, {0.5, 1.0}>>) -> tensor<2x2x!q.uniform<i32:f32:1, {1.0, 0.5}>>
  func.return %0 : tensor<2x2x!q.uniform<i32:f32:1, {1.0, 0.5}>>
}
// -----
// CHECK: 'q.matmul': the bias must be quantized per tensor or per axis 0
func.func @f(%a: tensor<2x4x!q.uniform<i8:f32, 1.0>>, %b: tensor<4x2x!q.uniform<i8:f32, 1.0>>, %c: tensor<2x!q.uniform<i16:f32:{0:2}, {1.0}>>) -> tensor<2x2x!q.uniform<i32:f32, 1.0>> {
  %0 = q.matmul %a, %b, %c : (tensor<2x4x!q.uniform<i8:f32, 1.0>>, tensor<4x2x!q.uniform<i8:f32, 1.0>>, tensor<2x!q.uniform<i16:f32:{0:2}, {1.0}>>) -> tensor<2x2x!q.uniform<i32:f32, 1.0>>
  func.return %0 : tensor<2x2x!q.uniform<i32:f32, 1.0>>
}
// -----
// CHECK: 'q.matmul': accumulator i18 is too narrow: results span [-130048, 131072], which needs i19
func.func @f(%a: tensor<2x8x!q.uniform<u8:f32, 1.0:128>>, %b: tensor<8x2x!q.uniform<i8:f32, 1.0>>) -> tensor<2x2x!q.uniform<i18:f32, 1.0>> {
  %0 = q.matmul %a, %b : (tensor<2x8x!q.uniform<u8:f32, 1.0:128>>, tensor<8x2x!q.uniform<i8:f32, 1.0>>) -> tensor<2x2x!q.uniform<i18:f32, 1.0>>
  func.return %0 : tensor<2x2x!q.uniform<i18:f32, 1.0>>
}
// -----
// CHECK: 'q.matmul': accumulator i8 is too narrow: results span [-2032, 2048], which needs i13
func.func @f(%a: tensor<2x8x!q.uniform<i8:f32, 1.0>>, %b: tensor<8x2x!q.mixed<[i2, i8]:f32, 1.0, block 2 = "0x00">>) -> tensor<2x2x!q.uniform<i8:f32, 1.0>> {
  %0 = q.matmul %a, %b : (tensor<2x8x!q.uniform<i8:f32, 1.0>>, tensor<8x2x!q.mixed<[i2, i8]:f32, 1.0, block 2 = "0x00">>) -> tensor<2x2x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<2x2x!q.uniform<i8:f32, 1.0>>
}

// ---- q.requantize ----

// -----
// CHECK: 'q.requantize': the input must be q.uniform or q.thresholds, got !q.pot<i4:f32, 1.0>
func.func @f(%x: tensor<4x!q.pot<i4:f32, 1.0>>) -> tensor<4x!q.uniform<i8:f32, 1.0>> {
  %0 = q.requantize %x {multiplier = array<i64: 1>, shift = array<i64: 0>} : (tensor<4x!q.pot<i4:f32, 1.0>>) -> tensor<4x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<4x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.requantize': the result must be q.uniform, got !q.pot<i4:f32, 1.0>
func.func @f(%x: tensor<4x!q.uniform<i16:f32, 1.0>>) -> tensor<4x!q.pot<i4:f32, 1.0>> {
  %0 = q.requantize %x {multiplier = array<i64: 1>, shift = array<i64: 0>} : (tensor<4x!q.uniform<i16:f32, 1.0>>) -> tensor<4x!q.pot<i4:f32, 1.0>>
  func.return %0 : tensor<4x!q.pot<i4:f32, 1.0>>
}
// -----
// CHECK: 'q.requantize': the result must have one scale (per tensor)
func.func @f(%x: tensor<2x!q.uniform<i16:f32, 1.0>>) -> tensor<2x!q.uniform<i8:f32:0, {1.0, 1.0}>> {
  %0 = q.requantize %x {multiplier = array<i64: 1>, shift = array<i64: 0>} : (tensor<2x!q.uniform<i16:f32, 1.0>>) -> tensor<2x!q.uniform<i8:f32:0, {1.0, 1.0}>>
  func.return %0 : tensor<2x!q.uniform<i8:f32:0, {1.0, 1.0}>>
}
// -----
// CHECK: 'q.requantize': the input must be quantized per tensor or per axis; per-block scales are not supported
func.func @f(%x: tensor<4x!q.uniform<i16:f32:{0:2}, {1.0, 2.0}>>) -> tensor<4x!q.uniform<i8:f32, 1.0>> {
  %0 = q.requantize %x {multiplier = array<i64: 1, 2>, shift = array<i64: 0, 0>} : (tensor<4x!q.uniform<i16:f32:{0:2}, {1.0, 2.0}>>) -> tensor<4x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<4x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.requantize': multiplier and shift need 1 or 2 values, got 3 and 3
func.func @f(%x: tensor<2x!q.uniform<i16:f32:0, {1.0, 2.0}>>) -> tensor<2x!q.uniform<i8:f32, 1.0>> {
  %0 = q.requantize %x {multiplier = array<i64: 1, 2, 3>, shift = array<i64: 0, 0, 0>} : (tensor<2x!q.uniform<i16:f32:0, {1.0, 2.0}>>) -> tensor<2x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<2x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.requantize': multiplier and shift need 1 or 2 values, got 2 and 1
func.func @f(%x: tensor<2x!q.uniform<i16:f32:0, {1.0, 2.0}>>) -> tensor<2x!q.uniform<i8:f32, 1.0>> {
  %0 = q.requantize %x {multiplier = array<i64: 1, 2>, shift = array<i64: 0>} : (tensor<2x!q.uniform<i16:f32:0, {1.0, 2.0}>>) -> tensor<2x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<2x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.requantize': multipliers must be in [1, 2^32)
func.func @f(%x: tensor<4x!q.uniform<i16:f32, 1.0>>) -> tensor<4x!q.uniform<i8:f32, 1.0>> {
  %0 = q.requantize %x {multiplier = array<i64: 0>, shift = array<i64: 0>} : (tensor<4x!q.uniform<i16:f32, 1.0>>) -> tensor<4x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<4x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.requantize': multipliers must be in [1, 2^32)
func.func @f(%x: tensor<4x!q.uniform<i16:f32, 1.0>>) -> tensor<4x!q.uniform<i8:f32, 1.0>> {
  %0 = q.requantize %x {multiplier = array<i64: 4294967296>, shift = array<i64: 32>} : (tensor<4x!q.uniform<i16:f32, 1.0>>) -> tensor<4x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<4x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.requantize': shifts must be in [0, 62]
func.func @f(%x: tensor<4x!q.uniform<i16:f32, 1.0>>) -> tensor<4x!q.uniform<i8:f32, 1.0>> {
  %0 = q.requantize %x {multiplier = array<i64: 1>, shift = array<i64: 63>} : (tensor<4x!q.uniform<i16:f32, 1.0>>) -> tensor<4x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<4x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.requantize': multiplier 7 >> 4 does not match the scale ratio 0.3: 2^4 * ratio = 4.8 must be >= 0.5 and within 1 of the multiplier
func.func @f(%x: tensor<4x!q.uniform<i16:f32, 0.3>>) -> tensor<4x!q.uniform<i8:f32, 1.0>> {
  %0 = q.requantize %x {multiplier = array<i64: 7>, shift = array<i64: 4>} : (tensor<4x!q.uniform<i16:f32, 0.3>>) -> tensor<4x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<4x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.requantize': multiplier 1 >> 0 does not match the scale ratio 0.01: 2^0 * ratio = 0.01 must be >= 0.5 and within 1 of the multiplier
func.func @f(%x: tensor<4x!q.uniform<i16:f32, 0.01>>) -> tensor<4x!q.uniform<i8:f32, 1.0>> {
  %0 = q.requantize %x {multiplier = array<i64: 1>, shift = array<i64: 0>} : (tensor<4x!q.uniform<i16:f32, 0.01>>) -> tensor<4x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<4x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.requantize': input range times multiplier overflows 62 bits
func.func @f(%x: tensor<4x!q.uniform<i41:f32, 1.0>>) -> tensor<4x!q.uniform<i8:f32, 1.0>> {
  %0 = q.requantize %x {multiplier = array<i64: 4194304>, shift = array<i64: 22>} : (tensor<4x!q.uniform<i41:f32, 1.0>>) -> tensor<4x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<4x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.requantize': result has shape 5, expected 4
func.func @f(%x: tensor<4x!q.uniform<i16:f32, 1.0>>) -> tensor<5x!q.uniform<i8:f32, 1.0>> {
  %0 = q.requantize %x {multiplier = array<i64: 1>, shift = array<i64: 0>} : (tensor<4x!q.uniform<i16:f32, 1.0>>) -> tensor<5x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<5x!q.uniform<i8:f32, 1.0>>
}

// ---- q.threshold ----

// -----
// CHECK: 'q.threshold': integer thresholds of row 0 must be [1, 2]: the smallest input levels whose real value reaches each threshold
func.func @f(%x: tensor<4x!q.uniform<i8:f32, 0.5>>) -> tensor<4x!q.thresholds<u2:f32, 1.0, [0.3, 1.0]>> {
  %0 = q.threshold %x {thresholds = array<i64: 0, 2>} : (tensor<4x!q.uniform<i8:f32, 0.5>>) -> tensor<4x!q.thresholds<u2:f32, 1.0, [0.3, 1.0]>>
  func.return %0 : tensor<4x!q.thresholds<u2:f32, 1.0, [0.3, 1.0]>>
}
// -----
// CHECK: 'q.threshold': integer thresholds of row 1 must be [-1, 3]: the smallest input levels whose real value reaches each threshold
func.func @f(%x: tensor<4x2x!q.uniform<i8:f32:1, {0.5, 1.0}>>) -> tensor<4x2x!q.thresholds<u2:f32, 1.0, [-1.0, 2.5]>> {
  %0 = q.threshold %x {thresholds = array<i64: -2, 5, -1, 2>} : (tensor<4x2x!q.uniform<i8:f32:1, {0.5, 1.0}>>) -> tensor<4x2x!q.thresholds<u2:f32, 1.0, [-1.0, 2.5]>>
  func.return %0 : tensor<4x2x!q.thresholds<u2:f32, 1.0, [-1.0, 2.5]>>
}
// -----
// CHECK: 'q.threshold': expected 1 x 2 integer thresholds, got 3
func.func @f(%x: tensor<4x!q.uniform<i8:f32, 0.5>>) -> tensor<4x!q.thresholds<u2:f32, 1.0, [0.3, 1.0]>> {
  %0 = q.threshold %x {thresholds = array<i64: 1, 2, 3>} : (tensor<4x!q.uniform<i8:f32, 0.5>>) -> tensor<4x!q.thresholds<u2:f32, 1.0, [0.3, 1.0]>>
  func.return %0 : tensor<4x!q.thresholds<u2:f32, 1.0, [0.3, 1.0]>>
}
// -----
// CHECK: 'q.threshold': the result must be q.thresholds, got !q.uniform<u2:f32, 1.0>
func.func @f(%x: tensor<4x!q.uniform<i8:f32, 0.5>>) -> tensor<4x!q.uniform<u2:f32, 1.0>> {
  %0 = q.threshold %x {thresholds = array<i64: 1, 2>} : (tensor<4x!q.uniform<i8:f32, 0.5>>) -> tensor<4x!q.uniform<u2:f32, 1.0>>
  func.return %0 : tensor<4x!q.uniform<u2:f32, 1.0>>
}
// -----
// CHECK: 'q.threshold': the input must be q.uniform or q.thresholds, got !q.pot<i4:f32, 1.0>
func.func @f(%x: tensor<4x!q.pot<i4:f32, 1.0>>) -> tensor<4x!q.thresholds<u1:f32, 1.0, [0.0]>> {
  %0 = q.threshold %x {thresholds = array<i64: 0>} : (tensor<4x!q.pot<i4:f32, 1.0>>) -> tensor<4x!q.thresholds<u1:f32, 1.0, [0.0]>>
  func.return %0 : tensor<4x!q.thresholds<u1:f32, 1.0, [0.0]>>
}
// -----
// CHECK: 'q.threshold': the input's scales (axis 1, 3) and the result's thresholds (axis 0, 2 lists) must share one axis and length
func.func @f(%x: tensor<2x3x!q.uniform<i8:f32:1, {0.5, 0.5, 0.5}>>) -> tensor<2x3x!q.thresholds<u1:f32:0, 1.0, [[0.0], [1.0]]>> {
  %0 = q.threshold %x {thresholds = array<i64: 0, 2>} : (tensor<2x3x!q.uniform<i8:f32:1, {0.5, 0.5, 0.5}>>) -> tensor<2x3x!q.thresholds<u1:f32:0, 1.0, [[0.0], [1.0]]>>
  func.return %0 : tensor<2x3x!q.thresholds<u1:f32:0, 1.0, [[0.0], [1.0]]>>
}
// -----
// CHECK: 'q.threshold': the input must be quantized per tensor or per axis; per-block scales are not supported
func.func @f(%x: tensor<2x4x!q.uniform<i8:f32:{1:2}, {0.5, 0.25}>>) -> tensor<2x4x!q.thresholds<u1:f32, 1.0, [0.0]>> {
  %0 = q.threshold %x {thresholds = array<i64: 0>} : (tensor<2x4x!q.uniform<i8:f32:{1:2}, {0.5, 0.25}>>) -> tensor<2x4x!q.thresholds<u1:f32, 1.0, [0.0]>>
  func.return %0 : tensor<2x4x!q.thresholds<u1:f32, 1.0, [0.0]>>
}
// -----
// CHECK: 'q.threshold': the input levels must stay below 2^63 - 1 (at most i63)
func.func @f(%x: tensor<4x!q.uniform<i64:f32, 0.5>>) -> tensor<4x!q.thresholds<u1:f32, 1.0, [0.0]>> {
  %0 = q.threshold %x {thresholds = array<i64: 0>} : (tensor<4x!q.uniform<i64:f32, 0.5>>) -> tensor<4x!q.thresholds<u1:f32, 1.0, [0.0]>>
  func.return %0 : tensor<4x!q.thresholds<u1:f32, 1.0, [0.0]>>
}
// -----
// CHECK: 'q.threshold': the input and the result must share one expressed type
func.func @f(%x: tensor<4x!q.uniform<i8:f16, 0.5>>) -> tensor<4x!q.thresholds<u1:f32, 1.0, [0.0]>> {
  %0 = q.threshold %x {thresholds = array<i64: 0>} : (tensor<4x!q.uniform<i8:f16, 0.5>>) -> tensor<4x!q.thresholds<u1:f32, 1.0, [0.0]>>
  func.return %0 : tensor<4x!q.thresholds<u1:f32, 1.0, [0.0]>>
}
// -----
// CHECK: 'q.threshold': result has shape 5, expected 4
func.func @f(%x: tensor<4x!q.uniform<i8:f32, 0.5>>) -> tensor<5x!q.thresholds<u1:f32, 1.0, [0.0]>> {
  %0 = q.threshold %x {thresholds = array<i64: 0>} : (tensor<4x!q.uniform<i8:f32, 0.5>>) -> tensor<5x!q.thresholds<u1:f32, 1.0, [0.0]>>
  func.return %0 : tensor<5x!q.thresholds<u1:f32, 1.0, [0.0]>>
}

// ---- q.add ----

// -----
// CHECK: 'q.add': the rhs must be q.uniform or q.thresholds, got !q.pot<i4:f32, 1.0>
func.func @f(%a: tensor<4x!q.uniform<i8:f32, 1.0>>, %b: tensor<4x!q.pot<i4:f32, 1.0>>) -> tensor<4x!q.uniform<i16:f32, 1.0>> {
  %0 = q.add %a, %b : (tensor<4x!q.uniform<i8:f32, 1.0>>, tensor<4x!q.pot<i4:f32, 1.0>>) -> tensor<4x!q.uniform<i16:f32, 1.0>>
  func.return %0 : tensor<4x!q.uniform<i16:f32, 1.0>>
}
// -----
// CHECK: 'q.add': the lhs must have one scale (per tensor)
func.func @f(%a: tensor<2x!q.uniform<i8:f32:0, {1.0, 2.0}>>, %b: tensor<2x!q.uniform<i8:f32, 1.0>>) -> tensor<2x!q.uniform<i16:f32, 1.0>> {
  %0 = q.add %a, %b : (tensor<2x!q.uniform<i8:f32:0, {1.0, 2.0}>>, tensor<2x!q.uniform<i8:f32, 1.0>>) -> tensor<2x!q.uniform<i16:f32, 1.0>>
  func.return %0 : tensor<2x!q.uniform<i16:f32, 1.0>>
}
// -----
// CHECK: 'q.add': operands and result must share one expressed type
func.func @f(%a: tensor<4x!q.uniform<i8:f32, 1.0>>, %b: tensor<4x!q.uniform<i8:f16, 1.0>>) -> tensor<4x!q.uniform<i16:f32, 1.0>> {
  %0 = q.add %a, %b : (tensor<4x!q.uniform<i8:f32, 1.0>>, tensor<4x!q.uniform<i8:f16, 1.0>>) -> tensor<4x!q.uniform<i16:f32, 1.0>>
  func.return %0 : tensor<4x!q.uniform<i16:f32, 1.0>>
}
// -----
// CHECK: 'q.add': the rhs scale 0.3 must be the result scale 0.1 times a power of two >= 1
func.func @f(%a: tensor<4x!q.uniform<i8:f32, 0.1>>, %b: tensor<4x!q.uniform<i8:f32, 0.3>>) -> tensor<4x!q.uniform<i16:f32, 0.1>> {
  %0 = q.add %a, %b : (tensor<4x!q.uniform<i8:f32, 0.1>>, tensor<4x!q.uniform<i8:f32, 0.3>>) -> tensor<4x!q.uniform<i16:f32, 0.1>>
  func.return %0 : tensor<4x!q.uniform<i16:f32, 0.1>>
}
// -----
// CHECK: 'q.add': the lhs scale 0.5 must be the result scale 1.0 times a power of two >= 1
func.func @f(%a: tensor<4x!q.uniform<i8:f32, 0.5>>, %b: tensor<4x!q.uniform<i8:f32, 1.0>>) -> tensor<4x!q.uniform<i16:f32, 1.0>> {
  %0 = q.add %a, %b : (tensor<4x!q.uniform<i8:f32, 0.5>>, tensor<4x!q.uniform<i8:f32, 1.0>>) -> tensor<4x!q.uniform<i16:f32, 1.0>>
  func.return %0 : tensor<4x!q.uniform<i16:f32, 1.0>>
}
// -----
// CHECK: 'q.add': accumulator i9 is too narrow: results span [-384, 381], which needs i10
func.func @f(%a: tensor<4x!q.uniform<i8:f32, 0.5>>, %b: tensor<4x!q.uniform<i8:f32, 0.25>>) -> tensor<4x!q.uniform<i9:f32, 0.25>> {
  %0 = q.add %a, %b : (tensor<4x!q.uniform<i8:f32, 0.5>>, tensor<4x!q.uniform<i8:f32, 0.25>>) -> tensor<4x!q.uniform<i9:f32, 0.25>>
  func.return %0 : tensor<4x!q.uniform<i9:f32, 0.25>>
}
// -----
// CHECK: 'q.add': shapes 4, 3 are not broadcast-compatible
func.func @f(%a: tensor<4x!q.uniform<i8:f32, 1.0>>, %b: tensor<3x!q.uniform<i8:f32, 1.0>>) -> tensor<4x!q.uniform<i16:f32, 1.0>> {
  %0 = q.add %a, %b : (tensor<4x!q.uniform<i8:f32, 1.0>>, tensor<3x!q.uniform<i8:f32, 1.0>>) -> tensor<4x!q.uniform<i16:f32, 1.0>>
  func.return %0 : tensor<4x!q.uniform<i16:f32, 1.0>>
}

// ---- q.clamp, q.relu ----

// -----
// CHECK: 'q.clamp': the result type must equal the input type
func.func @f(%x: tensor<4x!q.uniform<i8:f32, 1.0>>) -> tensor<4x!q.uniform<i8:f32, 2.0>> {
  %0 = q.clamp %x {min = 0 : i64, max = 5 : i64} : (tensor<4x!q.uniform<i8:f32, 1.0>>) -> tensor<4x!q.uniform<i8:f32, 2.0>>
  func.return %0 : tensor<4x!q.uniform<i8:f32, 2.0>>
}
// -----
// CHECK: 'q.clamp': min 5 is larger than max 0
func.func @f(%x: tensor<4x!q.uniform<i8:f32, 1.0>>) -> tensor<4x!q.uniform<i8:f32, 1.0>> {
  %0 = q.clamp %x {min = 5 : i64, max = 0 : i64} : (tensor<4x!q.uniform<i8:f32, 1.0>>) -> tensor<4x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<4x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.clamp': cannot clamp q.thresholds levels
func.func @f(%x: tensor<4x!q.thresholds<u2:f32, 1.0, [0.0, 1.0]>>) -> tensor<4x!q.thresholds<u2:f32, 1.0, [0.0, 1.0]>> {
  %0 = q.clamp %x {min = 0 : i64, max = 1 : i64} : (tensor<4x!q.thresholds<u2:f32, 1.0, [0.0, 1.0]>>) -> tensor<4x!q.thresholds<u2:f32, 1.0, [0.0, 1.0]>>
  func.return %0 : tensor<4x!q.thresholds<u2:f32, 1.0, [0.0, 1.0]>>
}
// -----
// CHECK: 'q.clamp': bounds [-3, 4] are not levels of !q.pot<i4:f32, 1.0>
func.func @f(%x: tensor<4x!q.pot<i4:f32, 1.0>>) -> tensor<4x!q.pot<i4:f32, 1.0>> {
  %0 = q.clamp %x {min = -3 : i64, max = 4 : i64} : (tensor<4x!q.pot<i4:f32, 1.0>>) -> tensor<4x!q.pot<i4:f32, 1.0>>
  func.return %0 : tensor<4x!q.pot<i4:f32, 1.0>>
}
// -----
// CHECK: 'q.relu': the result type must equal the input type
func.func @f(%x: tensor<4x!q.uniform<i8:f32, 1.0>>) -> tensor<4x!q.uniform<u8:f32, 1.0>> {
  %0 = q.relu %x : (tensor<4x!q.uniform<i8:f32, 1.0>>) -> tensor<4x!q.uniform<u8:f32, 1.0>>
  func.return %0 : tensor<4x!q.uniform<u8:f32, 1.0>>
}
// -----
// CHECK: 'q.relu': relu of q.mixed is not defined
func.func @f(%x: tensor<2x2x!q.mixed<[i2, i8]:f32, 1.0, row = "0x00">>) -> tensor<2x2x!q.mixed<[i2, i8]:f32, 1.0, row = "0x00">> {
  %0 = q.relu %x : (tensor<2x2x!q.mixed<[i2, i8]:f32, 1.0, row = "0x00">>) -> tensor<2x2x!q.mixed<[i2, i8]:f32, 1.0, row = "0x00">>
  func.return %0 : tensor<2x2x!q.mixed<[i2, i8]:f32, 1.0, row = "0x00">>
}
// -----
// CHECK: 'q.relu': expected a tensor of a quantized type, got tensor<4xf32>
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = q.relu %x : (tensor<4xf32>) -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// ---- q.maxpool2d, q.avgpool2d ----

// -----
// CHECK: 'q.maxpool2d': expects a rank-4 NCHW input, got 4x4x4
func.func @f(%x: tensor<4x4x4x!q.uniform<i8:f32, 1.0>>) -> tensor<4x4x4x!q.uniform<i8:f32, 1.0>> {
  %0 = q.maxpool2d %x {kernel_shape = array<i64: 2, 2>} : (tensor<4x4x4x!q.uniform<i8:f32, 1.0>>) -> tensor<4x4x4x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<4x4x4x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.maxpool2d': kernel_shape, strides and dilations need 2 values
func.func @f(%x: tensor<1x1x4x4x!q.uniform<i8:f32, 1.0>>) -> tensor<1x1x2x2x!q.uniform<i8:f32, 1.0>> {
  %0 = q.maxpool2d %x {kernel_shape = array<i64: 2>} : (tensor<1x1x4x4x!q.uniform<i8:f32, 1.0>>) -> tensor<1x1x2x2x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<1x1x2x2x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.maxpool2d': pads [0, 0, -1, 0] must be >= 0 and smaller than the window extent [2, 2]
func.func @f(%x: tensor<1x1x4x4x!q.uniform<i8:f32, 1.0>>) -> tensor<1x1x2x2x!q.uniform<i8:f32, 1.0>> {
  %0 = q.maxpool2d %x {kernel_shape = array<i64: 2, 2>, pads = array<i64: 0, 0, -1, 0>} : (tensor<1x1x4x4x!q.uniform<i8:f32, 1.0>>) -> tensor<1x1x2x2x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<1x1x2x2x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.maxpool2d': pads [2, 2, 0, 0] must be >= 0 and smaller than the window extent [2, 2]
func.func @f(%x: tensor<1x1x4x4x!q.uniform<i8:f32, 1.0>>) -> tensor<1x1x5x5x!q.uniform<i8:f32, 1.0>> {
  %0 = q.maxpool2d %x {kernel_shape = array<i64: 2, 2>, pads = array<i64: 2, 2, 0, 0>} : (tensor<1x1x4x4x!q.uniform<i8:f32, 1.0>>) -> tensor<1x1x5x5x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<1x1x5x5x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.maxpool2d': kernel_shape, strides and dilations must be >= 1
func.func @f(%x: tensor<1x1x4x4x!q.uniform<i8:f32, 1.0>>) -> tensor<1x1x2x2x!q.uniform<i8:f32, 1.0>> {
  %0 = q.maxpool2d %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 0, 1>} : (tensor<1x1x4x4x!q.uniform<i8:f32, 1.0>>) -> tensor<1x1x2x2x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<1x1x2x2x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.maxpool2d': the window does not fit the input
func.func @f(%x: tensor<1x1x4x4x!q.uniform<i8:f32, 1.0>>) -> tensor<1x1x1x1x!q.uniform<i8:f32, 1.0>> {
  %0 = q.maxpool2d %x {kernel_shape = array<i64: 5, 5>} : (tensor<1x1x4x4x!q.uniform<i8:f32, 1.0>>) -> tensor<1x1x1x1x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<1x1x1x1x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.maxpool2d': result has shape 1x1x4x4, expected 1x1x3x3
func.func @f(%x: tensor<1x1x4x4x!q.uniform<i8:f32, 1.0>>) -> tensor<1x1x4x4x!q.uniform<i8:f32, 1.0>> {
  %0 = q.maxpool2d %x {kernel_shape = array<i64: 2, 2>} : (tensor<1x1x4x4x!q.uniform<i8:f32, 1.0>>) -> tensor<1x1x4x4x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<1x1x4x4x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.maxpool2d': the result element type must equal the input's
func.func @f(%x: tensor<1x1x4x4x!q.uniform<i8:f32, 1.0>>) -> tensor<1x1x3x3x!q.uniform<i8:f32, 2.0>> {
  %0 = q.maxpool2d %x {kernel_shape = array<i64: 2, 2>} : (tensor<1x1x4x4x!q.uniform<i8:f32, 1.0>>) -> tensor<1x1x3x3x!q.uniform<i8:f32, 2.0>>
  func.return %0 : tensor<1x1x3x3x!q.uniform<i8:f32, 2.0>>
}
// -----
// CHECK: 'q.maxpool2d': scales must not vary inside a pooling window
func.func @f(%x: tensor<1x1x2x2x!q.uniform<i8:f32:2, {1.0, 2.0}>>) -> tensor<1x1x2x1x!q.uniform<i8:f32:2, {1.0, 2.0}>> {
  %0 = q.maxpool2d %x {kernel_shape = array<i64: 1, 2>} : (tensor<1x1x2x2x!q.uniform<i8:f32:2, {1.0, 2.0}>>) -> tensor<1x1x2x1x!q.uniform<i8:f32:2, {1.0, 2.0}>>
  func.return %0 : tensor<1x1x2x1x!q.uniform<i8:f32:2, {1.0, 2.0}>>
}
// -----
// CHECK: 'q.maxpool2d': a pooling window lies entirely in the padding
func.func @f(%x: tensor<1x1x3x3x!q.uniform<i8:f32, 1.0>>) -> tensor<1x1x1x3x!q.uniform<i8:f32, 1.0>> {
  %0 = q.maxpool2d %x {kernel_shape = array<i64: 2, 1>, pads = array<i64: 1, 0, 1, 0>, dilations = array<i64: 4, 1>} : (tensor<1x1x3x3x!q.uniform<i8:f32, 1.0>>) -> tensor<1x1x1x3x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<1x1x1x3x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.avgpool2d': the input must have one scale (per tensor)
func.func @f(%x: tensor<1x2x2x2x!q.uniform<i8:f32:1, {1.0, 2.0}>>) -> tensor<1x2x1x1x!q.uniform<i10:f32, 0.25>> {
  %0 = q.avgpool2d %x {kernel_shape = array<i64: 2, 2>} : (tensor<1x2x2x2x!q.uniform<i8:f32:1, {1.0, 2.0}>>) -> tensor<1x2x1x1x!q.uniform<i10:f32, 0.25>>
  func.return %0 : tensor<1x2x1x1x!q.uniform<i10:f32, 0.25>>
}
// -----
// CHECK: 'q.avgpool2d': the result scale must be the input scale / 4 = 0.25
func.func @f(%x: tensor<1x2x2x2x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x1x1x!q.uniform<i10:f32, 1.0>> {
  %0 = q.avgpool2d %x {kernel_shape = array<i64: 2, 2>} : (tensor<1x2x2x2x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x1x1x!q.uniform<i10:f32, 1.0>>
  func.return %0 : tensor<1x2x1x1x!q.uniform<i10:f32, 1.0>>
}
// -----
// CHECK: 'q.avgpool2d': accumulator i9 is too narrow: results span [-512, 508], which needs i10
func.func @f(%x: tensor<1x2x2x2x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x1x1x!q.uniform<i9:f32, 0.25>> {
  %0 = q.avgpool2d %x {kernel_shape = array<i64: 2, 2>} : (tensor<1x2x2x2x!q.uniform<i8:f32, 1.0>>) -> tensor<1x2x1x1x!q.uniform<i9:f32, 0.25>>
  func.return %0 : tensor<1x2x1x1x!q.uniform<i9:f32, 0.25>>
}

// ---- q.lut ----

// -----
// CHECK: 'q.lut': the input must be q.uniform or q.thresholds, got !q.pot<i4:f32, 1.0>
func.func @f(%x: tensor<4x!q.pot<i4:f32, 1.0>>) -> tensor<4x!q.uniform<i8:f32, 1.0>> {
  %0 = q.lut %x {table = "0x00"} : (tensor<4x!q.pot<i4:f32, 1.0>>) -> tensor<4x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<4x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.lut': the input must have one scale (per tensor)
func.func @f(%x: tensor<2x!q.uniform<u1:f32:0, {1.0, 2.0}>>) -> tensor<2x!q.uniform<i8:f32, 1.0>> {
  %0 = q.lut %x {table = "0x0001"} : (tensor<2x!q.uniform<u1:f32:0, {1.0, 2.0}>>) -> tensor<2x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<2x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.lut': the result cannot be q.mixed
func.func @f(%x: tensor<2x2x!q.uniform<u1:f32, 1.0>>) -> tensor<2x2x!q.mixed<[i2, i8]:f32, 1.0, row = "0x00">> {
  %0 = q.lut %x {table = "0x00"} : (tensor<2x2x!q.uniform<u1:f32, 1.0>>) -> tensor<2x2x!q.mixed<[i2, i8]:f32, 1.0, row = "0x00">>
  func.return %0 : tensor<2x2x!q.mixed<[i2, i8]:f32, 1.0, row = "0x00">>
}
// -----
// CHECK: 'q.lut': the input has 131072 levels; tables take at most 65536
func.func @f(%x: tensor<2x!q.uniform<i17:f32, 1.0>>) -> tensor<2x!q.uniform<i8:f32, 1.0>> {
  %0 = q.lut %x {table = "0x00"} : (tensor<2x!q.uniform<i17:f32, 1.0>>) -> tensor<2x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<2x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.lut': the table (4 entries) holds 1 bytes, 4 x !q.uniform<i8:f32, 1.0> needs 4
func.func @f(%x: tensor<2x!q.uniform<u2:f32, 1.0>>) -> tensor<2x!q.uniform<i8:f32, 1.0>> {
  %0 = q.lut %x {table = "0x00"} : (tensor<2x!q.uniform<u2:f32, 1.0>>) -> tensor<2x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<2x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'q.lut': the table (4 entries) element 2 holds level 32, which !q.pot<u3<0:4>:f32, 1.0> cannot represent
func.func @f(%x: tensor<2x!q.thresholds<u2:f32, 1.0, [0.0, 1.0, 2.0]>>) -> tensor<2x!q.pot<u3<0:4>:f32, 1.0>> {
  %0 = q.lut %x {table = "0x8801"} : (tensor<2x!q.thresholds<u2:f32, 1.0, [0.0, 1.0, 2.0]>>) -> tensor<2x!q.pot<u3<0:4>:f32, 1.0>>
  func.return %0 : tensor<2x!q.pot<u3<0:4>:f32, 1.0>>
}
// -----
// CHECK: 'q.lut': result has shape 3, expected 2
func.func @f(%x: tensor<2x!q.uniform<u1:f32, 1.0>>) -> tensor<3x!q.uniform<i8:f32, 1.0>> {
  %0 = q.lut %x {table = "0x0001"} : (tensor<2x!q.uniform<u1:f32, 1.0>>) -> tensor<3x!q.uniform<i8:f32, 1.0>>
  func.return %0 : tensor<3x!q.uniform<i8:f32, 1.0>>
}
