// RUN: xdsl-opt %s --allow-unregistered-dialect | xdsl-opt --allow-unregistered-dialect | filecheck %s
// RUN: xdsl-opt %s --allow-unregistered-dialect --print-op-generic | xdsl-opt --allow-unregistered-dialect | filecheck %s
// RUN: qopt-opt %s --allow-unregistered-dialect | filecheck %s

// The calibration attributes #q.range and #q.stats (qdialect/calib.py) round-trip
// through the custom and generic formats. Floats print as the shortest decimal
// that reads back as the same float64; integers read as floats.

// Per tensor: bounds only, with a method, dynamic, stats; in that order.
// CHECK:      "test.op"() {a = #q.range<-1.5, 3.25>, b = #q.range<0.0, 6.0, percentile>, c = #q.range<-1.0, 1.0, mse, dynamic>, d = #q.range<3.0, 3.0, dynamic>, e = #q.range<-0.0, 0.0>} : () -> ()
"test.op"() {a = #q.range<-1.5, 3.25>, b = #q.range<0, 6, percentile>, c = #q.range<-1.0, 1.0, mse, dynamic>, d = #q.range<3.0, 3.0, dynamic>, e = #q.range<-0.0, 0.0>} : () -> ()

// Per channel: axis, lows, highs.
// CHECK-NEXT: "test.op"() {a = #q.range<axis = 1, [-1.0, -2.0, 0.0], [2.0, 1.5, 0.0], entropy>, b = #q.range<axis = 0, [0.5], [0.75]>} : () -> ()
"test.op"() {a = #q.range<axis = 1, [-1.0, -2, 0.0], [2.0, 1.5, 0.0], entropy>, b = #q.range<axis = 0, [0.5], [0.75]>} : () -> ()

// Stats, alone and inside a range; tiny and huge floats are exact.
// CHECK-NEXT: "test.op"() {a = #q.stats<min = -1.5, max = 3.25, mean = 0.875, std = 1.25, count = 24>, b = #q.range<axis = 1, [1.0e-300, 5.0e-324], [1.7976931348623157e+308, 1.0e+300], minmax, dynamic, stats = #q.stats<min = 1.0e-05, max = 0.1, mean = 0.030000000000000002, std = 0.0, count = 1>>} : () -> ()
"test.op"() {a = #q.stats<min = -1.5, max = 3.25, mean = 0.875, std = 1.25, count = 24>, b = #q.range<axis = 1, [1.0e-300, 5.0e-324], [1.7976931348623157e+308, 1.0e300], minmax, dynamic, stats = #q.stats<min = 0.00001, max = 0.1, mean = 0.030000000000000002, std = 0, count = 1>>} : () -> ()

// Stats with the distribution in equiprobable bins (quantiles=R in qopt-calibrate).
// CHECK-NEXT: "test.op"() {a = #q.stats<min = 0.0, max = 4.0, mean = 1.5, std = 1.25, count = 8, quantiles = [0.5, 1.0, 1.0], counts = [3, 2, 0, 3], means = [0.0, 0.75, 1.0, 3.5]>} : () -> ()
"test.op"() {a = #q.stats<min = 0, max = 4, mean = 1.5, std = 1.25, count = 8, quantiles = [0.5, 1, 1.0], counts = [3, 2, 0, 3], means = [0.0, 0.75, 1.0, 3.5]>} : () -> ()

// Where the calibration pass puts them: arguments and ops with one or several results.
// CHECK-NEXT: func.func @f(%x: tensor<2xf32> {q.range = #q.range<-1.0, 1.0>}) {
// CHECK-NEXT:   %a, %b = "test.op"(%x) {q.ranges = [#q.range<0.0, 1.0>, unit]} : (tensor<2xf32>) -> (tensor<2xf32>, tensor<2xi64>)
func.func @f(%x: tensor<2xf32> {q.range = #q.range<-1.0, 1.0>}) {
  %a, %b = "test.op"(%x) {q.ranges = [#q.range<0.0, 1.0>, unit]} : (tensor<2xf32>) -> (tensor<2xf32>, tensor<2xi64>)
  func.return
}
