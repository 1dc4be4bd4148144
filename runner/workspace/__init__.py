"""The workspace result (contract §12): what the agent changed, kept beyond the pod.

Owns capturing the subject's change as one masked commit (`capture`), pushing it to the
mirror's write side (`push`), uploading the patch and emitting `workspace.changed`
(`result`), and the attempt's step around them (`plan`, `step`). May import `manager`,
`turn`, `eventlog`, `safety`, `bundles` and the ground; only `attempt` imports it.
"""
