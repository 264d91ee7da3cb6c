"""qopt's dialects: `nn` (float graph) and `q` (quantized integer IR).

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

    return {"nn": get_nn, "q": get_q}
