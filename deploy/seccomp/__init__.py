"""The Localhost seccomp profile for Codex's bubblewrap sandbox (docs/boot.md)."""
