"""The coding-agent CLIs Chorus can seat, as data: one `AgentProfile` per CLI.

Each profile says how to run its CLI headless with machine-readable output in its read-only mode,
how to resume a session, how to point it at the seat's endpoint and key, and where its output
carries the answer, the session id and the usage. The runner (`orchestration.providers.agents.
runner`) and the parser (`orchestration.providers.agents.output`) read only these fields: adding
a CLI, or following a flag that changed, is an edit of `PROFILES`, not of code.

Argument templates may hold `{model}`, `{session}`, `{api_base}` and `{prompt}`; an item that is
exactly `{resume}`, `{model_args}`, `{endpoint_args}` or `{prompt_args}` expands to that group (or
to nothing). Checked against each CLI's own `--help` (claude 2.1.197, codex 0.171.0, gemini 0.61.0,
copilot 1.0.102, grok-cli 0.0.34 (whose `--version` says 1.0.1) from npm):

- claude: `-p` reads the prompt on stdin, `--output-format json` prints one result object with
  `result`, `session_id`, `total_cost_usd`, `usage`; `--permission-mode plan` plus disallowed edit
  and shell tools keeps it read-only; `--resume ID`.
- codex: `codex exec --json` prints JSON lines (`thread.started` has `thread_id`, `item.completed`
  an `agent_message`, `turn.completed` the `usage`); `-c sandbox_mode="read-only"`; resuming is a
  subcommand, `codex exec resume ID`; a local endpoint is a `model_providers` table given with `-c`.
- gemini: `-p PROMPT -o json` prints `response`, `session_id` and `stats`; `--approval-mode plan`
  is its read-only mode; `--skip-trust`; `--resume ID`.
- copilot: `-p PROMPT --output-format json` prints JSON lines; `--allow-all-tools` is required,
  `--deny-tool=write` and `--deny-tool=shell` take editing and shell away; `--resume=ID`.
- grok: `-p PROMPT` prints JSON lines of messages; it has no read-only mode and no resume, so it
  relies on the throwaway copy alone. Its endpoint and model go in `GROK_BASE_URL` / `GROK_MODEL`:
  `-u` and `-m` would also be saved to the user's `~/.grok/user-settings.json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

OutputFormat = Literal["json", "jsonl", "text"]
PromptMode = Literal["stdin", "arg"]


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """How to run one coding-agent CLI as a read-only, headless panel seat."""

    name: str
    executable: str
    """The command on PATH (`claude`)."""
    package: str | None
    """The npm package that installs it, for the "not on PATH" message."""
    argv: tuple[str, ...]
    """Arguments after the executable: headless, machine output, read-only (templates, see module)."""
    prompt: PromptMode = "stdin"
    prompt_args: tuple[str, ...] = ()
    """With prompt = "arg": how the prompt is passed (`("-p", "{prompt}")`)."""
    output: OutputFormat = "json"
    resume: tuple[str, ...] = ()
    """Arguments that resume session `{session}` (empty: the CLI cannot resume one)."""
    model_args: tuple[str, ...] = ()
    """Arguments naming the model, when the seat names one (`("--model", "{model}")`)."""
    endpoint_args: tuple[str, ...] = ()
    """Arguments pointing the CLI at the seat's `api_base` (`{api_base}`), when it has one."""
    endpoint_env: tuple[str, ...] = ()
    """Variables set to the seat's `api_base`, when it has one."""
    key_env: tuple[str, ...] = ()
    """Variables set to the seat's key (read from its `api_key_env`)."""
    fixed_env: tuple[tuple[str, str], ...] = ()
    """Variables always set (`COPILOT_OFFLINE=true` with an endpoint is in `endpoint_fixed_env`)."""
    endpoint_fixed_env: tuple[tuple[str, str], ...] = ()
    """Variables set only when the seat has an `api_base`."""
    model_env: tuple[str, ...] = ()
    """Variables set to the seat's model, when it names one."""
    text_keys: tuple[str, ...] = ("result", "response", "text", "content", "message")
    """Keys of the answer's text in the JSON output, tried in order (dotted paths allowed)."""
    session_keys: tuple[str, ...] = ("session_id", "sessionId", "thread_id", "threadId")
    version_args: tuple[str, ...] = ("--version",)
    auth_args: tuple[str, ...] = ()
    """A command that tells whether the CLI is signed in (exit 0: yes), when it has one."""
    reads_files: bool = True
    """Whether the agent looks at the workspace copy (a custom command may not)."""
    notes: tuple[str, ...] = field(default=())


KEY_ENV: Final = "CHORUS_AGENT_KEY"
"""The variable codex reads a local endpoint's key from (named in the provider table it is given)."""

PROFILES: Final[dict[str, AgentProfile]] = {
    "claude": AgentProfile(
        name="claude",
        executable="claude",
        package="@anthropic-ai/claude-code",
        argv=(
            "-p",
            "--output-format",
            "json",
            "--permission-mode",
            "plan",
            "--disallowed-tools",
            "Bash,Edit,Write,NotebookEdit,WebFetch,WebSearch",
            "{model_args}",
            "{resume}",
        ),
        resume=("--resume", "{session}"),
        model_args=("--model", "{model}"),
        endpoint_env=("ANTHROPIC_BASE_URL",),
        key_env=("ANTHROPIC_API_KEY",),
        fixed_env=(("DISABLE_AUTOUPDATER", "1"), ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")),
        text_keys=("result",),
        auth_args=("auth", "status"),
    ),
    "codex": AgentProfile(
        name="codex",
        executable="codex",
        package="@openai/codex",
        argv=(
            "exec",
            "{resume}",
            "--json",
            "--skip-git-repo-check",
            "-c",
            'sandbox_mode="read-only"',
            "-c",
            'approval_policy="never"',
            "{model_args}",
            "{endpoint_args}",
            "-",
        ),
        resume=("resume", "{session}"),
        model_args=("-m", "{model}"),
        endpoint_args=(
            "-c",
            'model_provider="chorus"',
            "-c",
            'model_providers.chorus={name="chorus",base_url="{api_base}",'
            f'env_key="{KEY_ENV}",wire_api="responses"}}',
        ),
        key_env=("OPENAI_API_KEY", "CODEX_API_KEY", KEY_ENV),
        output="jsonl",
        text_keys=("item.text", "text", "message"),
        auth_args=("login", "status"),
    ),
    "gemini": AgentProfile(
        name="gemini",
        executable="gemini",
        package="@google/gemini-cli",
        argv=(
            "-o",
            "json",
            "--approval-mode",
            "plan",
            "--skip-trust",
            "{model_args}",
            "{resume}",
            "{prompt_args}",
        ),
        prompt="arg",
        prompt_args=("-p", "{prompt}"),
        resume=("--resume", "{session}"),
        model_args=("-m", "{model}"),
        endpoint_env=("GOOGLE_GEMINI_BASE_URL",),
        key_env=("GEMINI_API_KEY",),
        text_keys=("response",),
    ),
    "copilot": AgentProfile(
        name="copilot",
        executable="copilot",
        package="@github/copilot",
        argv=(
            "--output-format",
            "json",
            "--allow-all-tools",
            "--deny-tool=write",
            "--deny-tool=shell",
            "--no-ask-user",
            "--no-auto-update",
            "--disable-client-telemetry",
            "{model_args}",
            "{resume}",
            "{prompt_args}",
        ),
        prompt="arg",
        prompt_args=("-p", "{prompt}"),
        output="jsonl",
        resume=("--resume={session}",),
        model_args=("--model", "{model}"),
        endpoint_env=("COPILOT_PROVIDER_BASE_URL",),
        key_env=("COPILOT_PROVIDER_API_KEY",),
        endpoint_fixed_env=(("COPILOT_OFFLINE", "true"),),
        model_env=("COPILOT_MODEL",),
        text_keys=("data.content", "content", "message", "text"),
    ),
    "grok": AgentProfile(
        name="grok",
        executable="grok",
        package="@vibe-kit/grok-cli",
        argv=("{prompt_args}",),
        prompt="arg",
        prompt_args=("-p", "{prompt}"),
        output="jsonl",
        endpoint_env=("GROK_BASE_URL",),
        model_env=("GROK_MODEL",),
        key_env=("GROK_API_KEY",),
        text_keys=("content", "text", "message"),
        notes=("no read-only mode and no resume: it relies on the throwaway copy alone",),
    ),
}
"""The built-in agents by the name a seat's `agent` key gives."""


def custom_profile(command: list[str], prompt: PromptMode, output: Literal["json", "text"]) -> AgentProfile:
    """The profile of `agent = "custom"`: the seat's own command, prompt and output settings."""
    return AgentProfile(
        name="custom",
        executable=command[0],
        package=None,
        argv=(*command[1:], "{prompt_args}"),
        prompt=prompt,
        prompt_args=("{prompt}",),
        output="jsonl" if output == "json" else "text",
    )
