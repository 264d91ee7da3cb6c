"""The `q` dialect (placeholder until the types land)."""
from xdsl.ir import Dialect

Q = Dialect("q", [], [])
