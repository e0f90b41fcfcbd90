"""Benchmarks of the Credits app: ratios to a bare Flask endpoint measured in the same run."""
