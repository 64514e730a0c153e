"""Training: LTC / ALIF / LIF networks, FPTT and BPTT, tasks, the quantizer and quantization-aware training."""
