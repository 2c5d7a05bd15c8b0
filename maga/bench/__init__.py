"""Benchmarks (``maga bench``)."""
