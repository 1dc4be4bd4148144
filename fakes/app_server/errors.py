"""JSON-RPC errors of the fake, with the texts Codex 0.169 sends (codex-app-server.md §11).

Every error the real server was seen to produce is `-32600` (invalid request), including
unknown methods, bad params and state errors; the message texts below are verbatim from
the wire (§2, §3, §5, §8, §11). `CLIENT_METHODS` is the list the real 0.169.0 binary
names in its "unknown variant" error, in its order (captured from the binary).
"""

from __future__ import annotations

import re

INVALID_REQUEST = -32600

CLIENT_METHODS: tuple[str, ...] = (
    "initialize",
    "server/diagnostics",
    "userVerification/status",
    "userVerification/enroll",
    "userVerification/delete",
    "userVerification/verify",
    "userVerification/cancel",
    "thread/start",
    "thread/resume",
    "thread/fork",
    "thread/sample",
    "thread/sample/cancel",
    "thread/archive",
    "thread/delete",
    "thread/unsubscribe",
    "thread/increment_elicitation",
    "thread/decrement_elicitation",
    "thread/name/set",
    "thread/prediction/request",
    "thread/goal/set",
    "thread/goal/get",
    "thread/goal/clear",
    "thread/queue/add",
    "thread/queue/list",
    "thread/queue/update",
    "thread/queue/delete",
    "thread/queue/reorder",
    "thread/queue/start",
    "thread/metadata/update",
    "thread/attachment/add",
    "thread/attachment/list",
    "thread/attachmentOwner/list",
    "thread/attachment/remove",
    "thread/section/move",
    "thread/settings/update",
    "thread/memoryMode/set",
    "thread/memory/read",
    "memory/status",
    "memory/reset",
    "rollout/compress",
    "thread/unarchive",
    "thread/compact/start",
    "thread/shellCommand",
    "thread/approveGuardianDeniedAction",
    "thread/backgroundTerminals/clean",
    "thread/backgroundTerminals/list",
    "thread/backgroundTerminals/terminate",
    "thread/revert",
    "thread/list",
    "project/list",
    "project/read",
    "project/create",
    "project/import",
    "project/update",
    "project/move",
    "project/delete",
    "threadSection/list",
    "threadSection/create",
    "threadSection/update",
    "threadSection/delete",
    "thread/search",
    "thread/searchOccurrences",
    "thread/loaded/list",
    "thread/read",
    "thread/readState/update",
    "thread/turns/list",
    "thread/items/list",
    "thread/items/read",
    "thread/guardianReview",
    "thread/inject_items",
    "thread/prepareApprovedPlan",
    "skills/list",
    "skills/extraRoots/set",
    "hooks/list",
    "marketplace/add",
    "marketplace/remove",
    "marketplace/upgrade",
    "plugin/list",
    "plugin/search",
    "plugin/installed",
    "plugin/reconcile",
    "plugin/read",
    "plugin/skill/read",
    "plugin/share/save",
    "plugin/share/updateTargets",
    "plugin/share/list",
    "plugin/share/checkout",
    "plugin/share/delete",
    "app/read",
    "app/list",
    "app/installed",
    "fs/readFile",
    "fs/writeFile",
    "fs/createDirectory",
    "fs/getMetadata",
    "fs/readDirectory",
    "fs/remove",
    "fs/copy",
    "fs/watch",
    "fs/unwatch",
    "skills/config/write",
    "plugin/install",
    "plugin/uninstall",
    "turn/start",
    "turn/settings/update",
    "turn/steer",
    "turn/interrupt",
    "thread/realtime/start",
    "thread/realtime/appendAudio",
    "thread/realtime/appendText",
    "thread/realtime/appendSpeech",
    "thread/realtime/stop",
    "thread/timeline/list",
    "thread/realtime/listVoices",
    "review/start",
    "model/list",
    "account/gatewayOAuth/read",
    "account/gatewayOAuth/login",
    "account/gatewayOAuth/cancel",
    "modelProvider/list",
    "modelProvider/config/write",
    "modelProvider/capabilities/read",
    "experimentalFeature/list",
    "permissionProfile/list",
    "experimentalFeature/enablement/set",
    "remoteControl/enable",
    "remoteControl/disable",
    "remoteControl/status/read",
    "remoteControl/pairing/start",
    "remoteControl/pairing/status",
    "remoteControl/client/list",
    "remoteControl/client/revoke",
    "collaborationMode/list",
    "mock/experimentalMethod",
    "environment/add",
    "environment/info",
    "environment/status",
    "mcpServer/oauth/login",
    "config/mcpServer/reload",
    "mcpServerStatus/list",
    "mcpServer/resource/read",
    "mcpServer/event/stream/start",
    "mcpServer/event/stream/stop",
    "mcpServer/tool/call",
    "windowsSandbox/setupStart",
    "windowsSandbox/readiness",
    "account/login/start",
    "account/bedrock/discover",
    "account/bedrock/setup",
    "account/gcp/setup",
    "account/bedrock/checkGovCloudRequirements",
    "account/login/cancel",
    "accountSession/list",
    "accountSession/switch",
    "account/logout",
    "account/securitySetup/read",
    "account/rateLimits/read",
    "account/rateLimitResetCredit/consume",
    "account/usage/read",
    "account/workspaceMessages/read",
    "account/sendAddCreditsNudgeEmail",
    "feedback/upload",
    "feedback/save",
    "command/exec",
    "command/exec/write",
    "command/exec/terminate",
    "command/exec/resize",
    "process/spawn",
    "process/writeStdin",
    "process/kill",
    "process/resizePty",
    "config/read",
    "externalAgentConfig/detect",
    "externalAgentConfig/import",
    "externalAgentConfig/import/recordHistory",
    "externalAgentConfig/import/readHistories",
    "config/value/write",
    "config/batchWrite",
    "configRequirements/read",
    "account/read",
    "getConversationSummary",
    "gitDiffToRemote",
    "getAuthStatus",
    "fuzzyFileSearch",
    "fuzzyFileSearch/sessionStart",
    "fuzzyFileSearch/sessionUpdate",
    "fuzzyFileSearch/sessionStop",
)


class RpcError(Exception):
    """An error answer to a client request.

    Attributes:
        code: the JSON-RPC code (Codex 0.169 uses -32600 throughout).
        message: the message text as the real server words it.
    """

    def __init__(self, message: str, code: int = INVALID_REQUEST) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def unknown_method(method: str) -> RpcError:
    """`Invalid request: unknown variant `foo/bar`, expected one of …` (§11; not -32601)."""
    expected = ", ".join(f"`{name}`" for name in CLIENT_METHODS)
    return RpcError(f"Invalid request: unknown variant `{method}`, expected one of {expected}")


def missing_field(name: str) -> RpcError:
    """`Invalid request: missing field `threadId`` (§11)."""
    return RpcError(f"Invalid request: missing field `{name}`")


def invalid_type(value: object, expected: str = "a string") -> RpcError:
    """`Invalid request: invalid type: integer `5`, expected a string` (§11)."""
    kinds = {bool: "boolean", int: "integer", float: "floating point", list: "sequence"}
    if isinstance(value, dict):
        return RpcError(f"Invalid request: invalid type: map, expected {expected}")
    if value is None:
        return RpcError(f"Invalid request: invalid type: null, expected {expected}")
    kind = kinds.get(type(value), "value")
    shown = str(value).lower() if isinstance(value, bool) else value
    suffix = "" if isinstance(value, list) else f" `{shown}`"
    return RpcError(f"Invalid request: invalid type: {kind}{suffix}, expected {expected}")


def unknown_variant(value: str, expected: tuple[str, ...]) -> RpcError:
    """`Invalid request: unknown variant `sometimes`, expected one of `untrusted`, …` (§3)."""
    names = ", ".join(f"`{name}`" for name in expected)
    return RpcError(f"Invalid request: unknown variant `{value}`, expected one of {names}")


_UUID_CHARS = re.compile(r"[0-9a-fA-F-]")
_GROUP_LENGTHS = (8, 4, 4, 4, 12)


def uuid_problem(text: str) -> str | None:
    """Why `text` is not a UUID, in the words of the Rust `uuid` crate, or None if it is.

    As Codex 0.169 reports it after `invalid session id: ` / `invalid thread id: ` (§8):
    `invalid character: expected an optional prefix of `urn:uuid:` followed by
    [0-9a-fA-F-], found `n` at 1` and `invalid length: expected length 32 for simple
    format, found 0`.
    """
    body = text[len("urn:uuid:") :] if text.startswith("urn:uuid:") else text
    offset = len(text) - len(body)
    for index, char in enumerate(body):
        if not _UUID_CHARS.fullmatch(char):
            return (
                "invalid character: expected an optional prefix of `urn:uuid:` followed by "
                f"[0-9a-fA-F-], found `{char}` at {index + offset + 1}"
            )
    if "-" not in body:
        if len(body) != 32:
            return f"invalid length: expected length 32 for simple format, found {len(body)}"
        return None
    groups = body.split("-")
    if len(groups) != 5:
        return f"invalid group count: expected 5, found {len(groups)}"
    for number, (group, length) in enumerate(zip(groups, _GROUP_LENGTHS, strict=True), 1):
        if len(group) != length:
            return f"invalid group length in group {number}: expected {length}, found {len(group)}"
    return None
