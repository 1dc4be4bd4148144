"""The runner's liveness phase (contract §4 and §11), derived from what the backend does.

`LivenessTracker` holds the current phase, since when, the active turn and item, and the
last time the backend said anything. Each change of phase calls `on_change(phase,
previous)` once, which the attempt turns into one `liveness` event.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from contract.manager_api import ActiveItem, Liveness, LivenessPhase, utc_now

TOOL_ITEM_TYPES = frozenset({"commandExecution", "fileChange", "mcpToolCall", "dynamicToolCall"})
"""§11: item types whose `item/started` means `waiting-tool`."""


class LivenessTracker:
    """Current liveness of the attempt.

    Args:
        on_change: called as `on_change(new_phase, previous_phase)` on every transition.
    """

    def __init__(self, on_change: Callable[[LivenessPhase, LivenessPhase], None]) -> None:
        self.phase: LivenessPhase = "waiting-runner"
        self.phase_since = utc_now()
        self.turn_id: str | None = None
        self.active_item: ActiveItem | None = None
        self._backend_activity: float | None = None
        """`time.time()` of the backend's last message; formatted only for heartbeats."""
        self._on_change = on_change

    def set(self, phase: LivenessPhase) -> None:
        """Enter `phase` (no event when it is already the phase; `terminal` is final)."""
        if phase == self.phase or self.phase == "terminal":
            return
        previous, self.phase, self.phase_since = self.phase, phase, utc_now()
        self._on_change(phase, previous)

    def backend_activity(self) -> None:
        """The backend just said something (cheap: called for every message)."""
        self._backend_activity = time.time()

    @property
    def last_backend_activity_at(self) -> str | None:
        """RFC 3339 time of the backend's last message, or None."""
        if self._backend_activity is None:
            return None
        moment = datetime.fromtimestamp(self._backend_activity, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def tool_started(self, item_id: str, item_type: str) -> None:
        """§11: a tool item started (or a server request waits on an answer)."""
        self.active_item = ActiveItem(item_id=item_id, item_type=item_type)
        self.set("waiting-tool")

    def tool_finished(self, item_id: str) -> None:
        """§11: the tool item completed; the model has not produced anything since."""
        if self.active_item is not None and self.active_item.item_id == item_id:
            self.active_item = None
        if self.phase == "waiting-tool":
            self.set("idle-after-tool")

    def model_output(self) -> None:
        """§11: agent message or reasoning output, a started turn, an accepted steer."""
        if self.phase == "waiting-tool" and self.active_item is not None:
            return
        if self.phase in ("waiting-runner", "waiting-tool", "idle-after-tool"):
            self.set("waiting-model")

    def snapshot(self, last_event_seq: int) -> Liveness:
        """The `liveness` object of a heartbeat (§4)."""
        return Liveness(
            phase=self.phase,
            phase_since=self.phase_since,
            last_event_seq=last_event_seq,
            last_backend_activity_at=self.last_backend_activity_at,
            turn_id=self.turn_id,
            active_item=self.active_item,
        )
