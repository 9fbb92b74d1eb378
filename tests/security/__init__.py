"""Hostile-tenant suite. A package, so that its conftest does not shadow tests/e2e/conftest.py (imported as `conftest`)."""
