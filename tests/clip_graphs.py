"""Tiny ONNX graphs with the CLIP image encoder's interface, for tests that must not need 85 MB of weights.

`tiny_encoder` maps ``pixel_values`` [N, 3, 224, 224] to ``image_embeds`` [N, 512] through a per-channel
mean and a random projection, so an image's embedding depends on its colour only (a flip leaves it
unchanged, a different colour moves it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tiny_encoder(path: Path, *, output_dim: int = 512, input_size: int = 224, seed: int = 0) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    projection = rng.normal(size=(3, output_dim)).astype(np.float32)
    offset = rng.normal(size=(output_dim,)).astype(np.float32)
    nodes = [
        helper.make_node("GlobalAveragePool", ["pixel_values"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "projection"], ["projected"]),
        helper.make_node("Add", ["projected", "offset"], ["image_embeds"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny-clip",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, input_size, input_size])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", output_dim])],
        initializer=[numpy_helper.from_array(projection, "projection"), numpy_helper.from_array(offset, "offset")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path
