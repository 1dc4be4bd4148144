"""`agentrun-boot`: boot the runner from an exact source commit inside the env image.

The env image (see `Containerfile` and `scripts/install-env`) holds Python, the locked
dependencies, git, tini, the pinned Codex binary and this package, but no runner source.
At pod start `agentrun-boot` fetches `AGENTRUN_BOOT_COMMIT` through the git mirror into a
fresh directory, verifies `HEAD`, and replaces itself with `python -m runner run` from that
checkout (contract `manager-runner-api.md` §1). The package uses the standard library
only: it must run before any runner source exists on the machine.

Modules: `errors` (the one failure line), `config` (the env it reads), `fetch` (git),
`launch` (the exec into the runner), `flow` (the whole boot), `env_identity` (the digest
of the image's inputs), `cli` (the console script).
"""
