// IR that does not verify: the verifier's message on one line,
// exit 2, no traceback, no output file. --verify-diagnostics prints xDSL's
// diagnostic and exits 0; --split-input-file handles each chunk on its own.

// RUN: sh -c 'qopt-opt %s --split-input-file; echo "exit $?"' 2>&1 | filecheck %s
// CHECK-NOT:  Traceback
// CHECK:      func.func @good(
// CHECK:      {{^}}// {{-----}}
// CHECK-NEXT: qopt-opt: error: the input does not verify: 'nn.add': shapes 2x3, 2x4 are not broadcast-compatible
// CHECK-NEXT: exit 2

// RUN: qopt-opt %s --split-input-file --verify-diagnostics | filecheck %s --check-prefix=DIAG
// DIAG:      func.func @good(
// DIAG:      {{^}}// {{-----}}
// DIAG-NEXT: 'nn.add': shapes 2x3, 2x4 are not broadcast-compatible
// DIAG:      {{^}}// {{-----}}
// DIAG:      func.func @also_good(

// The first chunk succeeds, the second fails: no output file at all.
// RUN: rm -rf %t.dir && mkdir -p %t.dir && not qopt-opt %s --split-input-file -o %t.dir/out.mlir
// RUN: ls -A %t.dir | wc -l | filecheck %s --check-prefix=EMPTY
// EMPTY: {{^ *0$}}

// An existing output file is left as it was.
// RUN: echo "previous" > %t.dir/out.mlir && not qopt-opt %s --split-input-file -o %t.dir/out.mlir
// RUN: filecheck %s --check-prefix=KEPT --input-file=%t.dir/out.mlir
// KEPT: previous

func.func @good(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  func.return %x : tensor<2x3xf32>
}

// -----

func.func @bad(%x: tensor<2x3xf32>, %y: tensor<2x4xf32>) -> tensor<2x3xf32> {
  %0 = nn.add %x, %y : (tensor<2x3xf32>, tensor<2x4xf32>) -> tensor<2x3xf32>
  func.return %0 : tensor<2x3xf32>
}

// -----

func.func @also_good(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  func.return %x : tensor<2x3xf32>
}
