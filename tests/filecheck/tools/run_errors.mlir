// qopt-run's errors: one line on stderr, exit 2, no traceback, no output file.
// `sh -c '...; echo "exit $?"'` puts the exit status on the next line.

// RUN: python -c "import numpy as np; np.save('%t.x.npy', np.ones((2, 3), np.float32)); np.save('%t.wide.npy', np.ones((3, 3), np.float32)); np.save('%t.n.npy', np.ones(3, np.float32)); open('%t.junk.npy', 'w').write('junk')"

// RUN: sh -c 'qopt-run %s --input %t.x.npy; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=COUNT
// COUNT-NOT:  Traceback
// COUNT:      qopt-run: error: @main takes 2 arguments, 1 given
// COUNT-NEXT: exit 2

// RUN: sh -c 'qopt-run %s --input %t.x.npy --input %t.wide.npy; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=SHAPE
// SHAPE:      qopt-run: error: argument 1 has shape 3x3, the function expects 2x3
// SHAPE-NEXT: exit 2

// RUN: sh -c 'qopt-run %s --entry ints --input %t.n.npy; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=DTYPE
// DTYPE:      qopt-run: error: argument 0 holds float32 values, the function expects integers
// DTYPE-NEXT: exit 2

// RUN: sh -c 'qopt-run %s --entry nope --input %t.x.npy; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=ENTRY
// ENTRY:      qopt-run: error: no function named @nope in the module
// ENTRY-NEXT: exit 2

// RUN: sh -c 'qopt-run %s --input %t.missing.npy --input %t.x.npy; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=MISSING
// MISSING:      qopt-run: error: cannot read input '{{.*}}.missing.npy': No such file or directory
// MISSING-NEXT: exit 2

// RUN: sh -c 'qopt-run %s --input %t.junk.npy --input %t.x.npy; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=JUNK
// JUNK:      qopt-run: error: input '{{.*}}.junk.npy' is not a .npy or .npz file{{.*}}
// JUNK-NEXT: exit 2

// RUN: sh -c 'qopt-run %s --input "[[1, 2], [3" --input %t.x.npy; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=INLINE
// INLINE:      qopt-run: error: --input '[[1, 2], [3' is not a valid array literal
// INLINE-NEXT: exit 2

// RUN: sh -c 'qopt-run %s.nofile.mlir; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=NOIR
// NOIR:      qopt-run: error: cannot read '{{.*}}.nofile.mlir': No such file or directory
// NOIR-NEXT: exit 2

// RUN: sh -c 'qopt-run %s -p "nosuchpass" --input %t.x.npy; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=BADPASS
// BADPASS:    qopt-run: error: unknown pass 'nosuchpass' {{.*}}
// BADPASS-NEXT: exit 2

// RUN: sh -c 'qopt-run %s --pass-pipeline="builtin.module(dce{x=1})" --input %t.x.npy; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=OPTION
// OPTION:      qopt-run: error: pass 'dce' has no option 'x' (it takes none)
// OPTION-NEXT: exit 2

// Malformed IR from stdin: the located diagnostic.
// RUN: sh -c 'echo "func.func @f() { nn.nope }" | qopt-run -; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=IR
// IR-NOT:  Traceback
// IR:      qopt-run: error: stdin:1:{{[0-9]+}}: {{.*}}
// IR:      exit 2

// A failed run writes no --output file.
// RUN: rm -rf %t.dir && mkdir -p %t.dir
// RUN: not qopt-run %s --input %t.x.npy --output %t.dir/out.npz
// RUN: ls -A %t.dir | wc -l | filecheck %s --check-prefix=EMPTY
// EMPTY: {{^ *0$}}

func.func @main(%x: tensor<2x3xf32>, %y: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %s = nn.add %x, %y : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %s : tensor<2x3xf32>
}

func.func @ints(%n: tensor<3xi32>) -> tensor<3xi32> {
  func.return %n : tensor<3xi32>
}
