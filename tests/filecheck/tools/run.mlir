// qopt-run: runs a function on .npy/.npz/inline inputs and prints each result
// as a header `result N: TYPE` and one indented line per innermost row.

// RUN: python -c "import numpy as np; np.save('%t.x.npy', np.array([[1, -2, 3], [-4, 5, -6]], np.float32)); np.save('%t.y.npy', np.full((2, 3), 0.25, np.float32)); np.savez('%t.xy.npz', x=np.ones((2, 3), np.float32), y=np.arange(6, dtype=np.float32).reshape(2, 3)); np.save('%t.n.npy', np.array([7, -8, 9], np.int64))"

// RUN: qopt-run %s --input %t.x.npy --input %t.y.npy | filecheck %s
// RUN: qopt-run - --input %t.x.npy --input %t.y.npy < %s | filecheck %s
// RUN: qopt-run %s -i %t.x.npy -i %t.y.npy --pass-pipeline='builtin.module(canonicalize, dce)' | filecheck %s
// CHECK:      result 0: tensor<2x3xf32>
// CHECK-NEXT:   1.250000, 0.000000, 3.250000
// CHECK-NEXT:   0.000000, 5.250000, 0.000000
// CHECK-NOT:  result 1

// One .npz gives all the arguments, in order; inline literals work too.
// RUN: qopt-run %s --input %t.xy.npz | filecheck %s --check-prefix=NPZ
// RUN: qopt-run %s --input '[[1, 1, 1], [1, 1, 1]]' --input '[[0, 1, 2], [3, 4, 5]]' | filecheck %s --check-prefix=NPZ
// NPZ:      result 0: tensor<2x3xf32>
// NPZ-NEXT:   1.000000, 2.000000, 3.000000
// NPZ-NEXT:   4.000000, 5.000000, 6.000000

// --entry, several results, integers, 0-d tensors, dynamic dimensions.
// RUN: qopt-run %s --entry many --input %t.x.npy --input %t.n.npy --input 2.5 | filecheck %s --check-prefix=MANY
// MANY:      result 0: tensor<?x3xf32> (shape 2x3)
// MANY-NEXT:   1.000000, 0.000000, 3.000000
// MANY-NEXT:   0.000000, 5.000000, 0.000000
// MANY-NEXT: result 1: tensor<3xi32>
// MANY-NEXT:   7, -8, 9
// MANY-NEXT: result 2: tensor<f32>
// MANY-NEXT:   2.500000
// MANY-NOT:  result 3

// --precision, --quiet and --output (an .npz of result0, result1, ...).
// RUN: qopt-run %s --entry many -i %t.x.npy -i %t.n.npy -i 0.123456789 --precision 3 | filecheck %s --check-prefix=PREC
// PREC: result 2: tensor<f32>
// PREC-NEXT: 0.123
// RUN: rm -f %t.out.npz
// RUN: qopt-run %s --entry many -i %t.x.npy -i %t.n.npy -i 2.5 --quiet --output %t.out.npz | wc -c | filecheck %s --check-prefix=QUIET
// QUIET: {{^ *0$}}
// RUN: python -c "import numpy as np; z = np.load('%t.out.npz'); print(z.files); print([z[k].dtype.kind for k in z.files]); print(z['result1'].tolist(), z['result2'].tolist())" | filecheck %s --check-prefix=SAVED
// SAVED:      ['result0', 'result1', 'result2']
// SAVED-NEXT: ['f', 'i', 'f']
// SAVED-NEXT: [7, -8, 9] 2.5

func.func @main(%x: tensor<2x3xf32>, %y: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %s = nn.add %x, %y : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %r = nn.relu %s : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %r : tensor<2x3xf32>
}

func.func @many(%x: tensor<?x3xf32>, %n: tensor<3xi32>, %s: tensor<f32>) -> (tensor<?x3xf32>, tensor<3xi32>, tensor<f32>) {
  %r = nn.relu %x : (tensor<?x3xf32>) -> tensor<?x3xf32>
  func.return %r, %n, %s : tensor<?x3xf32>, tensor<3xi32>, tensor<f32>
}
