// qopt-run takes an .onnx model directly (import, then run). The model is
// y = softmax(x @ W) with an opset-11 Softmax over a flattened 2-D block,
// and a dynamic batch: any batch size runs through it.

// RUN: python -c "import numpy as np, onnx; from onnx import helper as h, numpy_helper as nh, TensorProto as T; \
// RUN:   w = nh.from_array(np.array([[1, 0, 0], [0, 2, 0]], np.float32), 'w'); \
// RUN:   nodes = [h.make_node('MatMul', ['x', 'w'], ['m']), h.make_node('Softmax', ['m'], ['y'], axis=1)]; \
// RUN:   g = h.make_graph(nodes, 'g', [h.make_tensor_value_info('x', T.FLOAT, ['N', 2])], \
// RUN:                    [h.make_tensor_value_info('y', T.FLOAT, ['N', 3])], [w]); \
// RUN:   m = h.make_model(g, opset_imports=[h.make_opsetid('', 11)]); m.ir_version = 7; \
// RUN:   onnx.save(m, '%t.onnx')"

// RUN: qopt-run %t.onnx --input '[[0, 0], [1, 1], [2, 0]]' --precision 4 | filecheck %s
// CHECK:      result 0: tensor<?x3xf32> (shape 3x3)
// CHECK-NEXT:   0.3333, 0.3333, 0.3333
// CHECK-NEXT:   0.2447, 0.6652, 0.0900
// CHECK-NEXT:   0.7870, 0.1065, 0.1065

// RUN: qopt-run %t.onnx --batch 1 --input '[[0, 0]]' --precision 4 | filecheck %s --check-prefix=ONE
// ONE:      result 0: tensor<1x3xf32>
// ONE-NEXT:   0.3333, 0.3333, 0.3333
