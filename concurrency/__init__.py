"""Small anyio helpers shared by the runner, the Codex adapter and the fakes.

Owns `taskgroups` (a task group whose lone failure comes out as itself, `first_of`) and
`streams` (`put`/`take` on memory object streams without a scheduler round trip). They
are mechanisms, not vocabulary, so they live beside the ground package `contract`
rather than in it; like it, this package imports no project package (only anyio).
"""
