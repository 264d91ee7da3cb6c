// Bad ONNX input: one `qopt-opt: error:` line, exit status 2, no output file.
// `sh -c '...; echo "exit $?"'` prints the status on the line after the
// message (so CHECK-NEXT proves the message is one line).

// Not an ONNX file.
// RUN: sh -c 'printf "hello\n" > %t.text.onnx; qopt-opt %t.text.onnx -o %t.out.mlir; echo "exit $?"; test ! -e %t.out.mlir || echo "output written"' 2>&1 | filecheck %s --check-prefix=NOTONNX
// NOTONNX-NOT:  Traceback
// NOTONNX:      qopt-opt: error: {{.*}}text.onnx: not an ONNX model, or a truncated one (protobuf: {{.*}})
// NOTONNX-NEXT: exit 2
// NOTONNX-NOT:  output written

// Every unsupported op type, with its count and first node names, in one line.
// RUN: python -c "import numpy as np, onnx; from onnx import helper as h, numpy_helper as nh, TensorProto as T; \
// RUN:   s = nh.from_array(np.array([1, 1, 2, 2], np.float32), 's'); \
// RUN:   nodes = [h.make_node('Upsample', ['x', 's'], ['a'], name='up1'), h.make_node('Upsample', ['a', 's'], ['b'], name='up2'), \
// RUN:            h.make_node('Relu', ['b'], ['c'], name='relu'), h.make_node('Upsample', ['c', 's'], ['d'], name='up3'), \
// RUN:            h.make_node('Upsample', ['d', 's'], ['e'], name='up4'), h.make_node('Hardmax', ['e'], ['f'], name='hm'), \
// RUN:            h.make_node('Conv', ['v', 'w'], ['g'], name='conv3d'), h.make_node('Sub', ['f', 'f'], ['y'])]; \
// RUN:   g = h.make_graph(nodes, 'g', [h.make_tensor_value_info('x', T.FLOAT, [1, 1, 2, 2]), h.make_tensor_value_info('v', T.FLOAT, [1, 1, 4, 4, 4])], \
// RUN:                    [h.make_tensor_value_info('y', T.FLOAT, None), h.make_tensor_value_info('g', T.FLOAT, None)], \
// RUN:                    [s, nh.from_array(np.ones((1, 1, 2, 2, 2), np.float32), 'w')]); \
// RUN:   m = h.make_model(g, opset_imports=[h.make_opsetid('', 9)]); m.ir_version = 4; onnx.save(m, '%t.unsupported.onnx')"
// RUN: sh -c 'qopt-opt %t.unsupported.onnx -o %t.out.mlir; echo "exit $?"; test ! -e %t.out.mlir || echo "output written"' 2>&1 | filecheck %s --check-prefix=UNKNOWNOPS
// UNKNOWNOPS:      qopt-opt: error: {{.*}}unsupported.onnx: unsupported ONNX ops (3 types, 6 nodes): Upsample x4 (up1, up2, up3, ...); Conv [3-D] x1 (conv3d); Hardmax x1 (hm)
// UNKNOWNOPS-NEXT: exit 2
// UNKNOWNOPS-NOT:  output written

// A dynamic dimension other than the batch must be fixed with --dim.
// RUN: python -c "import onnx; from onnx import helper as h, TensorProto as T; \
// RUN:   g = h.make_graph([h.make_node('Relu', ['x'], ['y'])], 'g', [h.make_tensor_value_info('x', T.FLOAT, ['batch', 'seq', 8])], \
// RUN:                    [h.make_tensor_value_info('y', T.FLOAT, None)]); \
// RUN:   m = h.make_model(g, opset_imports=[h.make_opsetid('', 13)]); m.ir_version = 8; onnx.save(m, '%t.seq.onnx')"
// RUN: sh -c 'qopt-opt %t.seq.onnx; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=DYNAMIC
// DYNAMIC:      qopt-opt: error: {{.*}}seq.onnx: input 'x' has 'seq' at axis 1: only the batch dimension may stay dynamic; fix it with --dim seq=VALUE
// DYNAMIC-NEXT: exit 2
// RUN: qopt-opt %t.seq.onnx --dim seq=5 | filecheck %s --check-prefix=FIXED
// FIXED: func.func @main(%x: tensor<?x5x8xf32>) -> tensor<?x5x8xf32>

// External data that is missing.
// RUN: python -c "import numpy as np, onnx; from onnx import helper as h, numpy_helper as nh, TensorProto as T; \
// RUN:   w = nh.from_array(np.ones((4, 4), np.float32), 'w'); \
// RUN:   g = h.make_graph([h.make_node('MatMul', ['x', 'w'], ['y'])], 'g', [h.make_tensor_value_info('x', T.FLOAT, [1, 4])], \
// RUN:                    [h.make_tensor_value_info('y', T.FLOAT, None)], [w]); \
// RUN:   m = h.make_model(g, opset_imports=[h.make_opsetid('', 13)]); m.ir_version = 8; \
// RUN:   import os; p = '%t.ext.onnx'; onnx.save_model(m, p, save_as_external_data=True, location=os.path.basename(p) + '.weights', size_threshold=0)"
// RUN: rm %t.ext.onnx.weights
// RUN: sh -c 'qopt-opt %t.ext.onnx; echo "exit $?"' 2>&1 | filecheck %s --check-prefix=EXTERNAL
// EXTERNAL:      qopt-opt: error: {{.*}}ext.onnx: the external data file '{{.*}}.weights' of tensor 'w' is missing (looked in {{.*}})
// EXTERNAL-NEXT: exit 2
