"""hwgen: hardware (HLS-ready C and Verilog) emitters driven by the same spec model as the runtime."""
