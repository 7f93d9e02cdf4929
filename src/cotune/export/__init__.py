"""Export trained task models: ONNX graphs, int8 dynamic quantization, parity checks."""
