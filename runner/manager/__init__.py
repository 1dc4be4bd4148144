"""Everything the runner says to the manager over HTTP (contract `manager-runner-api.md`).

Owns the typed API client (`client`), the one retry policy (`retry`), the claim
(`claim`, §2-§3), event and heartbeat delivery (`delivery`, §4-§5), the commands long
poll applied to the running turn (`commands`, §6) and the terminal report (`terminal`,
§7). May import `contract`, `concurrency`, `adapters`, `boot.env_identity`, the
runner's `turn`, `eventlog` and `safety` rooms and `runner.env`; never `runner.launch`,
`runner.attempt` or `runner.cli`.
"""
