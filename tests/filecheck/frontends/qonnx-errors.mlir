// Bad QONNX input: one `qopt-opt: error:` line naming the node, exit status 2,
// no output file.

// RUN: python -c "import numpy as np, onnx, sys; from onnx import helper as h, numpy_helper as nh, TensorProto as T; \
// RUN:   D = 'qonnx.custom_op.general'; i = lambda v, n: nh.from_array(np.array(v, np.float32), n); \
// RUN:   bits, mode, path = float(sys.argv[1]), sys.argv[2], sys.argv[3]; \
// RUN:   g = h.make_graph([h.make_node('Quant', ['x', 's', 'z', 'b'], ['y'], name='q_act', domain=D, rounding_mode=mode)], 'g', \
// RUN:                    [h.make_tensor_value_info('x', T.FLOAT, ['batch', 4])], [h.make_tensor_value_info('y', T.FLOAT, None)], \
// RUN:                    [i(0.5, 's'), i(0, 'z'), i(bits, 'b')]); \
// RUN:   m = h.make_model(g, opset_imports=[h.make_opsetid('', 13), h.make_opsetid(D, 2)]); m.ir_version = 8; \
// RUN:   onnx.save(m, path)" 2.5 ROUND %t.bits.onnx
// RUN: sh -c 'qopt-opt %t.bits.onnx -o %t.out.mlir; echo "exit $?"; test ! -e %t.out.mlir || echo "output written"' 2>&1 | filecheck %s --check-prefix=BITS
// BITS-NOT:  Traceback
// BITS:      qopt-opt: error: {{.*}}bits.onnx: node 'q_act' (Quant): the bit width 2.5 is not an integer
// BITS-NEXT: exit 2
// BITS-NOT:  output written

// An activation of more than 16 bits.
// RUN: python -c "import numpy as np, onnx, sys; from onnx import helper as h, numpy_helper as nh, TensorProto as T; \
// RUN:   D = 'qonnx.custom_op.general'; i = lambda v, n: nh.from_array(np.array(v, np.float32), n); \
// RUN:   g = h.make_graph([h.make_node('Quant', ['x', 's', 'z', 'b'], ['y'], name='q_act', domain=D)], 'g', \
// RUN:                    [h.make_tensor_value_info('x', T.FLOAT, ['batch', 4])], [h.make_tensor_value_info('y', T.FLOAT, None)], \
// RUN:                    [i(0.5, 's'), i(0, 'z'), i(24, 'b')]); \
// RUN:   m = h.make_model(g, opset_imports=[h.make_opsetid('', 13), h.make_opsetid(D, 2)]); m.ir_version = 8; \
// RUN:   onnx.save(m, '%t.wide.onnx')"
// RUN: sh -c 'qopt-opt %t.wide.onnx -o %t.out.mlir; echo "exit $?"; test ! -e %t.out.mlir || echo "output written"' 2>&1 | filecheck %s --check-prefix=WIDE
// WIDE:      qopt-opt: error: {{.*}}wide.onnx: node 'q_act' (Quant): the bit width 24 is outside 1..16 (the input is computed at run time; constants may have up to 32 bits)
// WIDE-NEXT: exit 2
// WIDE-NOT:  output written

// A rounding mode qopt does not know: listed with the unsupported ops.
// RUN: python -c "import numpy as np, onnx, sys; from onnx import helper as h, numpy_helper as nh, TensorProto as T; \
// RUN:   D = 'qonnx.custom_op.general'; i = lambda v, n: nh.from_array(np.array(v, np.float32), n); \
// RUN:   g = h.make_graph([h.make_node('Quant', ['x', 's', 'z', 'b'], ['y'], name='q_act', domain=D, rounding_mode='STOCHASTIC_ROUND')], 'g', \
// RUN:                    [h.make_tensor_value_info('x', T.FLOAT, ['batch', 4])], [h.make_tensor_value_info('y', T.FLOAT, None)], \
// RUN:                    [i(0.5, 's'), i(0, 'z'), i(8, 'b')]); \
// RUN:   m = h.make_model(g, opset_imports=[h.make_opsetid('', 13), h.make_opsetid(D, 2)]); m.ir_version = 8; \
// RUN:   onnx.save(m, '%t.mode.onnx')"
// RUN: sh -c 'qopt-opt %t.mode.onnx -o %t.out.mlir; echo "exit $?"; test ! -e %t.out.mlir || echo "output written"' 2>&1 | filecheck %s --check-prefix=MODE
// MODE:      qopt-opt: error: {{.*}}mode.onnx: unsupported ONNX ops (1 type, 1 node): qonnx.custom_op.general.Quant [rounding STOCHASTIC_ROUND] x1 (q_act)
// MODE-NEXT: exit 2
// MODE-NOT:  output written

// A scale that is not a positive constant.
// RUN: python -c "import numpy as np, onnx, sys; from onnx import helper as h, numpy_helper as nh, TensorProto as T; \
// RUN:   D = 'qonnx.custom_op.general'; i = lambda v, n: nh.from_array(np.array(v, np.float32), n); \
// RUN:   g = h.make_graph([h.make_node('Quant', ['x', 's', 'z', 'b'], ['y'], name='q_act', domain=D)], 'g', \
// RUN:                    [h.make_tensor_value_info('x', T.FLOAT, ['batch', 4])], [h.make_tensor_value_info('y', T.FLOAT, None)], \
// RUN:                    [i(-0.5, 's'), i(0, 'z'), i(8, 'b')]); \
// RUN:   m = h.make_model(g, opset_imports=[h.make_opsetid('', 13), h.make_opsetid(D, 2)]); m.ir_version = 8; \
// RUN:   onnx.save(m, '%t.scale.onnx')"
// RUN: sh -c 'qopt-opt %t.scale.onnx -o %t.out.mlir; echo "exit $?"; test ! -e %t.out.mlir || echo "output written"' 2>&1 | filecheck %s --check-prefix=SCALE
// SCALE:      qopt-opt: error: {{.*}}scale.onnx: node 'q_act' (Quant): the scale must be positive and finite (-0.5)
// SCALE-NEXT: exit 2
// SCALE-NOT:  output written
