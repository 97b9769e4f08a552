"""Benchmark scripts (run them as files: ``python benchmarks/bench_*.py``) and the plain reference formulations
the tests check the fast detectors against (``bench_local_contrast``, ``reproduce_official_sirst``)."""
