// RUN: xdsl-opt %s --split-input-file --verify-diagnostics | filecheck %s

// One case per verifier rule of every `nn` op. xdsl-opt prints each failing
// case's message first, then the case with the message attached to the op;
// a case that verified would print the module instead and fail the CHECK-NEXT.

// generic: element types
func.func @f(%a: tensor<2x3xf32>, %b: tensor<2x3xf16>) {
  %0 = nn.add %a, %b : (tensor<2x3xf32>, tensor<2x3xf16>) -> tensor<2x3xf32>
  func.return
}
// CHECK: {{^}}'nn.add': operands and results must have the same element type, got f32, f16, f32

// -----

func.func @f(%a: tensor<2x3xf32>) {
  %0 = nn.relu %a : (tensor<2x3xf32>) -> tensor<3x2xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.relu': result has shape 3x2, expected 2x3

// -----

func.func @f() {
  %0 = "nn.constant"() <{value = dense<1.000000e+00> : tensor<4xf32>}> : () -> tensor<5xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.constant': result type tensor<5xf32> differs from the value's type tensor<4xf32>

// -----

// conv2d
func.func @f(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3xf32>) {
  %0 = nn.conv2d %x, %w : (tensor<1x3x8x8xf32>, tensor<4x3x3xf32>) -> tensor<1x4x6x6xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.conv2d': expects a rank-4 input and weight, got 1x3x8x8 and 4x3x3

// -----

func.func @f(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  %0 = nn.conv2d %x, %w {pads = array<i64: 1, 1>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.conv2d': strides and dilations need 2 values, pads 4

// -----

func.func @f(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  %0 = nn.conv2d %x, %w {strides = array<i64: 0, 1>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.conv2d': strides and dilations must be >= 1 and pads >= 0

// -----

func.func @f(%x: tensor<1x6x8x8xf32>, %w: tensor<4x2x3x3xf32>) {
  %0 = nn.conv2d %x, %w {group = 3 : i64} : (tensor<1x6x8x8xf32>, tensor<4x2x3x3xf32>) -> tensor<1x4x6x6xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.conv2d': group 3 must divide the 4 output channels

// -----

func.func @f(%x: tensor<1x3x8x8xf32>, %w: tensor<4x2x3x3xf32>) {
  %0 = nn.conv2d %x, %w : (tensor<1x3x8x8xf32>, tensor<4x2x3x3xf32>) -> tensor<1x4x6x6xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.conv2d': input has 3 channels, weight expects 2 x group 1

// -----

func.func @f(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<3xf32>) {
  %0 = nn.conv2d %x, %w, %b : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<3xf32>) -> tensor<1x4x6x6xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.conv2d': bias has shape 3, expected 4

// -----

func.func @f(%x: tensor<1x3x2x2xf32>, %w: tensor<4x3x3x3xf32>) {
  %0 = nn.conv2d %x, %w : (tensor<1x3x2x2xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x1x1xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.conv2d': the window does not fit the input

// -----

func.func @f(%x: tensor<?x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  %0 = nn.conv2d %x, %w {strides = array<i64: 2, 2>} : (tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<?x4x4x4xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.conv2d': result has shape ?x4x4x4, expected ?x4x3x3

// -----

// gemm
func.func @f(%a: tensor<2x3x4xf32>, %b: tensor<4x5xf32>) {
  %0 = nn.gemm %a, %b : (tensor<2x3x4xf32>, tensor<4x5xf32>) -> tensor<3x5xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.gemm': expects 2-D operands, got 2x3x4 and 4x5

// -----

func.func @f(%a: tensor<3x4xf32>, %b: tensor<5x4xf32>) {
  %0 = nn.gemm %a, %b : (tensor<3x4xf32>, tensor<5x4xf32>) -> tensor<3x4xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.gemm': inner dimensions differ (4 and 5)

// -----

func.func @f(%a: tensor<3x4xf32>, %b: tensor<4x5xf32>, %c: tensor<3xf32>) {
  %0 = nn.gemm %a, %b, %c : (tensor<3x4xf32>, tensor<4x5xf32>, tensor<3xf32>) -> tensor<3x5xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.gemm': C of shape 3 does not broadcast to 3x5

// -----

func.func @f(%a: tensor<3x4xf32>, %b: tensor<4x5xf32>, %c: tensor<1x3x5xf32>) {
  %0 = nn.gemm %a, %b, %c : (tensor<3x4xf32>, tensor<4x5xf32>, tensor<1x3x5xf32>) -> tensor<3x5xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.gemm': C of shape 1x3x5 does not broadcast to 3x5

// -----

// matmul
func.func @f(%a: tensor<f32>, %b: tensor<4x5xf32>) {
  %0 = nn.matmul %a, %b : (tensor<f32>, tensor<4x5xf32>) -> tensor<5xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.matmul': operands must have rank >= 1

// -----

func.func @f(%a: tensor<?x3x4xf32>, %b: tensor<3x5xf32>) {
  %0 = nn.matmul %a, %b : (tensor<?x3x4xf32>, tensor<3x5xf32>) -> tensor<?x3x5xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.matmul': contracted dimensions differ (?x3x4 has 4, 3x5 has 3)

// -----

func.func @f(%a: tensor<2x3x4xf32>, %b: tensor<3x4x5xf32>) {
  %0 = nn.matmul %a, %b : (tensor<2x3x4xf32>, tensor<3x4x5xf32>) -> tensor<2x3x5xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.matmul': batch dimensions 2 and 3 are not broadcast-compatible

// -----

func.func @f(%a: tensor<4xf32>, %b: tensor<4x5xf32>) {
  %0 = nn.matmul %a, %b : (tensor<4xf32>, tensor<4x5xf32>) -> tensor<1x5xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.matmul': result has shape 1x5, expected 5

// -----

// batchnorm
func.func @f(%x: tensor<8xf32>, %c: tensor<8xf32>) {
  %0 = nn.batchnorm %x, %c, %c, %c, %c : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.batchnorm': input must have a channel axis

// -----

func.func @f(%x: tensor<1x8x4x4xf32>, %c: tensor<8xf32>, %v: tensor<4xf32>) {
  %0 = nn.batchnorm %x, %c, %c, %c, %v : (tensor<1x8x4x4xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<4xf32>) -> tensor<1x8x4x4xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.batchnorm': var has shape 4, expected 8

// -----

// layernorm
func.func @f(%x: tensor<2x5x8xf32>, %g: tensor<8xf32>) {
  %0 = nn.layernorm %x, %g {axis = 3 : i64} : (tensor<2x5x8xf32>, tensor<8xf32>) -> tensor<2x5x8xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.layernorm': axis 3 is out of range for rank 3

// -----

func.func @f(%x: tensor<2x5x8xf32>, %g: tensor<5xf32>) {
  %0 = nn.layernorm %x, %g : (tensor<2x5x8xf32>, tensor<5xf32>) -> tensor<2x5x8xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.layernorm': scale of shape 5 does not broadcast to the normalised shape 8

// -----

func.func @f(%x: tensor<2x5x8xf32>, %g: tensor<8xf32>, %b: tensor<2x5x8xf32>) {
  %0 = nn.layernorm %x, %g, %b {axis = 1 : i64} : (tensor<2x5x8xf32>, tensor<8xf32>, tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.layernorm': bias of shape 2x5x8 does not broadcast to the normalised shape 5x8

// -----

func.func @f(%x: tensor<f32>, %g: tensor<f32>) {
  %0 = nn.layernorm %x, %g : (tensor<f32>, tensor<f32>) -> tensor<f32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.layernorm': input must have rank >= 1

// -----

// softmax
func.func @f(%x: tensor<2x5xf32>) {
  %0 = nn.softmax %x {axis = -3 : i64} : (tensor<2x5xf32>) -> tensor<2x5xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.softmax': axis -3 is out of range for rank 2

// -----

func.func @f(%x: tensor<f32>) {
  %0 = nn.softmax %x : (tensor<f32>) -> tensor<f32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.softmax': input must have rank >= 1

// -----

// elementwise
func.func @f(%a: tensor<2x3xf32>, %b: tensor<4x3xf32>) {
  %0 = nn.add %a, %b : (tensor<2x3xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.add': shapes 2x3, 4x3 are not broadcast-compatible

// -----

func.func @f(%a: tensor<?x3xf32>, %b: tensor<2xf32>) {
  %0 = nn.pow %a, %b : (tensor<?x3xf32>, tensor<2xf32>) -> tensor<?x3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.pow': shapes ?x3, 2 are not broadcast-compatible

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<3xf32>) {
  %0 = nn.mul %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.mul': result has shape 3, expected 2x3

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<2x1x4xf32>) {
  %0 = nn.sub %a, %b : (tensor<2x3xf32>, tensor<2x1x4xf32>) -> tensor<2x2x3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.sub': shapes 2x3, 2x1x4 are not broadcast-compatible

// -----

func.func @f(%a: tensor<?x3xf32>, %b: tensor<3xf32>) {
  %0 = nn.div %a, %b : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x1xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.div': result has shape ?x1, expected ?x3

// -----

func.func @f(%a: tensor<2x3xf32>) {
  %0 = nn.sigmoid %a : (tensor<2x3xf32>) -> tensor<2x3x1xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.sigmoid': result has shape 2x3x1, expected 2x3

// -----

func.func @f(%a: tensor<2x3xf32>) {
  %0 = nn.tanh %a : (tensor<2x3xf32>) -> tensor<2x3xf64>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.tanh': operands and results must have the same element type, got f32, f64

// -----

func.func @f(%a: tensor<?x3xf32>) {
  %0 = nn.erf %a : (tensor<?x3xf32>) -> tensor<?x4xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.erf': result has shape ?x4, expected ?x3

// -----

func.func @f(%a: tensor<2x3xf32>) {
  %0 = nn.exp %a : (tensor<2x3xf32>) -> tensor<3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.exp': result has shape 3, expected 2x3

// -----

func.func @f(%a: tensor<2x3xf32>) {
  %0 = nn.gelu %a {approximate = "fast"} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.gelu': approximate must be "none" or "tanh", got "fast"

// -----

func.func @f(%a: tensor<2x3xf32>) {
  %0 = nn.leaky_relu %a {alpha = 1 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}1 : i64 should be of base attribute float

// -----

func.func @f(%a: tensor<2x3xf32>) {
  %0 = nn.clip %a {min = 0.000000e+00 : f32} : (tensor<2x3xf32>) -> tensor<2x4xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.clip': result has shape 2x4, expected 2x3

// -----

func.func @f(%a: tensor<2x3xf32>) {
  %0 = nn.sqrt %a : (tensor<2x3xf32>) -> tensor<2x3xf16>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.sqrt': operands and results must have the same element type, got f32, f16

// -----

// maxpool2d
func.func @f(%x: tensor<1x3x8xf32>) {
  %0 = nn.maxpool2d %x {kernel_shape = array<i64: 2, 2>} : (tensor<1x3x8xf32>) -> tensor<1x3x7xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.maxpool2d': expects a rank-4 NCHW input, got 1x3x8

// -----

func.func @f(%x: tensor<1x3x8x8xf32>) {
  %0 = nn.maxpool2d %x {kernel_shape = array<i64: 2>} : (tensor<1x3x8x8xf32>) -> tensor<1x3x7x7xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.maxpool2d': kernel_shape, strides and dilations need 2 values

// -----

func.func @f(%x: tensor<1x3x8x8xf32>) {
  %0 = nn.maxpool2d %x {kernel_shape = array<i64: 2, 2>, pads = array<i64: 1, 1>} : (tensor<1x3x8x8xf32>) -> tensor<1x3x9x9xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.maxpool2d': pads needs 4 values [top, left, bottom, right]

// -----

func.func @f(%x: tensor<1x3x8x8xf32>) {
  %0 = nn.maxpool2d %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 0, 2>} : (tensor<1x3x8x8xf32>) -> tensor<1x3x4x4xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.maxpool2d': kernel_shape, strides and dilations must be >= 1

// -----

func.func @f(%x: tensor<1x3x8x8xf32>) {
  %0 = nn.maxpool2d %x {kernel_shape = array<i64: 2, 2>, pads = array<i64: 2, 0, 0, 0>} : (tensor<1x3x8x8xf32>) -> tensor<1x3x9x7xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.maxpool2d': pads [2, 0, 0, 0] must be >= 0 and smaller than the window extent [2, 2]

// -----

func.func @f(%x: tensor<1x3x2x2xf32>) {
  %0 = nn.maxpool2d %x {kernel_shape = array<i64: 3, 3>} : (tensor<1x3x2x2xf32>) -> tensor<1x3x1x1xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.maxpool2d': the window does not fit the input

// -----

func.func @f(%x: tensor<?x3x9x9xf32>) {
  %0 = nn.maxpool2d %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>} : (tensor<?x3x9x9xf32>) -> tensor<?x3x5x5xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.maxpool2d': result has shape ?x3x5x5, expected ?x3x4x4

// -----

// avgpool2d
func.func @f(%x: tensor<1x3x8x8xf32>) {
  %0 = nn.avgpool2d %x {strides = array<i64: 2, 2>} : (tensor<1x3x8x8xf32>) -> tensor<1x3x4x4xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}property 'kernel_shape' expected in operation 'nn.avgpool2d'

// -----

func.func @f(%x: tensor<1x3x8x8xf32>) {
  %0 = nn.avgpool2d %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, ceil_mode = false} : (tensor<1x3x8x8xf32>) -> tensor<1x3x5x5xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.avgpool2d': result has shape 1x3x5x5, expected 1x3x4x4

// -----

func.func @f(%x: tensor<1x3x8x8xf32>) {
  %0 = nn.avgpool2d %x {kernel_shape = array<i64: 2, 2>, count_include_pad = 1 : i64} : (tensor<1x3x8x8xf32>) -> tensor<1x3x7x7xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}Expected attribute i1 but got i64

// -----

// global_avgpool
func.func @f(%x: tensor<1x3xf32>) {
  %0 = nn.global_avgpool %x : (tensor<1x3xf32>) -> tensor<1x3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.global_avgpool': expects an N x C x spatial input of rank >= 3, got 1x3

// -----

func.func @f(%x: tensor<?x3x4x4xf32>) {
  %0 = nn.global_avgpool %x : (tensor<?x3x4x4xf32>) -> tensor<?x3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.global_avgpool': result has shape ?x3, expected ?x3x1x1

// -----

// reshape, transpose, flatten
func.func @f(%x: tensor<2x3x4xf32>) {
  %0 = nn.reshape %x : (tensor<2x3x4xf32>) -> tensor<5x5xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.reshape': cannot reshape 2x3x4 into 5x5

// -----

func.func @f(%x: tensor<?x?x4xf32>) {
  %0 = nn.reshape %x : (tensor<?x?x4xf32>) -> tensor<?x4xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.reshape': at most one dynamic dimension per side is supported

// -----

func.func @f(%x: tensor<2x3x4xf32>) {
  %0 = nn.transpose %x {perm = array<i64: 0, 0, 1>} : (tensor<2x3x4xf32>) -> tensor<2x2x3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.transpose': perm [0, 0, 1] is not a permutation of 3 axes

// -----

func.func @f(%x: tensor<2x3x4xf32>) {
  %0 = nn.transpose %x {perm = array<i64: 2, 0, 1>} : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.transpose': result has shape 2x3x4, expected 4x2x3

// -----

func.func @f(%x: tensor<2x3x4xf32>) {
  %0 = nn.flatten %x {axis = 4 : i64} : (tensor<2x3x4xf32>) -> tensor<24x1xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.flatten': axis 4 is out of range [-3, 3]

// -----

func.func @f(%x: tensor<?x3x4xf32>) {
  %0 = nn.flatten %x : (tensor<?x3x4xf32>) -> tensor<?x3x4xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.flatten': result has shape ?x3x4, expected ?x12

// -----

// concat
func.func @f() {
  %0 = nn.concat {axis = 0 : i64} : () -> tensor<2xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.concat': expects at least one operand

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<2x3x1xf32>) {
  %0 = nn.concat %a, %b {axis = 1 : i64} : (tensor<2x3xf32>, tensor<2x3x1xf32>) -> tensor<2x4xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.concat': operands must have the same rank, got 2x3, 2x3x1

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<4x3xf32>) {
  %0 = nn.concat %a, %b {axis = 1 : i64} : (tensor<2x3xf32>, tensor<4x3xf32>) -> tensor<2x6xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.concat': operands differ in dimension 0 outside the concatenation axis: 2x3, 4x3

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<2x3xf32>) {
  %0 = nn.concat %a, %b {axis = 2 : i64} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x6xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.concat': axis 2 is out of range for rank 2

// -----

func.func @f(%a: tensor<?x3xf32>, %b: tensor<?x2xf32>) {
  %0 = nn.concat %a, %b {axis = -1 : i64} : (tensor<?x3xf32>, tensor<?x2xf32>) -> tensor<?x6xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.concat': result has shape ?x6, expected ?x5

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<2x3xf32>) {
  %0 = nn.concat %a, %b : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<4x3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}property 'axis' expected in operation 'nn.concat'

// -----

// split
func.func @f(%x: tensor<?x6xf32>) {
  %0, %1 = nn.split %x {axis = 1 : i64} : (tensor<?x6xf32>) -> (tensor<?x2xf32>, tensor<?x3xf32>)
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.split': split sizes [2, 3] sum to 5, but the input has 6 along axis 1

// -----

func.func @f(%x: tensor<4x6xf32>) {
  %0, %1 = nn.split %x {axis = 1 : i64} : (tensor<4x6xf32>) -> (tensor<4x2xf32>, tensor<3x4xf32>)
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.split': result 1 has shape 3x4, expected 4x4

// -----

func.func @f(%x: tensor<4x6xf32>) {
  %0, %1 = nn.split %x {axis = 1 : i64} : (tensor<4x6xf32>) -> (tensor<4x2xf32>, tensor<4x?xf32>)
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.split': result 1 has shape 4x?, expected rank 2 with a static size along axis 1

// -----

func.func @f(%x: tensor<4x6xf32>) {
  %0, %1 = nn.split %x {axis = 1 : i64} : (tensor<4x6xf32>) -> (tensor<4x2xf32>, tensor<4xf32>)
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.split': result 1 has shape 4, expected rank 2 with a static size along axis 1

// -----

func.func @f(%x: tensor<4x6xf32>) {
  %0, %1 = nn.split %x {axis = 2 : i64} : (tensor<4x6xf32>) -> (tensor<4x2xf32>, tensor<4x4xf32>)
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.split': axis 2 is out of range for rank 2

// -----

func.func @f(%x: tensor<4x6xf32>) {
  nn.split %x : (tensor<4x6xf32>) -> ()
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.split': expects at least one result

// -----

// slice
func.func @f(%x: tensor<4x6xf32>) {
  %0 = nn.slice %x {starts = array<i64: 0, 0>, ends = array<i64: 2>} : (tensor<4x6xf32>) -> tensor<2x6xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.slice': starts, ends, axes and steps must have the same length, got 2, 1, 2, 2

// -----

func.func @f(%x: tensor<4x6xf32>) {
  %0 = nn.slice %x {starts = array<i64: 0>, ends = array<i64: 2>, steps = array<i64: 0>} : (tensor<4x6xf32>) -> tensor<2x6xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.slice': steps must not be 0

// -----

func.func @f(%x: tensor<4x6xf32>) {
  %0 = nn.slice %x {starts = array<i64: 0, 0>, ends = array<i64: 2, 2>, axes = array<i64: 1, -1>} : (tensor<4x6xf32>) -> tensor<4x2xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.slice': axes [1, -1] repeats an axis

// -----

func.func @f(%x: tensor<4x6xf32>) {
  %0 = nn.slice %x {starts = array<i64: 0>, ends = array<i64: 2>, axes = array<i64: 2>} : (tensor<4x6xf32>) -> tensor<4x2xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.slice': axes [2] has axis 2, out of range for rank 2

// -----

func.func @f(%x: tensor<4x6xf32>) {
  %0 = nn.slice %x {starts = array<i64: -1>, ends = array<i64: -7>, axes = array<i64: 1>, steps = array<i64: -2>} : (tensor<4x6xf32>) -> tensor<4x2xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.slice': result has shape 4x2, expected 4x3

// -----

func.func @f(%x: tensor<4x6xf32>) {
  %0 = nn.slice %x {ends = array<i64: 2>} : (tensor<4x6xf32>) -> tensor<2x6xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}property 'starts' expected in operation 'nn.slice'

// -----

// gather
func.func @f(%x: tensor<4x6xf32>, %i: tensor<2xf32>) {
  %0 = nn.gather %x, %i : (tensor<4x6xf32>, tensor<2xf32>) -> tensor<2x6xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}f32 should be of base attribute integer_type

// -----

func.func @f(%x: tensor<4x6xf32>, %i: tensor<2xi64>) {
  %0 = nn.gather %x, %i {axis = 2 : i64} : (tensor<4x6xf32>, tensor<2xi64>) -> tensor<4x2xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.gather': axis 2 is out of range for rank 2

// -----

func.func @f(%x: tensor<?x6xf32>, %i: tensor<2x3xi64>) {
  %0 = nn.gather %x, %i {axis = 1 : i64} : (tensor<?x6xf32>, tensor<2x3xi64>) -> tensor<?x6xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.gather': result has shape ?x6, expected ?x2x3

// -----

func.func @f(%x: tensor<4x6xf32>, %i: tensor<2xi64>) {
  %0 = nn.gather %x, %i : (tensor<4x6xf32>, tensor<2xi64>) -> tensor<2x6xi64>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.gather': operands and results must have the same element type, got f32, i64

// -----

func.func @f(%x: tensor<f32>, %i: tensor<i64>) {
  %0 = nn.gather %x, %i : (tensor<f32>, tensor<i64>) -> tensor<f32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.gather': data must have rank >= 1

// -----

// reductions
func.func @f(%x: tensor<?x4x6xf32>) {
  %0 = nn.reduce_mean %x {axes = array<i64: 3>} : (tensor<?x4x6xf32>) -> tensor<?x4x1xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.reduce_mean': axes [3] has axis 3, out of range for rank 3

// -----

func.func @f(%x: tensor<?x4x6xf32>) {
  %0 = nn.reduce_sum %x {axes = array<i64: 2, -1>} : (tensor<?x4x6xf32>) -> tensor<?x4x1xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.reduce_sum': axes [2, -1] repeats an axis

// -----

func.func @f(%x: tensor<?x4x6xf32>) {
  %0 = nn.reduce_max %x {axes = array<i64: 1>} : (tensor<?x4x6xf32>) -> tensor<?x6xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.reduce_max': result has shape ?x6, expected ?x1x6

// -----

func.func @f(%x: tensor<?x4x6xf32>) {
  %0 = nn.reduce_mean %x {keepdims = false} : (tensor<?x4x6xf32>) -> tensor<?xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.reduce_mean': result has shape ?, expected scalar

// -----

// conv_transpose2d
func.func @f(%x: tensor<1x4x5x5xf32>, %w: tensor<4x2x3xf32>) {
  %0 = nn.conv_transpose2d %x, %w : (tensor<1x4x5x5xf32>, tensor<4x2x3xf32>) -> tensor<1x2x7x7xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.conv_transpose2d': expects a rank-4 input and weight, got 1x4x5x5 and 4x2x3

// -----

func.func @f(%x: tensor<1x4x5x5xf32>, %w: tensor<4x2x3x3xf32>) {
  %0 = nn.conv_transpose2d %x, %w {output_padding = array<i64: 1>} : (tensor<1x4x5x5xf32>, tensor<4x2x3x3xf32>) -> tensor<1x2x7x7xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.conv_transpose2d': strides, dilations and output_padding need 2 values, pads 4

// -----

func.func @f(%x: tensor<1x4x5x5xf32>, %w: tensor<4x2x3x3xf32>) {
  %0 = nn.conv_transpose2d %x, %w {pads = array<i64: 0, -1, 0, 0>} : (tensor<1x4x5x5xf32>, tensor<4x2x3x3xf32>) -> tensor<1x2x7x8xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.conv_transpose2d': strides and dilations must be >= 1 and pads >= 0

// -----

func.func @f(%x: tensor<1x4x5x5xf32>, %w: tensor<4x2x3x3xf32>) {
  %0 = nn.conv_transpose2d %x, %w {strides = array<i64: 2, 2>, dilations = array<i64: 1, 3>, output_padding = array<i64: 1, 3>} : (tensor<1x4x5x5xf32>, tensor<4x2x3x3xf32>) -> tensor<1x2x12x18xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.conv_transpose2d': output_padding [1, 3] must be >= 0 and smaller than max(stride, dilation) on each axis

// -----

func.func @f(%x: tensor<1x4x5x5xf32>, %w: tensor<4x2x3x3xf32>) {
  %0 = nn.conv_transpose2d %x, %w {group = 3 : i64} : (tensor<1x4x5x5xf32>, tensor<4x2x3x3xf32>) -> tensor<1x6x7x7xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.conv_transpose2d': group 3 must divide the 4 input channels of the weight

// -----

func.func @f(%x: tensor<1x3x5x5xf32>, %w: tensor<4x2x3x3xf32>) {
  %0 = nn.conv_transpose2d %x, %w : (tensor<1x3x5x5xf32>, tensor<4x2x3x3xf32>) -> tensor<1x2x7x7xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.conv_transpose2d': input has 3 channels, weight expects 4

// -----

func.func @f(%x: tensor<1x4x5x5xf32>, %w: tensor<4x2x3x3xf32>, %b: tensor<2xf32>) {
  %0 = nn.conv_transpose2d %x, %w, %b {group = 2 : i64} : (tensor<1x4x5x5xf32>, tensor<4x2x3x3xf32>, tensor<2xf32>) -> tensor<1x4x7x7xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.conv_transpose2d': bias has shape 2, expected 4

// -----

func.func @f(%x: tensor<1x4x1x1xf32>, %w: tensor<4x2x2x2xf32>) {
  %0 = nn.conv_transpose2d %x, %w {pads = array<i64: 1, 0, 1, 0>} : (tensor<1x4x1x1xf32>, tensor<4x2x2x2xf32>) -> tensor<1x2x1x2xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.conv_transpose2d': pads [1, 0, 1, 0] remove the whole output

// -----

func.func @f(%x: tensor<?x4x5x5xf32>, %w: tensor<4x2x3x3xf32>) {
  %0 = nn.conv_transpose2d %x, %w {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>} : (tensor<?x4x5x5xf32>, tensor<4x2x3x3xf32>) -> tensor<?x2x10x10xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.conv_transpose2d': result has shape ?x2x10x10, expected ?x2x9x9

// -----

// lrn
func.func @f(%x: tensor<8xf32>) {
  %0 = nn.lrn %x {size = 3 : i64} : (tensor<8xf32>) -> tensor<8xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.lrn': input must have a channel axis

// -----

func.func @f(%x: tensor<1x8x4x4xf32>) {
  %0 = nn.lrn %x {size = 0 : i64} : (tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.lrn': size must be >= 1, got 0

// -----

func.func @f(%x: tensor<1x8x4x4xf32>) {
  %0 = nn.lrn %x {alpha = 1.000000e-04 : f32} : (tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}property 'size' expected in operation 'nn.lrn'

// -----

func.func @f(%x: tensor<?x8x4x4xf32>) {
  %0 = nn.lrn %x {size = 5 : i64} : (tensor<?x8x4x4xf32>) -> tensor<?x8x4xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.lrn': result has shape ?x8x4, expected ?x8x4x4

// -----

// log_softmax
func.func @f(%x: tensor<2x5xf32>) {
  %0 = nn.log_softmax %x {axis = 2 : i64} : (tensor<2x5xf32>) -> tensor<2x5xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.log_softmax': axis 2 is out of range for rank 2

// -----

func.func @f(%x: tensor<f32>) {
  %0 = nn.log_softmax %x : (tensor<f32>) -> tensor<f32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.log_softmax': input must have rank >= 1

// -----

// prelu
func.func @f(%x: tensor<?x3x4x4xf32>, %s: tensor<3xf32>) {
  %0 = nn.prelu %x, %s : (tensor<?x3x4x4xf32>, tensor<3xf32>) -> tensor<?x3x4x4xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.prelu': slope of shape 3 does not broadcast to the input shape ?x3x4x4

// -----

func.func @f(%x: tensor<3x4xf32>, %s: tensor<2x3x4xf32>) {
  %0 = nn.prelu %x, %s : (tensor<3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.prelu': slope of shape 2x3x4 does not broadcast to the input shape 3x4

// -----

func.func @f(%x: tensor<?x3x4x4xf32>, %s: tensor<3x1x1xf32>) {
  %0 = nn.prelu %x, %s : (tensor<?x3x4x4xf32>, tensor<3x1x1xf32>) -> tensor<?x3x1x1xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.prelu': result has shape ?x3x1x1, expected ?x3x4x4

// -----

// float-only unary ops
func.func @f(%a: tensor<2x3xi64>) {
  %0 = nn.elu %a : (tensor<2x3xi64>) -> tensor<2x3xi64>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}expected a tensor of floats (f16, f32, f64, ...)
// CHECK-NEXT: {{^}}Underlying verification failure: Unexpected attribute i64

// -----

func.func @f(%a: tensor<2x3xf32>) {
  %0 = nn.selu %a : (tensor<2x3xf32>) -> tensor<3x2xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.selu': result has shape 3x2, expected 2x3

// -----

func.func @f(%a: tensor<2x3xf32>) {
  %0 = nn.softplus %a : (tensor<2x3xf32>) -> tensor<2x3xf16>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.softplus': operands and results must have the same element type, got f32, f16

// -----

func.func @f(%a: tensor<?x3xf32>) {
  %0 = nn.softsign %a : (tensor<?x3xf32>) -> tensor<?xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.softsign': result has shape ?, expected ?x3

// -----

func.func @f(%a: tensor<2x3xi32>) {
  %0 = nn.log %a : (tensor<2x3xi32>) -> tensor<2x3xi32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}expected a tensor of floats (f16, f32, f64, ...)
// CHECK-NEXT: {{^}}Underlying verification failure: Unexpected attribute i32

// -----

func.func @f(%a: tensor<2x3xf32>) {
  %0 = nn.reciprocal %a : (tensor<2x3xf32>) -> tensor<2x3x1xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.reciprocal': result has shape 2x3x1, expected 2x3

// -----

func.func @f(%a: tensor<2x3xf32>) {
  %0 = nn.hard_sigmoid %a {alpha = 2 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}2 : i64 should be of base attribute float

// -----

func.func @f(%a: tensor<2x3xf32>) {
  %0 = nn.hard_swish %a : (tensor<2x3xf32>) -> tensor<2x3xf64>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.hard_swish': operands and results must have the same element type, got f32, f64

// -----

// numeric unary ops: float or integer, not i1
func.func @f(%a: tensor<2x3xi1>) {
  %0 = nn.neg %a : (tensor<2x3xi1>) -> tensor<2x3xi1>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.neg': expects float or integer elements, not i1

// -----

func.func @f(%a: tensor<2x3xi64>) {
  %0 = nn.abs %a : (tensor<2x3xi64>) -> tensor<2x3xi32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.abs': operands and results must have the same element type, got i64, i32

// -----

func.func @f(%a: tensor<2x3xi1>) {
  %0 = nn.relu %a : (tensor<2x3xi1>) -> tensor<2x3xi1>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.relu': expects float or integer elements, not i1

// -----

// binary ops on integers
func.func @f(%a: tensor<2x3xi1>, %b: tensor<2x3xi1>) {
  %0 = nn.add %a, %b : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.add': expects float or integer elements, not i1

// -----

func.func @f(%a: tensor<2x3xi64>, %b: tensor<3xf32>) {
  %0 = nn.mul %a, %b : (tensor<2x3xi64>, tensor<3xf32>) -> tensor<2x3xi64>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.mul': operands and results must have the same element type, got i64, f32, i64

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<3xi64>) {
  %0 = nn.pow %a, %b : (tensor<2x3xf32>, tensor<3xi64>) -> tensor<2x3xi64>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.pow': operands and results must have the same element type, got f32, i64

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<3xi1>) {
  %0 = nn.pow %a, %b : (tensor<2x3xf32>, tensor<3xi1>) -> tensor<2x3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.pow': expects float or integer elements, not i1

// -----

// min, max
func.func @f(%a: tensor<2x3xf32>, %b: tensor<2xf32>) {
  %0 = nn.min %a, %b : (tensor<2x3xf32>, tensor<2xf32>) -> tensor<2x3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.min': shapes 2x3, 2 are not broadcast-compatible

// -----

func.func @f(%a: tensor<?x3xi64>, %b: tensor<3xi64>) {
  %0 = nn.max %a, %b : (tensor<?x3xi64>, tensor<3xi64>) -> tensor<3xi64>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.max': result has shape 3, expected ?x3

// -----

// comparisons
func.func @f(%a: tensor<2x3xf32>, %b: tensor<3xi64>) {
  %0 = nn.equal %a, %b : (tensor<2x3xf32>, tensor<3xi64>) -> tensor<2x3xi1>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.equal': operands must have the same element type, got f32, i64

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<3xf32>) {
  %0 = nn.equal %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}expected a tensor of i1
// CHECK-NEXT: {{^}}Underlying verification failure: Expected attribute i1 but got f32

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<2xf32>) {
  %0 = nn.greater %a, %b : (tensor<2x3xf32>, tensor<2xf32>) -> tensor<2x3xi1>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.greater': shapes 2x3, 2 are not broadcast-compatible

// -----

func.func @f(%a: tensor<2x3xi1>, %b: tensor<3xi1>) {
  %0 = nn.less %a, %b : (tensor<2x3xi1>, tensor<3xi1>) -> tensor<2x3xi1>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.less': expects float or integer elements, not i1

// -----

func.func @f(%a: tensor<?x3xi64>, %b: tensor<3xi64>) {
  %0 = nn.less %a, %b : (tensor<?x3xi64>, tensor<3xi64>) -> tensor<3xi1>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.less': result has shape 3, expected ?x3

// -----

// not
func.func @f(%a: tensor<2x3xf32>) {
  %0 = nn.not %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}expected a tensor of i1
// CHECK-NEXT: {{^}}Underlying verification failure: Expected attribute i1 but got f32

// -----

func.func @f(%a: tensor<2x3xi1>) {
  %0 = nn.not %a : (tensor<2x3xi1>) -> tensor<3x2xi1>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.not': result has shape 3x2, expected 2x3

// -----

// where
func.func @f(%c: tensor<2x3xf32>, %a: tensor<2x3xf32>, %b: tensor<2x3xf32>) {
  %0 = nn.where %c, %a, %b : (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}expected a tensor of i1
// CHECK-NEXT: {{^}}Underlying verification failure: Expected attribute i1 but got f32

// -----

func.func @f(%c: tensor<2x3xi1>, %a: tensor<2x3xf32>, %b: tensor<2x3xi64>) {
  %0 = nn.where %c, %a, %b : (tensor<2x3xi1>, tensor<2x3xf32>, tensor<2x3xi64>) -> tensor<2x3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.where': operands and results must have the same element type, got f32, i64, f32

// -----

func.func @f(%c: tensor<4x1xi1>, %a: tensor<2x3xf32>, %b: tensor<3xf32>) {
  %0 = nn.where %c, %a, %b : (tensor<4x1xi1>, tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.where': shapes 4x1, 2x3, 3 are not broadcast-compatible

// -----

func.func @f(%c: tensor<?x1x1xi1>, %a: tensor<2x3xf32>, %b: tensor<3xf32>) {
  %0 = nn.where %c, %a, %b : (tensor<?x1x1xi1>, tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.where': result has shape 2x3, expected ?x2x3

// -----

// pad
func.func @f(%x: tensor<2x3xf32>) {
  %0 = nn.pad %x {pads = array<i64: 1, 1>} : (tensor<2x3xf32>) -> tensor<4x3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.pad': pads has 2 values, expected 2 x rank = 4

// -----

func.func @f(%x: tensor<2x3xf32>) {
  %0 = nn.pad %x {pads = array<i64: 1, 1, 1, 1>, mode = "wrap"} : (tensor<2x3xf32>) -> tensor<4x5xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.pad': mode must be "constant", "reflect" or "edge", got "wrap"

// -----

func.func @f(%x: tensor<2x3xi64>) {
  %0 = nn.pad %x {pads = array<i64: 1, 1, 1, 1>, value = 5.000000e-01 : f32} : (tensor<2x3xi64>) -> tensor<4x5xi64>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.pad': value 0.5 is not an integer, but the tensor holds i64

// -----

func.func @f(%x: tensor<2x3xf32>) {
  %0 = nn.pad %x {pads = array<i64: 0, -2, 0, -2>} : (tensor<2x3xf32>) -> tensor<2x0xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.pad': pads [0, -2, 0, -2] crop axis 1 of size 3 below 0

// -----

func.func @f(%x: tensor<2x3xf32>) {
  %0 = nn.pad %x {pads = array<i64: 0, -1, 0, 2>, mode = "reflect"} : (tensor<2x3xf32>) -> tensor<2x4xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.pad': reflect pads -1, 2 on axis 1 must be smaller than the (cropped) size 2

// -----

func.func @f(%x: tensor<2x3xf32>) {
  %0 = nn.pad %x {pads = array<i64: 0, -3, 0, 1>, mode = "edge"} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.pad': edge padding of axis 1 needs a non-empty (cropped) axis

// -----

func.func @f(%x: tensor<?x3xf32>) {
  %0 = nn.pad %x {pads = array<i64: 1, 1, 1, 1>} : (tensor<?x3xf32>) -> tensor<?x3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.pad': result has shape ?x3, expected ?x5

// -----

func.func @f(%x: tensor<2x3xf32>) {
  %0 = nn.pad %x {mode = "edge"} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}property 'pads' expected in operation 'nn.pad'

// -----

// expand
func.func @f(%x: tensor<3x2xf32>) {
  %0 = nn.expand %x : (tensor<3x2xf32>) -> tensor<3x4xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.expand': shapes 3x2, 3x4 are not broadcast-compatible

// -----

func.func @f(%x: tensor<3x1xf32>) {
  %0 = nn.expand %x : (tensor<3x1xf32>) -> tensor<2x1x4xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.expand': result has shape 2x1x4, expected 2x3x4

// -----

func.func @f(%x: tensor<3x1xi64>) {
  %0 = nn.expand %x : (tensor<3x1xi64>) -> tensor<3x4xi32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.expand': operands and results must have the same element type, got i64, i32

// -----

// cast
func.func @f(%x: tensor<3xf32>) {
  %0 = nn.cast %x : (tensor<3xf32>) -> tensor<3xbf16>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.cast': cannot cast result elements of type bf16 (supported: f16, f32, f64, i1, i8, i16, i32, i64, ui8, ui16)

// -----

func.func @f(%x: tensor<3xi4>) {
  %0 = nn.cast %x : (tensor<3xi4>) -> tensor<3xf32>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.cast': cannot cast input elements of type i4 (supported: f16, f32, f64, i1, i8, i16, i32, i64, ui8, ui16)

// -----

func.func @f(%x: tensor<?x3xf32>) {
  %0 = nn.cast %x : (tensor<?x3xf32>) -> tensor<?x4xi64>
  func.return
}
// CHECK: {{^//}} -----{{$}}
// CHECK-NEXT: {{^}}'nn.cast': result has shape ?x4, expected ?x3
