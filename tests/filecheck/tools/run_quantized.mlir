// qopt-run prints quantized results as their integer levels.

// RUN: qopt-run %s --input '[[1, 2, 3.3], [-100, 0.2, 1000]]' | filecheck %s
// CHECK:      result 0: tensor<2x3x!q.uniform<i8:f32, 0.5>>
// CHECK-NEXT:   2, 4, 7
// CHECK-NEXT:   -128, 0, 127
// CHECK-NEXT: result 1: tensor<2x3xf32>
// CHECK-NEXT:   1.000000, 2.000000, 3.500000
// CHECK-NEXT:   -64.000000, 0.000000, 63.500000

// RUN: qopt-run %s --input '[[1, 2, 3.3], [-100, 0.2, 1000]]' --output %t.npz --quiet
// RUN: python -c "import numpy as np; z = np.load('%t.npz'); print(z['result0'].dtype, z['result0'].tolist())" | filecheck %s --check-prefix=SAVED
// SAVED: int64 {{\[}}[2, 4, 7], [-128, 0, 127]]

func.func @main(%x: tensor<2x3xf32>) -> (tensor<2x3x!q.uniform<i8:f32, 0.5>>, tensor<2x3xf32>) {
  %q = q.quantize %x : (tensor<2x3xf32>) -> tensor<2x3x!q.uniform<i8:f32, 0.5>>
  %d = q.dequantize %q : (tensor<2x3x!q.uniform<i8:f32, 0.5>>) -> tensor<2x3xf32>
  func.return %q, %d : tensor<2x3x!q.uniform<i8:f32, 0.5>>, tensor<2x3xf32>
}
