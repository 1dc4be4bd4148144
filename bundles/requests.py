"""What one repository fetch asks for (`ref` / `commitId` of contract §2), checked.

No git here: the checks run before the backend is spawned (`bundles.checks`), and
importing GitPython would put ~0.09 s on that path (issue 14).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from contract.failures import JobSpecError

COMMIT_ID = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
"""A full commit id: SHA-1 (40 hex digits) or SHA-256 (64)."""

_REF = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)(?!.*@\{)[A-Za-z0-9._/+@-]{1,255}(?<![./])$")


@dataclass(frozen=True)
class FetchRequest:
    """What to fetch from one repository.

    Attributes:
        ref: the requested ref as the job spec gave it (None if not given).
        commit_id: the requested commit as given (lower-cased), or None.
    """

    ref: str | None
    commit_id: str | None

    @property
    def wanted(self) -> str:
        """What is fetched: the commit id if given, else the ref, else `HEAD`."""
        return self.commit_id or self.ref or "HEAD"

    @property
    def by_commit(self) -> bool:
        """Whether the fetch is by commit id."""
        return self.commit_id is not None


def fetch_request(ref: str | None, commit_id: str | None) -> FetchRequest:
    """Validate a spec's `ref`/`commitId` pair.

    A `ref` that is itself a full commit id is fetched as a commit.

    Raises:
        JobSpecError: `commitId` is not 40 (or 64) hex digits, or `ref` is not a valid,
            option-free git ref name.
    """
    if commit_id is not None:
        commit_id = commit_id.strip().lower()
        if not COMMIT_ID.match(commit_id):
            raise JobSpecError("commitId must be a full hex commit id")
    if ref is not None:
        ref = ref.strip()
        if not _REF.match(ref) or ref.endswith(".lock"):
            raise JobSpecError("ref is not a valid git ref name", detail={"ref": ref[:100]})
        if commit_id is None and COMMIT_ID.match(ref.lower()):
            return FetchRequest(ref=ref, commit_id=ref.lower())
    return FetchRequest(ref=ref, commit_id=commit_id)
