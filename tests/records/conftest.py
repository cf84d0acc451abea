"""Fixtures of the record tests (the databases come from tests/conftest.py)."""

from tests.records.helpers import store  # noqa: F401 - re-exported fixture
