"""Driving one turn on Codex, from spawning the app-server to the attempt's verdict.

Owns the backend's lifetime (`backend_run`), the per-turn observer of notifications
(`observer`), typed items (`items`), answers to the app-server's server requests
(`server_requests`), classification of Codex errors into failure kinds (`classify`),
the verdict (`outcome`), the liveness phase (`liveness`, contract §11) and the
`CODEX_HOME` it runs in (`codex_home`). May import `contract`, `concurrency`,
`adapters.codex` and the runner's `eventlog` and `safety` rooms; never `runner.manager`.
"""
