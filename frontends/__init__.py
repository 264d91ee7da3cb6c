"""qopt frontends."""
