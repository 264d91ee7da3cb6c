"""The numpy reference executor of every IR level.

`run_function(module, inputs)` runs a `func.func` with xDSL's interpreter,
using the op implementations registered here; values are numpy arrays,
vectorised over the batch.
"""

from qopt.backends.reference.runner import ExecutionError, run_function

__all__ = ["ExecutionError", "run_function"]
