// RUN: xdsl-opt %s --split-input-file --verify-diagnostics --parsing-diagnostics | filecheck %s

// One case per verifier rule of the dataflow stream type and ops (at least one
// per op). A bad stream type is a parse error at the type; a bad op fails
// verification with a message naming the op and the rule.

// CHECK: dataflow.stream: 3 lanes must divide the innermost dimension 2
func.func private @f(!dataflow.stream<4x4x2, 3 x !q.uniform<u8:f32, 0.5>>)
// -----
// CHECK: dataflow.stream: the frame needs static dimensions >= 1, got 4x0x2
func.func private @f(!dataflow.stream<4x0x2, 1 x !q.uniform<u8:f32, 0.5>>)
// -----
// CHECK: dataflow.stream: elements must be a q type other than q.mixed, got !q.mixed<[i2, i8]:f32, 0.5, row = "0x02">
func.func private @f(!dataflow.stream<4x2, 1 x !q.mixed<[i2, i8]:f32, 0.5, row = "0x02">>)
// -----
// CHECK: dataflow.stream: elements are quantized per tensor or per axis
func.func private @f(!dataflow.stream<4x2, 1 x !q.uniform<u8:f32:{0:2}, {0.5, 0.25}>>)
// -----
// CHECK: 'dataflow.input': a tensor of shape ?x2x4x4 streams as frames 4x4x2, got 2x4x4
func.func @f(%x: tensor<?x2x4x4x!q.uniform<u8:f32, 0.5>>) -> tensor<?x2x4x4x!q.uniform<u8:f32, 0.5>> {
  %s = dataflow.input %x : (tensor<?x2x4x4x!q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<2x4x4, 1 x !q.uniform<u8:f32, 0.5>>
  %t = dataflow.output %s : (!dataflow.stream<2x4x4, 1 x !q.uniform<u8:f32, 0.5>>) -> tensor<?x2x4x4x!q.uniform<u8:f32, 0.5>>
  func.return %t : tensor<?x2x4x4x!q.uniform<u8:f32, 0.5>>
}
// -----
// CHECK: 'dataflow.output': the tensor element type must be the stream's
func.func @f(%x: tensor<?x8x!q.uniform<u8:f32, 0.5>>) -> tensor<?x8x!q.uniform<u8:f32, 0.25>> {
  %s = dataflow.input %x : (tensor<?x8x!q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>
  %t = dataflow.output %s : (!dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>) -> tensor<?x8x!q.uniform<u8:f32, 0.25>>
  func.return %t : tensor<?x8x!q.uniform<u8:f32, 0.25>>
}
// -----
// CHECK: 'dataflow.input': stream result 0 has 2 uses; streams are point to point (use dataflow.fork)
func.func @f(%x: tensor<?x8x!q.uniform<u8:f32, 0.5>>) -> (tensor<?x8x!q.uniform<u8:f32, 0.5>>, tensor<?x8x!q.uniform<u8:f32, 0.5>>) {
  %s = dataflow.input %x : (tensor<?x8x!q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>
  %t = dataflow.output %s : (!dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>) -> tensor<?x8x!q.uniform<u8:f32, 0.5>>
  %u = dataflow.output %s : (!dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>) -> tensor<?x8x!q.uniform<u8:f32, 0.5>>
  func.return %t, %u : tensor<?x8x!q.uniform<u8:f32, 0.5>>, tensor<?x8x!q.uniform<u8:f32, 0.5>>
}
// -----
// CHECK: 'dataflow.fifo': depth 0 must be >= 1
func.func @f(%x: tensor<?x8x!q.uniform<u8:f32, 0.5>>) -> tensor<?x8x!q.uniform<u8:f32, 0.5>> {
  %s = dataflow.input %x : (tensor<?x8x!q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>
  %f = dataflow.fifo %s {depth = 0 : i64} : (!dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>
  %t = dataflow.output %f : (!dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>) -> tensor<?x8x!q.uniform<u8:f32, 0.5>>
  func.return %t : tensor<?x8x!q.uniform<u8:f32, 0.5>>
}
// -----
// CHECK: 'dataflow.fork': a fork has at least two results
func.func @f(%x: tensor<?x8x!q.uniform<u8:f32, 0.5>>) -> tensor<?x8x!q.uniform<u8:f32, 0.5>> {
  %s = dataflow.input %x : (tensor<?x8x!q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>
  %f = dataflow.fork %s : (!dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>
  %t = dataflow.output %f : (!dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>) -> tensor<?x8x!q.uniform<u8:f32, 0.5>>
  func.return %t : tensor<?x8x!q.uniform<u8:f32, 0.5>>
}
// -----
// CHECK: 'dataflow.dwc': input and result have the same lanes (2)
func.func @f(%x: tensor<?x8x!q.uniform<u8:f32, 0.5>>) -> tensor<?x8x!q.uniform<u8:f32, 0.5>> {
  %s = dataflow.input %x : (tensor<?x8x!q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<8, 2 x !q.uniform<u8:f32, 0.5>>
  %f = dataflow.dwc %s : (!dataflow.stream<8, 2 x !q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<8, 2 x !q.uniform<u8:f32, 0.5>>
  %t = dataflow.output %f : (!dataflow.stream<8, 2 x !q.uniform<u8:f32, 0.5>>) -> tensor<?x8x!q.uniform<u8:f32, 0.5>>
  func.return %t : tensor<?x8x!q.uniform<u8:f32, 0.5>>
}
// -----
// CHECK: 'dataflow.reshape': frames 8 and 2x3 differ in size
func.func @f(%x: tensor<?x8x!q.uniform<u8:f32, 0.5>>) -> tensor<?x2x3x!q.uniform<u8:f32, 0.5>> {
  %s = dataflow.input %x : (tensor<?x8x!q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>
  %f = dataflow.reshape %s : (!dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<2x3, 1 x !q.uniform<u8:f32, 0.5>>
  %t = dataflow.output %f : (!dataflow.stream<2x3, 1 x !q.uniform<u8:f32, 0.5>>) -> tensor<?x2x3x!q.uniform<u8:f32, 0.5>>
  func.return %t : tensor<?x2x3x!q.uniform<u8:f32, 0.5>>
}
// -----
// CHECK: 'dataflow.swu': the result frame must be 2x2x18, got 4x4x18
func.func @f(%x: tensor<?x2x4x4x!q.uniform<u8:f32, 0.5>>) -> tensor<?x18x4x4x!q.uniform<u8:f32, 0.5>> {
  %s = dataflow.input %x : (tensor<?x2x4x4x!q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<4x4x2, 1 x !q.uniform<u8:f32, 0.5>>
  %w = dataflow.swu %s {kernel_shape = array<i64: 3, 3>} : (!dataflow.stream<4x4x2, 1 x !q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<4x4x18, 1 x !q.uniform<u8:f32, 0.5>>
  %t = dataflow.output %w : (!dataflow.stream<4x4x18, 1 x !q.uniform<u8:f32, 0.5>>) -> tensor<?x18x4x4x!q.uniform<u8:f32, 0.5>>
  func.return %t : tensor<?x18x4x4x!q.uniform<u8:f32, 0.5>>
}
// -----
// CHECK: 'dataflow.swu': result lanes 3 must divide the 2 channels or be a multiple of them
func.func @f(%x: tensor<?x2x4x4x!q.uniform<u8:f32, 0.5>>) -> tensor<?x18x4x4x!q.uniform<u8:f32, 0.5>> {
  %s = dataflow.input %x : (tensor<?x2x4x4x!q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<4x4x2, 1 x !q.uniform<u8:f32, 0.5>>
  %w = dataflow.swu %s {kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>} : (!dataflow.stream<4x4x2, 1 x !q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<4x4x18, 3 x !q.uniform<u8:f32, 0.5>>
  %t = dataflow.output %w : (!dataflow.stream<4x4x18, 3 x !q.uniform<u8:f32, 0.5>>) -> tensor<?x18x4x4x!q.uniform<u8:f32, 0.5>>
  func.return %t : tensor<?x18x4x4x!q.uniform<u8:f32, 0.5>>
}
// -----
// CHECK: 'dataflow.mvu': simd 1 and pe 1 must equal the input lanes 2 and the result lanes 1
func.func @f(%x: tensor<?x4x!q.uniform<u8:f32, 0.5>>) -> tensor<?x2x!q.uniform<i11:f32, 0.25>> {
  %w = q.constant "0x1F" : tensor<2x4x!q.uniform<i1:f32, 0.5>>
  %s = dataflow.input %x : (tensor<?x4x!q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<4, 2 x !q.uniform<u8:f32, 0.5>>
  %y = dataflow.mvu %s, %w {pe = 1 : i64, simd = 1 : i64} : (!dataflow.stream<4, 2 x !q.uniform<u8:f32, 0.5>>, tensor<2x4x!q.uniform<i1:f32, 0.5>>) -> !dataflow.stream<2, 1 x !q.uniform<i11:f32, 0.25>>
  %t = dataflow.output %y : (!dataflow.stream<2, 1 x !q.uniform<i11:f32, 0.25>>) -> tensor<?x2x!q.uniform<i11:f32, 0.25>>
  func.return %t : tensor<?x2x!q.uniform<i11:f32, 0.25>>
}
// -----
// CHECK: 'dataflow.mvu': weights, biases and thresholds must be q.constant ROMs
func.func @f(%x: tensor<?x4x!q.uniform<u8:f32, 0.5>>, %w: tensor<2x4x!q.uniform<i1:f32, 0.5>>) -> tensor<?x2x!q.uniform<i11:f32, 0.25>> {
  %s = dataflow.input %x : (tensor<?x4x!q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<4, 1 x !q.uniform<u8:f32, 0.5>>
  %y = dataflow.mvu %s, %w {pe = 1 : i64, simd = 1 : i64} : (!dataflow.stream<4, 1 x !q.uniform<u8:f32, 0.5>>, tensor<2x4x!q.uniform<i1:f32, 0.5>>) -> !dataflow.stream<2, 1 x !q.uniform<i11:f32, 0.25>>
  %t = dataflow.output %y : (!dataflow.stream<2, 1 x !q.uniform<i11:f32, 0.25>>) -> tensor<?x2x!q.uniform<i11:f32, 0.25>>
  func.return %t : tensor<?x2x!q.uniform<i11:f32, 0.25>>
}
// -----
// CHECK: 'dataflow.mvu': accumulator i10 is too narrow: results span [-1020, 0], which needs i11
func.func @f(%x: tensor<?x4x!q.uniform<u8:f32, 0.5>>) -> tensor<?x2x!q.uniform<i10:f32, 0.25>> {
  %w = q.constant "0x1F" : tensor<2x4x!q.uniform<i1:f32, 0.5>>
  %s = dataflow.input %x : (tensor<?x4x!q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<4, 1 x !q.uniform<u8:f32, 0.5>>
  %y = dataflow.mvu %s, %w {pe = 1 : i64, simd = 1 : i64} : (!dataflow.stream<4, 1 x !q.uniform<u8:f32, 0.5>>, tensor<2x4x!q.uniform<i1:f32, 0.5>>) -> !dataflow.stream<2, 1 x !q.uniform<i10:f32, 0.25>>
  %t = dataflow.output %y : (!dataflow.stream<2, 1 x !q.uniform<i10:f32, 0.25>>) -> tensor<?x2x!q.uniform<i10:f32, 0.25>>
  func.return %t : tensor<?x2x!q.uniform<i10:f32, 0.25>>
}
// -----
// CHECK: 'dataflow.requant': multiplier 5 >> 2 does not match the scale ratio 0.5
func.func @f(%x: tensor<?x8x!q.uniform<i12:f32, 0.5>>) -> tensor<?x8x!q.uniform<i8:f32, 1.0>> {
  %s = dataflow.input %x : (tensor<?x8x!q.uniform<i12:f32, 0.5>>) -> !dataflow.stream<8, 1 x !q.uniform<i12:f32, 0.5>>
  %y = dataflow.requant %s {multiplier = array<i64: 5>, shift = array<i64: 2>} : (!dataflow.stream<8, 1 x !q.uniform<i12:f32, 0.5>>) -> !dataflow.stream<8, 1 x !q.uniform<i8:f32, 1.0>>
  %t = dataflow.output %y : (!dataflow.stream<8, 1 x !q.uniform<i8:f32, 1.0>>) -> tensor<?x8x!q.uniform<i8:f32, 1.0>>
  func.return %t : tensor<?x8x!q.uniform<i8:f32, 1.0>>
}
// -----
// CHECK: 'dataflow.threshold': 2 thresholds give 3 codes, the result type has 4 levels
func.func @f(%x: tensor<?x8x!q.uniform<i12:f32, 0.5>>) -> tensor<?x8x!q.uniform<u2:f32, 1.0>> {
  %th = q.constant "0x0A000400" : tensor<1x2x!q.uniform<i16:f32, 0.5>>
  %s = dataflow.input %x : (tensor<?x8x!q.uniform<i12:f32, 0.5>>) -> !dataflow.stream<8, 1 x !q.uniform<i12:f32, 0.5>>
  %y = dataflow.threshold %s, %th : (!dataflow.stream<8, 1 x !q.uniform<i12:f32, 0.5>>, tensor<1x2x!q.uniform<i16:f32, 0.5>>) -> !dataflow.stream<8, 1 x !q.uniform<u2:f32, 1.0>>
  %t = dataflow.output %y : (!dataflow.stream<8, 1 x !q.uniform<u2:f32, 1.0>>) -> tensor<?x8x!q.uniform<u2:f32, 1.0>>
  func.return %t : tensor<?x8x!q.uniform<u2:f32, 1.0>>
}
// -----
// CHECK: 'dataflow.threshold': every row of thresholds must be non-decreasing
func.func @f(%x: tensor<?x8x!q.uniform<i12:f32, 0.5>>) -> tensor<?x8x!q.uniform<u2<0:2>:f32, 1.0>> {
  %th = q.constant "0x0A000400" : tensor<1x2x!q.uniform<i16:f32, 0.5>>
  %s = dataflow.input %x : (tensor<?x8x!q.uniform<i12:f32, 0.5>>) -> !dataflow.stream<8, 1 x !q.uniform<i12:f32, 0.5>>
  %y = dataflow.threshold %s, %th : (!dataflow.stream<8, 1 x !q.uniform<i12:f32, 0.5>>, tensor<1x2x!q.uniform<i16:f32, 0.5>>) -> !dataflow.stream<8, 1 x !q.uniform<u2<0:2>:f32, 1.0>>
  %t = dataflow.output %y : (!dataflow.stream<8, 1 x !q.uniform<u2<0:2>:f32, 1.0>>) -> tensor<?x8x!q.uniform<u2<0:2>:f32, 1.0>>
  func.return %t : tensor<?x8x!q.uniform<u2<0:2>:f32, 1.0>>
}
// -----
// CHECK: 'dataflow.lut': the table (4 entries) holds 4 bytes, 4 x !q.uniform<u4:f32, 1.0> needs 2
func.func @f(%x: tensor<?x8x!q.uniform<u2:f32, 0.5>>) -> tensor<?x8x!q.uniform<u8:f32, 1.0>> {
  %s = dataflow.input %x : (tensor<?x8x!q.uniform<u2:f32, 0.5>>) -> !dataflow.stream<8, 1 x !q.uniform<u2:f32, 0.5>>
  %y = dataflow.lut %s {table = "0x00010203"} : (!dataflow.stream<8, 1 x !q.uniform<u2:f32, 0.5>>) -> !dataflow.stream<8, 1 x !q.uniform<u4:f32, 1.0>>
  %t = dataflow.output %y : (!dataflow.stream<8, 1 x !q.uniform<u4:f32, 1.0>>) -> tensor<?x8x!q.uniform<u4:f32, 1.0>>
  func.return %t : tensor<?x8x!q.uniform<u4:f32, 1.0>>
}
// -----
// CHECK: 'dataflow.clamp': min 9 is larger than max 3
func.func @f(%x: tensor<?x8x!q.uniform<u8:f32, 0.5>>) -> tensor<?x8x!q.uniform<u8:f32, 0.5>> {
  %s = dataflow.input %x : (tensor<?x8x!q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>
  %y = dataflow.clamp %s {min = 9 : i64, max = 3 : i64} : (!dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>
  %t = dataflow.output %y : (!dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>) -> tensor<?x8x!q.uniform<u8:f32, 0.5>>
  func.return %t : tensor<?x8x!q.uniform<u8:f32, 0.5>>
}
// -----
// CHECK: 'dataflow.pool': kind must be max or sum, got 'avg'
func.func @f(%x: tensor<?x2x4x4x!q.uniform<u8:f32, 0.5>>) -> tensor<?x2x2x2x!q.uniform<u8:f32, 0.5>> {
  %s = dataflow.input %x : (tensor<?x2x4x4x!q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<4x4x2, 1 x !q.uniform<u8:f32, 0.5>>
  %p = dataflow.pool %s {kind = "avg", kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (!dataflow.stream<4x4x2, 1 x !q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<2x2x2, 1 x !q.uniform<u8:f32, 0.5>>
  %t = dataflow.output %p : (!dataflow.stream<2x2x2, 1 x !q.uniform<u8:f32, 0.5>>) -> tensor<?x2x2x2x!q.uniform<u8:f32, 0.5>>
  func.return %t : tensor<?x2x2x2x!q.uniform<u8:f32, 0.5>>
}
// -----
// CHECK: 'dataflow.add': operands and result must have the same lanes
func.func @f(%x: tensor<?x8x!q.uniform<u8:f32, 0.5>>) -> tensor<?x8x!q.uniform<i10:f32, 0.5>> {
  %s = dataflow.input %x : (tensor<?x8x!q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<8, 2 x !q.uniform<u8:f32, 0.5>>
  %a, %b = dataflow.fork %s : (!dataflow.stream<8, 2 x !q.uniform<u8:f32, 0.5>>) -> (!dataflow.stream<8, 2 x !q.uniform<u8:f32, 0.5>>, !dataflow.stream<8, 2 x !q.uniform<u8:f32, 0.5>>)
  %n = dataflow.dwc %b : (!dataflow.stream<8, 2 x !q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>
  %y = dataflow.add %a, %n : (!dataflow.stream<8, 2 x !q.uniform<u8:f32, 0.5>>, !dataflow.stream<8, 1 x !q.uniform<u8:f32, 0.5>>) -> !dataflow.stream<8, 2 x !q.uniform<i10:f32, 0.5>>
  %t = dataflow.output %y : (!dataflow.stream<8, 2 x !q.uniform<i10:f32, 0.5>>) -> tensor<?x8x!q.uniform<i10:f32, 0.5>>
  func.return %t : tensor<?x8x!q.uniform<i10:f32, 0.5>>
}
