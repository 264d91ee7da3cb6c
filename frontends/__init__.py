"""qopt frontends: importers from model formats into the `nn` dialect.

`get_all_frontends()` maps a file extension to a function from a binary
stream (or bytes) to a `ModuleOp`, the shape of xDSL's frontend registry;
`qopt-opt model.onnx` picks the importer by the extension.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO

from xdsl.dialects.builtin import ModuleOp


def get_all_frontends() -> dict[str, Callable[[IO[bytes] | bytes], ModuleOp]]:
    """Every frontend by file extension (importers load lazily)."""

    def onnx_frontend(stream: IO[bytes] | bytes) -> ModuleOp:
        from qopt.frontends.onnx import import_onnx

        return import_onnx(stream)

    return {"onnx": onnx_frontend}
