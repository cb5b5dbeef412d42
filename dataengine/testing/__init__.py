"""Test doubles for the tests, the benchmarks and offline demos: a local OpenAI-compatible server.
The pipeline itself never imports this package (tests/test_architecture.py checks)."""
