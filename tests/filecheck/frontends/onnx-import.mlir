// The ONNX frontend: `qopt-opt model.onnx` imports by the file extension.
// The model is written by the python snippet below: a 1-D conv + relu, a
// named residual add, global pooling and a linear head, with a dynamic batch.

// RUN: python -c "import numpy as np, onnx; from onnx import helper as h, numpy_helper as nh, TensorProto as T; \
// RUN:   r = np.random.default_rng(0); \
// RUN:   w = nh.from_array(r.standard_normal((4, 4, 3)).astype(np.float32), 'conv1.weight'); \
// RUN:   fc = nh.from_array(r.standard_normal((3, 4)).astype(np.float32), 'fc.weight'); \
// RUN:   nodes = [h.make_node('Conv', ['x', 'conv1.weight'], ['c'], name='conv1', pads=[1, 1]), \
// RUN:            h.make_node('Relu', ['c'], ['r'], name='relu1'), \
// RUN:            h.make_node('Add', ['r', 'x'], ['res'], name='residual'), \
// RUN:            h.make_node('GlobalAveragePool', ['res'], ['p'], name='pool'), \
// RUN:            h.make_node('Flatten', ['p'], ['f'], name='flatten'), \
// RUN:            h.make_node('Gemm', ['f', 'fc.weight'], ['logits'], name='fc', transB=1)]; \
// RUN:   g = h.make_graph(nodes, 'tiny', [h.make_tensor_value_info('x', T.FLOAT, ['batch', 4, 8])], \
// RUN:                    [h.make_tensor_value_info('logits', T.FLOAT, ['batch', 3])], [w, fc]); \
// RUN:   m = h.make_model(g, opset_imports=[h.make_opsetid('', 13)]); m.ir_version = 8; \
// RUN:   onnx.save(m, '%t.onnx')"

// RUN: qopt-opt %t.onnx | filecheck %s
// CHECK:      func.func @main(%x: tensor<?x4x8xf32>) -> tensor<?x3xf32> {
// CHECK:        %[[X2:.*]] = nn.reshape %x : (tensor<?x4x8xf32>) -> tensor<?x4x1x8xf32>
// CHECK:        %conv1.weight = nn.constant dense<{{.*}}> : tensor<4x4x1x3xf32>
// CHECK:        %[[C4:.*]] = nn.conv2d %[[X2]], %conv1.weight {{{.*}}pads = array<i64: 0, 1, 0, 1>{{.*}}} : (tensor<?x4x1x8xf32>, tensor<4x4x1x3xf32>) -> tensor<?x4x1x8xf32>
// CHECK:        %c = nn.reshape %[[C4]] : (tensor<?x4x1x8xf32>) -> tensor<?x4x8xf32>
// CHECK:        %r = nn.relu %c : (tensor<?x4x8xf32>) -> tensor<?x4x8xf32>
// CHECK:        %res = nn.add %r, %x : (tensor<?x4x8xf32>, tensor<?x4x8xf32>) -> tensor<?x4x8xf32>
// CHECK:        %p = nn.global_avgpool %res : (tensor<?x4x8xf32>) -> tensor<?x4x1xf32>
// CHECK:        %f = nn.flatten %p : (tensor<?x4x1xf32>) -> tensor<?x4xf32>
// CHECK:        %fc.weight = nn.constant
// CHECK:        %logits = nn.gemm %f, %fc.weight {transB = true} : (tensor<?x4xf32>, tensor<3x4xf32>) -> tensor<?x3xf32>
// CHECK:        func.return %logits : tensor<?x3xf32>

// ONNX node names are the ops' locations; initializers and inputs name theirs.
// RUN: qopt-opt %t.onnx --print-debuginfo | filecheck %s --check-prefix=LOC
// LOC:      func.func @main(%x: tensor<?x4x8xf32> loc("x")) -> tensor<?x3xf32> {
// LOC:        nn.reshape %x {{.*}} loc("conv1")
// LOC:        %conv1.weight = nn.constant {{.*}} loc("conv1.weight")
// LOC:        nn.conv2d {{.*}} loc("conv1")
// LOC:        nn.relu {{.*}} loc("relu1")
// LOC:        nn.add {{.*}} loc("residual")
// LOC:        nn.gemm {{.*}} loc("fc")
// LOC:      } loc("tiny")

// The printed IR (with locations) parses back to the same text.
// RUN: qopt-opt %t.onnx --print-debuginfo -o %t.mlir
// RUN: qopt-opt %t.mlir --print-debuginfo | diff %t.mlir -

// --batch fixes the batch; the rest of the IR follows.
// RUN: qopt-opt %t.onnx --batch 2 | filecheck %s --check-prefix=BATCH
// BATCH:      func.func @main(%x: tensor<2x4x8xf32>) -> tensor<2x3xf32> {
// BATCH:        nn.conv2d {{.*}} -> tensor<2x4x1x8xf32>

// Passes run on the imported module like on any IR.
// RUN: qopt-opt %t.onnx -p dce | filecheck %s --check-prefix=PASS
// PASS: nn.gemm
