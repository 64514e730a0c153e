"""Export: quantization of trained networks and the NIR writer / reader."""
