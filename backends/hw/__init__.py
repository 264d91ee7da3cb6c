"""Hardware backend: the analytical cost model of `dataflow` designs
(`cost_model.py`); the RTL generators build on the same dialect."""
