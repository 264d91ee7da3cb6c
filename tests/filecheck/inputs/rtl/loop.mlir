hw.module @m(in %a: i8, out y: i8) {
  %x = comb.add %y, %a : i8
  %y = comb.add %x, %a : i8
  hw.output %y : i8
}
