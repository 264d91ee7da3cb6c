// Input of tests/filecheck/passes/qopt-calibrate-data-free.mlir: an op that
// the data-free model does not cover.
func.func @main(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %s = nn.sigmoid %x : (tensor<?x2xf32>) -> tensor<?x2xf32>
  func.return %s : tensor<?x2xf32>
}
