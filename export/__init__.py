"""Export: the NIR writer / reader and the model loader (quantization lives in train/quantize.py, used by QAT too)."""
