// Malformed IR: the parser's located diagnostic (file:line:col: message) on
// one line, exit 2, no traceback, no output file.

// RUN: sh -c 'qopt-opt %s; echo "exit $?"' 2>&1 | filecheck %s
// RUN: sh -c 'qopt-opt - < %s; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=STDIN
// RUN: qopt-opt %s --parsing-diagnostics | filecheck %s --check-prefix=DIAG
// RUN: rm -rf %t.dir && mkdir -p %t.dir && not qopt-opt %s -o %t.dir/out.mlir
// RUN: ls -A %t.dir | wc -l | filecheck %s --check-prefix=EMPTY
// EMPTY: {{^ *0$}}

// CHECK-NOT: Traceback

func.func @f(%x: tensor<2xf32>) -> tensor<2xf32> {
  // CHECK:      qopt-opt: error: {{.*}}opt_parse_error.mlir:[[# @LINE + 5]]:22: Operation nn.no_such_op is not registered
  // CHECK-NEXT: exit 2
  // STDIN:      qopt-opt: error: stdin:[[# @LINE + 3]]:22: Operation nn.no_such_op is not registered
  // STDIN-NEXT: exit 2
  // DIAG:       opt_parse_error.mlir:[[# @LINE + 1]]:22
  %0 = nn.no_such_op %x : (tensor<2xf32>) -> tensor<2xf32>
  func.return %0 : tensor<2xf32>
}
