// qopt-opt's errors on bad pipelines and files: one line on stderr, exit 2,
// never a traceback. `sh -c '...; echo "exit $?"'` shows the exit status on
// the line after the message (so CHECK-NEXT proves the message is one line).

// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(nosuchpass)"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=UNKNOWN
// RUN: sh -c 'qopt-opt %s -p dce,nosuchpass; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=UNKNOWN
// UNKNOWN-NOT: Traceback
// UNKNOWN:      qopt-opt: error: unknown pass 'nosuchpass' (known: {{.*}}nn-canonicalize{{.*}})
// UNKNOWN-NEXT: exit 2

// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(canonicalise)"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=CLOSE
// CLOSE:      qopt-opt: error: unknown pass 'canonicalise' (did you mean 'canonicalize'{{.*}}
// CLOSE-NEXT: exit 2

// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(arith-add-fastmath{flag=fast})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=OPTION
// OPTION:      qopt-opt: error: pass 'arith-add-fastmath' has no option 'flag' (options: flags)
// OPTION-NEXT: exit 2

// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(dce{x=1})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=NOOPTION
// NOOPTION:      qopt-opt: error: pass 'dce' has no option 'x' (it takes none)
// NOOPTION-NEXT: exit 2

// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(convert-scf-to-openmp{collapse=two})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=VALUE
// VALUE:      qopt-opt: error: pass 'convert-scf-to-openmp' option 'collapse' expects an integer, got 'two'
// VALUE-NEXT: exit 2

// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(convert-scf-to-openmp{schedule=sometimes})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=LITERAL
// LITERAL:      qopt-opt: error: pass 'convert-scf-to-openmp' option 'schedule' expects one of 'static', 'dynamic', 'auto', got 'sometimes'
// LITERAL-NEXT: exit 2

// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(apply-individual-rewrite{matched-operation-index=1})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=REQUIRED
// REQUIRED:      qopt-opt: error: pass 'apply-individual-rewrite' requires option 'operation_name'
// REQUIRED-NEXT: exit 2

// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(dce, canonicalize{max-iterations=3)"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=MALFORMED
// MALFORMED:      qopt-opt: error: malformed pass pipeline at column 50: unexpected ')', expected ',', '}' or a space
// MALFORMED-NEXT: exit 2

// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(dce"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=UNCLOSED
// UNCLOSED:      qopt-opt: error: malformed pass pipeline at column 19: unexpected end, expected ')'
// UNCLOSED-NEXT: exit 2

// RUN: sh -c 'qopt-opt %s --pass-pipeline="gpu.module(dce)"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=ANCHOR
// ANCHOR:      qopt-opt: error: malformed pass pipeline at column 1: the pipeline must be anchored on builtin.module, not gpu.module
// ANCHOR-NEXT: exit 2

// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(dce)" -p dce; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=BOTH
// BOTH:      qopt-opt: error: give the passes with either -p or --pass-pipeline, not both
// BOTH-NEXT: exit 2

// RUN: sh -c 'qopt-opt %s.does-not-exist.mlir; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=MISSING
// MISSING:      qopt-opt: error: cannot read '{{.*}}.does-not-exist.mlir': No such file or directory
// MISSING-NEXT: exit 2

// A failed run leaves no output file (and no temporary file) behind.
// RUN: rm -rf %t.dir && mkdir -p %t.dir
// RUN: not qopt-opt %s -p nosuchpass -o %t.dir/out.mlir
// RUN: not qopt-opt %s.does-not-exist.mlir -o %t.dir/out.mlir
// RUN: not qopt-opt %s --pass-pipeline="builtin.module(apply-pdl{pdl-file=%t.dir/none.mlir})" -o %t.dir/out.mlir
// RUN: ls -A %t.dir | wc -l | filecheck %s --check-prefix=EMPTY
// EMPTY: {{^ *0$}}

// A pass that raises a plain Python error is reported in one line too.
// RUN: sh -c 'qopt-opt %s --pass-pipeline="builtin.module(apply-pdl{pdl-file=%t.dir/no-such-file.mlir})"; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=CRASH
// CRASH:      qopt-opt: internal error while running pass 'apply-pdl': AssertionError{{.*}}
// CRASH-NEXT: exit 1

func.func @f(%x: f32) -> f32 {
  func.return %x : f32
}
