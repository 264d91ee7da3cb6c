"""qopt's dialects: `nn` (float graph), `q` (quantized integer IR) and
`dataflow` (streaming hardware units).

`get_all_dialects()` maps each dialect name to a factory, like xDSL's own
registry, so drivers load dialects lazily.
"""

from collections.abc import Callable

from xdsl.ir import Dialect


def get_all_dialects() -> dict[str, Callable[[], Dialect]]:
    """Every qopt dialect by name."""

    def get_nn() -> Dialect:
        from qopt.qdialect.nn import NN

        return NN

    def get_q() -> Dialect:
        from qopt.qdialect.q import Q

        return Q

    def get_dataflow() -> Dialect:
        from qopt.qdialect.dataflow import Dataflow

        return Dataflow

    return {"nn": get_nn, "q": get_q, "dataflow": get_dataflow}
