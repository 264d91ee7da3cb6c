"""qopt's reference models: small networks trained offline in seconds.

The data (`qopt.models.data`) comes from packages that ship it or generate it
offline (scikit-learn's 8x8 digits, `mnist1d`); the models
(`qopt.models.zoo`) are FINN-sized torch modules; `qopt.models.train` trains
them deterministically, caches them and exports ONNX. Install with the
`models` extra (``pip install -e '.[models]'``). Submodules import torch and
the data packages only when imported themselves.
"""
