"""qopt's rewrite passes, one module each, registered by name.

`get_all_passes()` maps each kebab-case pass name to a factory returning the
pass class, like xDSL's `get_all_passes()`.
"""

from collections.abc import Callable

from xdsl.passes import ModulePass


def get_all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """Every qopt pass by name."""

    def get_fold_batchnorm() -> type[ModulePass]:
        from qopt.passes.fold_batchnorm import FoldBatchNormPass

        return FoldBatchNormPass

    def get_canonicalize() -> type[ModulePass]:
        from qopt.passes.canonicalize import NNCanonicalizePass

        return NNCanonicalizePass

    def get_calibrate() -> type[ModulePass]:
        from qopt.passes.calibrate import CalibratePass

        return CalibratePass

    def get_calibrate_data_free() -> type[ModulePass]:
        from qopt.passes.calibrate_data_free import CalibrateDataFreePass

        return CalibrateDataFreePass

    def get_quantize() -> type[ModulePass]:
        from qopt.passes.quantize import QuantizePass

        return QuantizePass

    def get_adaround() -> type[ModulePass]:
        from qopt.passes.adaround import AdaRoundPass

        return AdaRoundPass

    def get_equalize() -> type[ModulePass]:
        from qopt.passes.equalize import EqualizePass

        return EqualizePass

    def get_bias_correct() -> type[ModulePass]:
        from qopt.passes.bias_correct import BiasCorrectPass

        return BiasCorrectPass

    def get_sva() -> type[ModulePass]:
        from qopt.passes.sva import SvaPass

        return SvaPass

    def get_mixed_precision() -> type[ModulePass]:
        from qopt.passes.mixed_precision import MixedPrecisionPass

        return MixedPrecisionPass

    def get_qat() -> type[ModulePass]:
        from qopt.passes.qat import QatPass

        return QatPass

    def get_autoquant() -> type[ModulePass]:
        from qopt.passes.autoquant import AutoQuantPass

        return AutoQuantPass

    def get_lower_dataflow() -> type[ModulePass]:
        from qopt.passes.lower_dataflow import LowerDataflowPass

        return LowerDataflowPass

    def get_tile() -> type[ModulePass]:
        from qopt.passes.tile import TilePass

        return TilePass

    def get_lower_hw() -> type[ModulePass]:
        from qopt.passes.lower_hw import LowerHwPass

        return LowerHwPass

    def get_to_hw() -> type[ModulePass]:
        from qopt.passes.to_hw import ToHwPass

        return ToHwPass

    return {
        "nn-fold-batchnorm": get_fold_batchnorm,
        "nn-canonicalize": get_canonicalize,
        "qopt-calibrate": get_calibrate,
        "qopt-calibrate-data-free": get_calibrate_data_free,
        "qopt-quantize": get_quantize,
        "qopt-equalize": get_equalize,
        "qopt-bias-correct": get_bias_correct,
        "qopt-adaround": get_adaround,
        "qopt-sva": get_sva,
        "qopt-mixed-precision": get_mixed_precision,
        "qopt-lower-dataflow": get_lower_dataflow,
        "qopt-tile": get_tile,
        "qopt-lower-hw": get_lower_hw,
        "qopt-to-hw": get_to_hw,
        "qopt-qat": get_qat,
        "qopt-autoquant": get_autoquant,
    }
