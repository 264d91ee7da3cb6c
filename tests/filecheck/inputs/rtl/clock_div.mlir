hw.module @m(in %clk: !seq.clock, out y: i8) {
  %d = seq.clock_div %clk by 2
  %c = hw.constant 0 : i8
  hw.output %c : i8
}
