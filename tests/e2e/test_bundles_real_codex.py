"""An attempt with a subject repo and a tools/skill/prompt bundle, through the mirror."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes.demo import demo_job, make_demo_repos
from fakes.mirror import serve_git_mirror
from fakes.stack import local_stack
from tests.e2e.helpers import of_type, run_job

pytestmark = [pytest.mark.anyio, pytest.mark.real_codex]


async def test_bundle_skill_and_prompt_ref_reach_the_model_and_the_subject_repo_is_the_cwd(
    tmp_path: Path,
) -> None:
    # The app-server is the warm one, spawned during the claim (§2 v1.2): the skill is
    # linked into CODEX_HOME/skills after that spawn and the thread still sees it.
    mirror_root = tmp_path / "mirror"
    mirror_root.mkdir()
    make_demo_repos(mirror_root)
    steps = [
        {"kind": "function_call", "name": "exec_command", "arguments": {"cmd": "pwd"}},
        {"kind": "text", "text": "done"},
    ]
    async with (
        serve_git_mirror(mirror_root) as mirror,
        local_stack(tmp_path / "stack", steps) as stack,
    ):
        stack.mirror_url = mirror.base_url
        job = demo_job("Use the greeter.")
        done = await run_job(stack, job)
        terminal, events = done.terminal, done.events
        first_request = json.dumps(stack.model.model_requests[0].body)

    assert terminal["status"] == "succeeded"
    [started] = of_type(events, "backend.started")
    assert started["data"]["warm"] is True
    [workspace] = of_type(events, "workspace.materialized")
    [bundle] = of_type(events, "resource-bundle-materialized")
    assert workspace["data"]["path"] == "subject"
    assert bundle["data"]["skillDirs"] == [".agents/skills/greeter"]
    assert bundle["data"]["tools"] == ["tools/greet.sh"]
    assert "greeter: Greets people with tools/greet.sh." in first_request
    assert "[prompt from resource bundle demo-tools: prompts/intro.md" in first_request
    [command] = [
        e for e in of_type(events, "item.completed") if e["data"]["itemType"] == "commandExecution"
    ]
    assert command["data"]["output"].strip().endswith("/workspace/subject")
