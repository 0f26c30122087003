"""The operator client is the control tests' own (one place operator sign-in happens)."""

from tests.control.conftest import ops_client  # noqa: F401 - a fixture, used by test_ops_page
