"""qopt's command-line tools: `qopt-opt`, `qopt-run`."""
