"""Benchmark harness: ``python -m benchmarks --help``."""
