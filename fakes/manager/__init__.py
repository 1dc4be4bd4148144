"""A faithful fake of the AgentRun manager's runner API (`manager-runner-api.md` §2-§8, §12).

Strict on purpose: it refuses what the contract does not allow, so it catches the
runner's contract mistakes. Start one with `serve_fake_manager(token=...)`, register
jobs with `mgr.add_job(example_job())`, read what the runner reported with
`mgr.events/heartbeats/deliveries/terminal/artifacts`, and inject faults with `mgr.knobs` and
the state knobs (`expire_lease`, `revoke_lease`, `cancel_attempt`, `cancel_job`).
"""

from fakes.manager.artifacts import DEFAULT_MAX_ARTIFACT_BYTES, StoredArtifact
from fakes.manager.clock import Clock, format_time, parse_time
from fakes.manager.errors import ApiError, error_body
from fakes.manager.jobs import JobSpec, example_job, new_id, next_attempt
from fakes.manager.knobs import FaultRule, Knobs, LatencyRule
from fakes.manager.manager import FakeManager
from fakes.manager.recording import (
    RecordedDelivery,
    RecordedHeartbeat,
    RecordedRequest,
    StoredEvent,
    Subscription,
)
from fakes.manager.server import serve_fake_manager

__all__ = [
    "DEFAULT_MAX_ARTIFACT_BYTES",
    "ApiError",
    "Clock",
    "FakeManager",
    "FaultRule",
    "JobSpec",
    "Knobs",
    "LatencyRule",
    "RecordedDelivery",
    "RecordedHeartbeat",
    "RecordedRequest",
    "StoredArtifact",
    "StoredEvent",
    "Subscription",
    "error_body",
    "example_job",
    "format_time",
    "new_id",
    "next_attempt",
    "parse_time",
    "serve_fake_manager",
]
