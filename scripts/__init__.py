"""Tools run from a checkout, outside the edgecv package (tests and benchmarks import them)."""
