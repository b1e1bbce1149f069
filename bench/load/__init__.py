"""The guide's load scenario with Locust: ``./dev bench load`` (see bench/load_test.py)."""
