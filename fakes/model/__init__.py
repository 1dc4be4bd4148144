"""A scripted OpenAI Responses API on loopback that drives the real Codex deterministically.

Typical use in a test:

    script = load_script(SCRIPTS_DIR / "exec-then-answer.json")
    async with serve_scripted_model(script) as model:
        write_codex_config(codex_home, model.base_url)
        ...run codex with CODEX_HOME=codex_home...
        first = await model.wait_for_request(1)

Modules: `script` (the JSON step format), `sse` (Responses events), `app` (recording and
answering), `server` (uvicorn on a pre-bound socket), `codex_config` (CODEX_HOME files),
`__main__` (`python -m fakes.model --script FILE --port N`).
"""

from pathlib import Path

from fakes.model.app import EXHAUSTED_ERROR_CODE, RecordedRequest, ScriptedModel
from fakes.model.codex_config import DEFAULT_MODEL, DEFAULT_PROVIDER_ID, write_codex_config
from fakes.model.script import Script, ScriptError, Step, load_script, parse_script
from fakes.model.server import serve_scripted_model

SCRIPTS_DIR = Path(__file__).parent / "scripts"
"""The example scripts shipped with the package (`plain-answer.json`, ...)."""

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_PROVIDER_ID",
    "EXHAUSTED_ERROR_CODE",
    "SCRIPTS_DIR",
    "RecordedRequest",
    "Script",
    "ScriptError",
    "ScriptedModel",
    "Step",
    "load_script",
    "parse_script",
    "serve_scripted_model",
    "write_codex_config",
]
