"""Fixtures of the runner unit tests."""

from tests.runner.workspace_helpers import mirror_server, subject

__all__ = ["mirror_server", "subject"]
