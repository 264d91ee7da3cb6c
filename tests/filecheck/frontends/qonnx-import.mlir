// QONNX import: `qopt-opt model.onnx` turns QONNX quantizers into `q` types.
// The model (written by the python snippet below, a Brevitas/FINN-style MLP):
//   Quant(x) int8 (ROUND, zero point 0)        -> q.quantize !q.uniform + q.dequantize
//   Quant(fc.weight) int4 narrow, per row      -> q.constant !q.uniform<i4<-7:7>...>
//   Gemm
//   Quant uint4, zero point 3, FLOOR           -> !q.thresholds (exact for FLOOR)
//   MultiThreshold per channel, out_scale 0.5,
//     out_bias -1 (= -2 * 0.5: zero point 2)   -> !q.thresholds<u2:f32:1, 0.5:2, ...>
//   BipolarQuant, scale 2                      -> codes 0 / 2, zero point 1: ±2

// RUN: python -c "import numpy as np, onnx; from onnx import helper as h, numpy_helper as nh, TensorProto as T; \
// RUN:   D = 'qonnx.custom_op.general'; i = lambda v, n: nh.from_array(np.array(v, np.float32), n); \
// RUN:   nodes = [h.make_node('Quant', ['x', 's_in', 'zero', 'b8'], ['xq'], name='q_in', domain=D, signed=1, narrow=0, rounding_mode='ROUND'), \
// RUN:            h.make_node('Quant', ['fc.weight', 's_w', 'zero', 'b4'], ['wq'], name='q_w', domain=D, signed=1, narrow=1, rounding_mode='ROUND'), \
// RUN:            h.make_node('Gemm', ['xq', 'wq'], ['g'], name='fc', transB=1), \
// RUN:            h.make_node('Quant', ['g', 's_out', 'z_out', 'b4'], ['a'], name='q_act', domain=D, signed=0, narrow=0, rounding_mode='FLOOR'), \
// RUN:            h.make_node('MultiThreshold', ['a', 't'], ['m'], name='mt', domain=D, out_dtype='INT2', out_scale=0.5, out_bias=-1.0), \
// RUN:            h.make_node('BipolarQuant', ['m', 's_b'], ['y'], name='bq', domain=D)]; \
// RUN:   inits = [i([[0.5, -1.0, 0.25], [1.0, 0.75, -0.5]], 'fc.weight'), i(0.125, 's_in'), i(0, 'zero'), i(8, 'b8'), i(4, 'b4'), \
// RUN:            i([[0.25], [0.125]], 's_w'), i(0.25, 's_out'), i(3, 'z_out'), i([[0.5, 1.0, 2.0], [0.0, 0.25, 0.5]], 't'), i(2.0, 's_b')]; \
// RUN:   g = h.make_graph(nodes, 'qonnx', [h.make_tensor_value_info('x', T.FLOAT, ['batch', 3])], \
// RUN:                    [h.make_tensor_value_info('y', T.FLOAT, ['batch', 2])], inits); \
// RUN:   m = h.make_model(g, opset_imports=[h.make_opsetid('', 13), h.make_opsetid(D, 2)]); m.ir_version = 8; \
// RUN:   onnx.save(m, '%t.onnx')"

// RUN: qopt-opt %t.onnx | filecheck %s
// CHECK:      func.func @main(%x: tensor<?x3xf32>) -> tensor<?x2xf32> {
// CHECK-NEXT:   %xq_q = q.quantize %x : (tensor<?x3xf32>) -> tensor<?x3x!q.uniform<i8:f32, 0.125>>
// CHECK-NEXT:   %xq = q.dequantize %xq_q : (tensor<?x3x!q.uniform<i8:f32, 0.125>>) -> tensor<?x3xf32>
// The weight levels [[2, -4, 1], [7, 6, -4]] (8 saturates to the narrow 7), 4 bits each:
// CHECK-NEXT:   %fc.weight_q = q.constant "0xC271C6" : tensor<2x3x!q.uniform<i4<-7:7>:f32:0, {0.25, 0.125}>>
// CHECK-NEXT:   %wq = q.dequantize %fc.weight_q : {{.*}} -> tensor<2x3xf32>
// CHECK-NEXT:   %g = nn.gemm %xq, %wq {transB = true} : (tensor<?x3xf32>, tensor<2x3xf32>) -> tensor<?x2xf32>
// FLOOR(x / 0.25 + 3) in float32: the thresholds are the exact float32 steps.
// CHECK-NEXT:   %a_q = q.quantize %g : (tensor<?x2xf32>) -> tensor<?x2x!q.thresholds<u4:f32, 0.25:3, [-0.5, -0.25, -2.9802322387695312e-08, 0.2499999701976776, {{.*}}, 2.75, 3.0]>>
// CHECK-NEXT:   %a = q.dequantize %a_q
// CHECK-NEXT:   %m_q = q.quantize %a : (tensor<?x2xf32>) -> tensor<?x2x!q.thresholds<u2:f32:1, 0.5:2, {{\[\[}}0.5, 1.0, 2.0], [0.0, 0.25, 0.5]]>>
// CHECK-NEXT:   %m = q.dequantize %m_q
// CHECK-NEXT:   %y_q = q.quantize %m : (tensor<?x2xf32>) -> tensor<?x2x!q.thresholds<u2:f32, 2.0:1, [0.0, 0.0]>>
// CHECK-NEXT:   %y = q.dequantize %y_q : (tensor<?x2x!q.thresholds<u2:f32, 2.0:1, [0.0, 0.0]>>) -> tensor<?x2xf32>
// CHECK-NEXT:   func.return %y : tensor<?x2xf32>

// The printed IR parses back and prints the same.
// RUN: qopt-opt %t.onnx | qopt-opt | filecheck %s --check-prefix=ROUNDTRIP
// ROUNDTRIP: %fc.weight_q = q.constant "0xC271C6" : tensor<2x3x!q.uniform<i4<-7:7>:f32:0, {0.25, 0.125}>>
// ROUNDTRIP: q.thresholds<u2:f32, 2.0:1, [0.0, 0.0]>

// A run, worked by hand: xq = [[0.25, -0.25, 1], [2, 1, -1]],
// g = [[0.625, -0.46875], [-0.25, 3]], a = [[0.5, -0.5], [-0.25, 3]],
// codes [[1, 0], [0, 3]], m = 0.5 * code - 1 = [[-0.5, -1], [-1, 0.5]], y = ±2.
// RUN: qopt-run %t.onnx --input '[[0.3, -0.2, 1.0], [2.0, 1.0, -1.0]]' --precision 2 | filecheck %s --check-prefix=VALUES
// VALUES:      result 0: tensor<?x2xf32> (shape 2x2)
// VALUES-NEXT: -2.00, -2.00
// VALUES-NEXT: -2.00, 2.00
