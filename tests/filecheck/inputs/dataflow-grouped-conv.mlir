builtin.module {
  func.func @main(%x: tensor<?x2x2x2xf32>) -> tensor<?x2x2x2xf32> {
    %xq = q.quantize %x : (tensor<?x2x2x2xf32>) -> tensor<?x2x2x2x!q.uniform<u8:f32, 0.5>>
    %w = q.constant "0x05" : tensor<2x1x1x1x!q.uniform<i2:f32, 0.25>>
    %dw = q.conv2d %xq, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 2 : i64} : (tensor<?x2x2x2x!q.uniform<u8:f32, 0.5>>, tensor<2x1x1x1x!q.uniform<i2:f32, 0.25>>) -> tensor<?x2x2x2x!q.uniform<i10:f32, 0.125>>
    %y = q.dequantize %dw : (tensor<?x2x2x2x!q.uniform<i10:f32, 0.125>>) -> tensor<?x2x2x2xf32>
    func.return %y : tensor<?x2x2x2xf32>
  }
}
