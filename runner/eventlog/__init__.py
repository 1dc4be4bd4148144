"""The attempt's event log: every event numbered, masked, spooled, then delivered.

Owns `events` (the `EventLog`: sequence numbers, masking, size limits, the delivery
queue, contract §4) and `spool` (the on-disk JSON Lines spool of one attempt and what a
restarted runner reads back from it). May import `contract` and the runner's `safety`
room only; the manager, the turn and the attempt import it. Finishing an attempt from a
spool left behind is `runner.recovery`, which also needs the turn's verdict.
"""
