"""What keeps secrets and processes in bounds: masking and process hygiene.

Owns the masker every string that leaves the runner passes through (`masking`, with the
encoded forms of a secret in `masking_forms`), the child subreaper and the reaping of
every descendant (`hygiene`), and cgroup OOM counts and resource snapshots
(`hygiene_stats`). Imports no other runner room (only `contract` and libraries), so
every room can use it.
"""
