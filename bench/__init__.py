"""Benchmarks: each module exposes main() and prints ratios measured in one run (never pass/fail)."""
