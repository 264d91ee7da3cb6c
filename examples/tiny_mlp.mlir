func.func @main(%x: tensor<?x4xf32>) -> tensor<?x3xf32> {
  %w = nn.constant dense<[[0.5, -0.25, 0.125, 1.0], [-1.0, 0.5, 0.25, -0.5], [0.75, 0.1, -0.3, 0.2]]> : tensor<3x4xf32>
  %b = nn.constant dense<[0.1, -0.2, 0.05]> : tensor<3xf32>
  %y = nn.gemm %x, %w, %b {transB = 1 : i64} : (tensor<?x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %r = nn.relu %y : (tensor<?x3xf32>) -> tensor<?x3xf32>
  func.return %r : tensor<?x3xf32>
}
