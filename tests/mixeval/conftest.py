"""The refresh workspace fixture (``ws``) of the fast refresh tests, for the mix
evaluation's tests that need a published corpus with its mixes."""

from tests.refresh.conftest import ws  # noqa: F401
