"""qopt backends."""
