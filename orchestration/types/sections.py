"""The tables of `chorus.toml`: a seat (`[models.NAME]`), the panels, the policy and failover.

Imports only pydantic: `orchestration.types.config` builds `ChorusConfig` from these and re-exports
them, so modules anywhere in the core may import them without a cycle.
"""

from __future__ import annotations

from typing import Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Task = Literal["review", "implement", "explain"]
AgentName = Literal["claude", "codex", "gemini", "copilot", "grok", "custom"]
"""The coding-agent CLIs a seat may be (`orchestration.providers.agents.profiles`), or any command."""
AGENT_PREFIX: Final = "agent/"
"""Model ids of agent seats: `agent/claude`, or `agent/claude/<the model the CLI should use>`."""

LOCAL_PREFIX: Final = "local/"
"""Model ids served by the embedded local runtime (`local/qwen2.5-coder-1.5b`); such seats are local."""
FALLBACK_INPUT_TOKENS: Final = 32_768
"""A seat's prompt budget when neither its config nor litellm's model map gives one."""

DEFAULT_EXCLUDE = [".env", ".env.*", "*.pem", "*.key", "**/secrets/**", "id_rsa*", "*.p12"]
"""Globs never sent to any model, whatever `policy.exclude` says: that setting adds to these."""


class ModelConfig(BaseModel):
    """One panel seat: a model reachable through litellm, or a coding-agent CLI (`agent`)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        description=(
            f"Any litellm model id, e.g. 'anthropic/claude-sonnet-4-5' or '{LOCAL_PREFIX}qwen'. "
            f"For an agent seat: optional, the model the CLI should use (the seat's id becomes "
            f"'{AGENT_PREFIX}<agent>/<model>'; unset: '{AGENT_PREFIX}<agent>', the CLI's own choice)."
        ),
    )
    agent: AgentName | None = Field(
        default=None,
        description=(
            "Run a coding-agent CLI as this seat (claude, codex, gemini, copilot, grok), or any "
            "`command` with agent = 'custom'. It reads a throwaway copy of the workspace in its "
            "read-only mode; only in trusted workspaces."
        ),
    )
    command: list[str] | None = Field(
        default=None,
        description=(
            "The agent's command line: required for agent = 'custom'; for a built-in agent, the "
            "executable (and leading arguments) to use instead of its usual name."
        ),
    )
    prompt: Literal["stdin", "arg"] = Field(
        default="stdin",
        description="How a custom agent gets the prompt: on stdin, or as its last argument.",
    )
    output: Literal["json", "text"] = Field(
        default="text",
        description="What a custom agent prints: JSON (or JSON lines) with its answer, or plain text.",
    )
    api_key_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding the API key. Keys never live in config files.",
    )
    api_base: str | list[str] | None = Field(
        default=None,
        description=(
            "Base URL of an OpenAI-compatible or provider endpoint (Ollama, vLLM, proxy); a list of "
            "several endpoints serving the same model is balanced by least calls in flight."
        ),
    )
    timeout: float = Field(default=60.0, gt=0, description="Seconds this seat may take for one request.")
    temperature: float = Field(default=0.2, ge=0, le=2, description="Sampling temperature.")
    max_tokens: int = Field(default=2048, gt=0, description="Upper bound on the answer's length in tokens.")
    weight: float = Field(
        default=1.0, gt=0, description="How much this seat's vote counts in severity and ranking."
    )
    retries: int = Field(
        default=0, ge=0, le=5, description="Retries on transient errors, within the timeout."
    )
    instructions: str | None = Field(
        default=None, description="Extra reviewer instructions for this seat (e.g. 'focus on security')."
    )
    max_input_tokens: int | None = Field(
        default=None,
        gt=0,
        description=(
            "Prompt tokens this seat accepts (unset: litellm's figure for the model, "
            f"else {FALLBACK_INPUT_TOKENS})."
        ),
    )

    reasoning_effort: Literal["low", "medium", "high"] | None = Field(
        default=None,
        description=(
            "Reasoning effort passed through litellm (models that support it); under automatic "
            "routing each level of a model is a candidate with its own trust, latency and cost."
        ),
    )
    efforts: list[Literal["low", "medium", "high"]] = Field(
        default_factory=list,
        description=(
            "Under automatic routing, the reasoning efforts to try this model at, each a candidate "
            "of its own (empty: only `reasoning_effort`)."
        ),
    )
    fallbacks: list[str] = Field(
        default_factory=list,
        description="Seats asked instead, in order, while this one is benched by the circuit breaker.",
    )
    input_cost_per_mtok: float | None = Field(
        default=None,
        ge=0,
        description="USD per million prompt tokens (unset: litellm's cost map, or a proxy's reported cost).",
    )
    output_cost_per_mtok: float | None = Field(
        default=None,
        ge=0,
        description="USD per million answer tokens (unset: litellm's cost map, or a proxy's reported cost).",
    )

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The seat's endpoints (none: the provider's default)."""
        if self.api_base is None:
            return ()
        return (self.api_base,) if isinstance(self.api_base, str) else tuple(self.api_base)

    @property
    def label(self) -> str:
        """The model as runs record it and trust is learnt for: its id, `@effort` when one is set."""
        return f"{self.model}@{self.reasoning_effort}" if self.reasoning_effort else self.model

    @field_validator("model")
    @classmethod
    def _model_is_named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a model, e.g. 'anthropic/claude-sonnet-4-5'")
        return value

    @property
    def agent_model(self) -> str | None:
        """The model an agent seat's CLI is told to use (None: the CLI's own default, or not an agent)."""
        if self.agent is None:
            return None
        rest = self.model.removeprefix(f"{AGENT_PREFIX}{self.agent}").removeprefix("/")
        return rest or None

    @model_validator(mode="before")
    @classmethod
    def _agent_names_its_model(cls, data: Any) -> Any:
        """An agent seat without `model` is `agent/<agent>` (others still get "Field required")."""
        if isinstance(data, dict) and isinstance(data.get("agent"), str) and "model" not in data:
            return {**data, "model": f"{AGENT_PREFIX}{data['agent']}"}
        return data

    @model_validator(mode="after")
    def _model_or_agent(self) -> ModelConfig:
        if self.agent is None:
            if self.model.startswith(AGENT_PREFIX):
                raise ValueError(
                    f"model {self.model!r} names an agent seat: set agent = 'claude' (or another)"
                )
            if self.command is not None:
                raise ValueError("command is for agent seats: set agent = 'custom' (or a built-in agent)")
            return self
        if self.agent == "custom" and not self.command:
            raise ValueError("agent = 'custom' needs command, e.g. ['my-agent', '--json']")
        if self.command is not None and (not self.command or not all(p.strip() for p in self.command)):
            raise ValueError("command must be a non-empty list of non-empty strings")
        own = f"{AGENT_PREFIX}{self.agent}"
        model = self.model.strip()
        if not model:
            self.model = own
        elif model.startswith(AGENT_PREFIX):
            if model != own and not model.startswith(f"{own}/"):
                raise ValueError(f"model {model!r} does not match agent {self.agent!r} (use '{own}/<model>')")
        else:
            self.model = f"{own}/{model}"
        return self

    @field_validator("api_base")
    @classmethod
    def _api_base_is_a_url(cls, value: str | list[str] | None) -> str | list[str] | None:
        if value is None:
            return None
        urls = [value] if isinstance(value, str) else value
        if not urls:
            raise ValueError("must name at least one endpoint, e.g. 'http://127.0.0.1:8000/v1'")
        for url in urls:
            try:
                parts = urlsplit(url.strip())
                _ = parts.port
            except ValueError:
                parts = None
            if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{url!r} is not an http(s) URL such as 'http://127.0.0.1:8000/v1'")
        return value


AUTO: Final = "auto"
"""A task's panel chosen per request by `orchestration.learning.routing` (`panels.review = "auto"`)."""

PanelChoice = list[str] | Literal["auto"]


class AutoPanelConfig(BaseModel):
    """`[panels.auto]`: how many seats an automatic panel asks, and from which."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    size: int = Field(default=3, ge=1, description="Seats an automatic panel asks per request.")
    from_: list[str] = Field(
        default_factory=list,
        alias="from",
        description="The seats automatic routing chooses from (empty: every configured model).",
    )
    cost_weight: float = Field(
        default=0.25,
        ge=0,
        le=4,
        description=(
            "How much price ranks candidates: value × (cheapest / this) ** cost_weight "
            "(0 ignores price; 0.25: sixteen times the price needs twice the quality)."
        ),
    )


class PanelsConfig(BaseModel):
    """Which seats answer each task, and the optional arbiter."""

    model_config = ConfigDict(extra="forbid")

    review: PanelChoice = Field(
        default_factory=list, description='Seats that review code, or "auto" (chosen per request).'
    )
    implement: PanelChoice = Field(
        default_factory=list, description='Seats that implement stubs, or "auto" (chosen per request).'
    )
    explain: PanelChoice = Field(
        default_factory=list, description='Seats that explain diagnostics, or "auto" (chosen per request).'
    )
    arbiter: str | None = Field(default=None, description="Seat that synthesizes the merged answer.")
    auto: AutoPanelConfig = Field(
        default_factory=AutoPanelConfig, description="Size and pool of the automatic panels."
    )


class PolicyConfig(BaseModel):
    """Deadlines, consensus thresholds and privacy rules."""

    model_config = ConfigDict(extra="forbid")

    deadline: float = Field(
        default=90.0, gt=0, description="Seconds for a whole request, all seats together."
    )
    min_agreement: int = Field(
        default=2,
        ge=1,
        description="With 3+ seats, findings with fewer votes are kept at Information severity.",
    )
    voting: Literal["count", "weighted", "auto"] = Field(
        default="auto",
        description="How votes count: 'count' one per seat; 'weighted' by each model's learnt trust "
        "(min_agreement then applies to their sum); 'auto' weighted once a seat's model has "
        "learning.min_events_for_weighted events.",
    )
    quorum: int | None = Field(
        default=None, ge=1, description="Answers needed before stragglers get only `grace` more seconds."
    )
    grace: float = Field(
        default=0.3, ge=0, description="Seconds to wait for stragglers once the quorum answered."
    )
    exclude: list[str] = Field(
        default_factory=list,
        description=(
            "Globs of files never sent to any model, in addition to the built-in ones "
            "(.env, .env.*, *.pem, *.key, **/secrets/**, id_rsa*, *.p12), which always apply."
        ),
    )
    local_only: list[str] = Field(
        default_factory=list, description=f"Globs of files sent only to local models (`{LOCAL_PREFIX}...`)."
    )
    validate_command: str | None = Field(
        default=None,
        description="Command run on a temporary copy with a candidate applied, e.g. 'pytest -q'.",
    )
    validate_timeout: float = Field(default=60.0, gt=0, description="Seconds the validate_command may run.")
    max_file_bytes: int = Field(
        default=1_000_000, gt=0, description="Files larger than this are refused before anything is sent."
    )
    max_parallel_calls: int = Field(
        default=64, ge=1, description="Model calls in flight at once, per process."
    )


class FailoverConfig(BaseModel):
    """`[failover]`: when a seat that keeps failing is benched (a circuit breaker per seat and endpoint)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Bench seats that keep failing; false = always ask.")
    window: int = Field(
        default=10, ge=1, le=256, description="The recent calls a seat's error rate is taken over."
    )
    min_calls: int = Field(default=4, ge=1, description="Calls in the window before a seat may be benched.")
    error_rate: float = Field(
        default=0.5, gt=0, le=1, description="Share of errors and timeouts in the window that benches a seat."
    )
    cooldown: float = Field(
        default=30.0, gt=0, description="Seconds a benched seat rests before one probe call may try it again."
    )
