// qopt-opt --pass-pipeline: MLIR's textual pipelines, options in both
// syntaxes, lists, bare paths, func.func anchors; -p keeps xDSL's flat form.

// RUN: qopt-opt %s --pass-pipeline='builtin.module(arith-add-fastmath{flags=nnan,ninf}, dce)' | filecheck %s --check-prefix=LIST
// RUN: qopt-opt %s --pass-pipeline='builtin.module(arith-add-fastmath{flags={nnan,ninf}},dce)' | filecheck %s --check-prefix=LIST
// RUN: qopt-opt %s --pass-pipeline='builtin.module(func.func(arith-add-fastmath{flags="nnan","ninf"}), dce)' | filecheck %s --check-prefix=LIST
// RUN: qopt-opt %s -p 'arith-add-fastmath{flags=nnan,ninf},dce' | filecheck %s --check-prefix=LIST
// RUN: qopt-opt %s --pass-pipeline=' builtin.module( arith-add-fastmath{ flags = nnan , ninf } , dce ) ' | filecheck %s --check-prefix=LIST

// LIST-LABEL: func.func @f(
// LIST-NEXT:    %s = arith.addf %x, %x fastmath<nnan,ninf> : f32
// LIST-NEXT:    func.return %s : f32

// A single Literal value, the default, and options separated by a comma.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(arith-add-fastmath{flags=fast})' | filecheck %s --check-prefix=FAST
// RUN: qopt-opt %s --pass-pipeline='builtin.module(arith-add-fastmath)' | filecheck %s --check-prefix=FAST
// RUN: qopt-opt %s -p 'arith-add-fastmath' | filecheck %s --check-prefix=FAST
// FAST: arith.addf %x, %x fastmath<fast> : f32

// An empty pipeline, with or without the anchor, only verifies and prints.
// RUN: qopt-opt %s --pass-pipeline='builtin.module()' | filecheck %s --check-prefix=NONE
// RUN: qopt-opt %s --pass-pipeline='' | filecheck %s --check-prefix=NONE
// NONE:      %s = arith.addf %x, %x : f32
// NONE-NEXT: %dead = arith.mulf %x, %x : f32

// A bare path as an option value (it contains '/', '.' and '-'): apply-pdl
// reads its patterns from this very file and erases the marked op.
// RUN: qopt-opt %s --pass-pipeline='builtin.module(apply-pdl{pdl-file=%s})' | filecheck %s --check-prefix=PATH
// RUN: qopt-opt %s --pass-pipeline='builtin.module(apply-pdl{pdl_file="%s"})' | filecheck %s --check-prefix=PATH
// RUN: qopt-opt %s -p 'apply-pdl{pdl-file=%s}' | filecheck %s --check-prefix=PATH
// PATH:      pdl.erase %root
// PATH-NOT:  "test.op"() {erase_me}
// PATH:      "test.op"() {keep_me} : () -> ()
// PATH-NOT:  "test.op"() {erase_me}

// Output to a file.
// RUN: rm -f %t.out.mlir && qopt-opt %s -p dce -o %t.out.mlir && filecheck %s --check-prefix=FILE --input-file=%t.out.mlir
// FILE:     func.func @f(
// FILE-NOT: arith.mulf

func.func @f(%x: f32) -> f32 {
  %s = arith.addf %x, %x : f32
  %dead = arith.mulf %x, %x : f32
  func.return %s : f32
}

pdl.pattern : benefit(1) {
  %attr = pdl.attribute
  %root = pdl.operation "test.op" {"erase_me" = %attr}
  pdl.rewrite %root {
    pdl.erase %root
  }
}
"test.op"() {erase_me} : () -> ()
"test.op"() {keep_me} : () -> ()
