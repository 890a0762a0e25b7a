"""Benchmarks, run by hand (``python -m bench.<name>``); figures go into docs/performance.md."""
