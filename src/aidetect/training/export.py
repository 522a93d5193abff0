"""Deprecated location: ONNX export and int8 quantisation moved to `aidetect.export`."""

from aidetect.export import PARITY_TOLERANCE, export_module, max_parity_error, quantize_int8

__all__ = ["PARITY_TOLERANCE", "export_module", "max_parity_error", "quantize_int8"]
