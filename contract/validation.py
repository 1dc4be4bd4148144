"""Validate what the manager hands the runner before acting on it (contract v1.1 §2, §5).

`validate_job` checks the whole claimed job — every field the runner will use, every
input item against its type's required fields — before any side effect: a bad job is
`job-spec-invalid` with the field named, and no backend is spawned. `validate_command`
does the same for one §5 command: a refused command raises `InvalidCommand` naming the
field, and the attempt goes on. Both accept *any* JSON value and raise nothing else.
Messages name fields and pydantic's reason, never an input value (values may hold
credentials).
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from contract.failures import JobSpecError
from contract.manager_api import Command, Job

_COMMAND = TypeAdapter[Command](Command)


class InvalidCommand(ValueError):
    """A §5 command the runner cannot use (not an object, unknown `type`, bad fields).

    Attributes:
        command_id: its `commandId` when it has a usable one (then its delivery goes to
            `rejected` / `invalid-command`, §6), else None.
        field: the offending field's path, e.g. `input[0].text`.
        message: one sentence naming the field and what is wrong with it.
    """

    def __init__(self, command_id: str | None, field: str, message: str) -> None:
        super().__init__(message)
        self.command_id = command_id
        self.field = field
        self.message = message


def field_path(loc: tuple[int | str, ...], raw: Any) -> str:
    """`command.input[0].text` for pydantic's `loc`, dropping discriminator tags.

    Pydantic puts the chosen tag of a discriminated union (`'text'`) into `loc`; such a
    step is recognized because `raw` has no such key there but has that `type`.
    """
    parts: list[str] = []
    node = raw
    tag_skipped = False
    for step in loc:
        if isinstance(step, int):
            parts.append(f"[{step}]")
            node = node[step] if isinstance(node, list) and -len(node) <= step < len(node) else None
            tag_skipped = False
            continue
        if not tag_skipped and isinstance(node, dict) and node.get("type") == step:
            tag_skipped = True  # the discriminator's tag, not a field
            continue
        parts.append(f".{step}" if parts else step)
        node = node.get(step) if isinstance(node, dict) else None
        tag_skipped = False
    return "".join(parts) or "(root)"


def _first_error(exc: ValidationError, raw: Any) -> tuple[str, str]:
    error = exc.errors(include_input=False, include_url=False)[0]
    loc = tuple(error["loc"])
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc = (*loc, "type")  # the discriminator itself is what is wrong
    return field_path(loc, raw), str(error["msg"])


def validate_job(raw: Any) -> Job:
    """The claimed job (§2 `job`) as a `Job`, or the first thing wrong with it.

    Raises:
        JobSpecError: `job-spec-invalid`; the message is `job.<field>: <reason>` and
            `detail.field` the field's path.
    """
    if not isinstance(raw, dict):
        raise JobSpecError("job: not a JSON object", detail={"field": "job"})
    try:
        return Job.model_validate(raw)
    except ValidationError as exc:
        where, why = _first_error(exc, raw)
        raise JobSpecError(f"job.{where}: {why}", detail={"field": where}) from None


def validate_command(raw: Any) -> Command:
    """One §5 command as a `SteerCommand` or `CancelCommand`.

    Raises:
        InvalidCommand: the command cannot be used; `command_id` is set when it has a
            non-empty string `commandId`.
    """
    if not isinstance(raw, dict):
        raise InvalidCommand(None, "(root)", "a command must be a JSON object")
    command_id = raw.get("commandId")
    usable_id = command_id if isinstance(command_id, str) and command_id else None
    try:
        return _COMMAND.validate_python(raw)
    except ValidationError as exc:
        where, why = _first_error(exc, raw)
        raise InvalidCommand(usable_id, where, f"command.{where}: {why}") from None
