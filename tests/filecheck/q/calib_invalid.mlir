// RUN: xdsl-opt %s --split-input-file --parsing-diagnostics --allow-unregistered-dialect | filecheck %s

// One case per rule of #q.range and #q.stats (qdialect/calib.py): a broken rule
// is a located parse error of the attribute. Non-finite bounds cannot be
// written in text: tests/py/test_calibrate.py covers that rule.

// CHECK: q.range: low bound 2.0 is larger than high bound 1.0
"test.op"() {a = #q.range<2.0, 1.0>} : () -> ()
// -----
// CHECK: q.range: low bound 1.0 is larger than high bound 0.5 (index 1)
"test.op"() {a = #q.range<axis = 1, [0.0, 1.0], [1.0, 0.5]>} : () -> ()
// -----
// CHECK: q.range: 2 low bounds but 1 high bounds
"test.op"() {a = #q.range<axis = 1, [0.0, 1.0], [1.0]>} : () -> ()
// -----
// CHECK: q.range: a per-channel range needs bounds
"test.op"() {a = #q.range<axis = 1, [], []>} : () -> ()
// -----
// CHECK: Expected integer literal
"test.op"() {a = #q.range<axis = -1, [0.0], [1.0]>} : () -> ()
// -----
// CHECK: unexpected 'dynamic': the order is METHOD, dynamic, stats = ..., each at most once
"test.op"() {a = #q.range<0.0, 1.0, dynamic, dynamic>} : () -> ()
// -----
// CHECK: unexpected 'mse': the order is METHOD, dynamic, stats = ..., each at most once
"test.op"() {a = #q.range<0.0, 1.0, minmax, mse>} : () -> ()
// -----
// CHECK: unexpected 'minmax': the order is METHOD, dynamic, stats = ..., each at most once
"test.op"() {a = #q.range<0.0, 1.0, dynamic, minmax>} : () -> ()
// -----
// CHECK: unexpected 'axis': the order is METHOD, dynamic, stats = ..., each at most once
"test.op"() {a = #q.range<0.0, 1.0, axis>} : () -> ()
// -----
// CHECK: expected a #q.stats<...> attribute
"test.op"() {a = #q.range<0.0, 1.0, stats = #q.range<0.0, 1.0>>} : () -> ()
// -----
// CHECK: q.stats: min 2.0 is larger than max 1.0
"test.op"() {a = #q.stats<min = 2.0, max = 1.0, mean = 1.5, std = 0.0, count = 2>} : () -> ()
// -----
// CHECK: q.stats: std must be >= 0, got -1.0
"test.op"() {a = #q.stats<min = 0.0, max = 1.0, mean = 0.5, std = -1.0, count = 2>} : () -> ()
// -----
// CHECK: q.stats: count must be at least 1, got 0
"test.op"() {a = #q.stats<min = 0.0, max = 1.0, mean = 0.5, std = 0.5, count = 0>} : () -> ()
// -----
// CHECK: Expected 'mean'
"test.op"() {a = #q.stats<min = 0.0, max = 1.0, std = 0.5, mean = 0.5, count = 2>} : () -> ()
// -----
// CHECK: q.stats: 2 quantiles need 3 counts and means (at least 2 bins), got 2 and 3
"test.op"() {a = #q.stats<min = 0.0, max = 1.0, mean = 0.5, std = 0.5, count = 2, quantiles = [0.5, 0.5], counts = [1, 1], means = [0.0, 0.5, 1.0]>} : () -> ()
// -----
// CHECK: q.stats: quantiles must be non-decreasing and inside [min, max]
"test.op"() {a = #q.stats<min = 0.0, max = 1.0, mean = 0.5, std = 0.5, count = 2, quantiles = [0.75, 0.5], counts = [1, 0, 1], means = [0.0, 0.5, 1.0]>} : () -> ()
// -----
// CHECK: q.stats: quantiles must be non-decreasing and inside [min, max]
"test.op"() {a = #q.stats<min = 0.0, max = 1.0, mean = 0.5, std = 0.5, count = 2, quantiles = [2.0], counts = [1, 1], means = [0.0, 1.0]>} : () -> ()
// -----
// CHECK: q.stats: bin counts must be >= 0 and sum to count = 2, got 3
"test.op"() {a = #q.stats<min = 0.0, max = 1.0, mean = 0.5, std = 0.5, count = 2, quantiles = [0.5], counts = [1, 2], means = [0.0, 1.0]>} : () -> ()
// -----
// CHECK: q.stats: bin counts must be >= 0 and sum to count = 2, got 2
"test.op"() {a = #q.stats<min = 0.0, max = 1.0, mean = 0.5, std = 0.5, count = 2, quantiles = [0.5], counts = [3, -1], means = [0.0, 1.0]>} : () -> ()
// -----
// CHECK: q.stats: bin means must lie inside [min, max]
"test.op"() {a = #q.stats<min = 0.0, max = 1.0, mean = 0.5, std = 0.5, count = 2, quantiles = [0.5], counts = [1, 1], means = [0.0, 1.5]>} : () -> ()
// -----
// CHECK: Expected 'quantiles'
"test.op"() {a = #q.stats<min = 0.0, max = 1.0, mean = 0.5, std = 0.5, count = 2, counts = [1, 1]>} : () -> ()
