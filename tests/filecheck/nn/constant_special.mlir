// RUN: xdsl-opt %s | xdsl-opt | filecheck %s

// Float constants with NaN, infinities or large integral values print as the
// hex string of their little-endian bytes: xDSL 0.74 prints such an element
// as a hex bit pattern (`0xff800000`) that its parser reads back as an
// integer. Only the custom format has this fix (the generic format prints
// the property with xDSL's printer).

func.func @special() -> (tensor<f32>, tensor<3xf32>, tensor<2xf16>, tensor<2xf32>) {
  %0 = nn.constant dense<"0x000080FF"> : tensor<f32>
  %1 = nn.constant dense<"0x0000807F0000C0FF0000803F"> : tensor<3xf32>
  %2 = nn.constant dense<"0x007C00FC"> : tensor<2xf16>
  %3 = nn.constant dense<[1.234567e+06, 5.000000e-01]> : tensor<2xf32>
  func.return %0, %1, %2, %3 : tensor<f32>, tensor<3xf32>, tensor<2xf16>, tensor<2xf32>
}
// CHECK-LABEL: func.func @special(
// CHECK-NEXT: %0 = nn.constant dense<"0x000080FF"> : tensor<f32>
// CHECK-NEXT: %1 = nn.constant dense<"0x0000807F0000C0FF0000803F"> : tensor<3xf32>
// CHECK-NEXT: %2 = nn.constant dense<"0x007C00FC"> : tensor<2xf16>
// CHECK-NEXT: %3 = nn.constant dense<"0x38B496490000003F"> : tensor<2xf32>
