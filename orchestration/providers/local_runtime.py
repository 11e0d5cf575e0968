"""The embedded local model server: llama.cpp (via xllamacpp) behind an OpenAI-compatible API.

`local_endpoint("local/qwen2.5-coder-1.5b")` starts the server once per process, lazily, and
returns its loopback `api_base` and the served model name; `orchestration.providers.chat` sends
`local/...` seats there through litellm like any other OpenAI-compatible endpoint.

The server runs in a child process (`python -m orchestration.providers.local_runtime`), not in this one,
because measurements showed that in-process it cannot be made safe for a language server:

- `xllamacpp.Server(...)` holds the GIL for the whole model load (4–15 s on 2 cores), which
  would freeze the event loop even from a worker thread;
- its destructor deadlocks at interpreter exit when the server is still alive;
- a crash in native code would take the editor's language server down with it.

The child's stdout carries only a one-line JSON handshake (`{"address": ...}`) on a private
descriptor; everything llama.cpp prints goes to stderr, so stdout of this process (JSON-RPC in
the language server) is never touched. The child exits when its stdin closes, which also
happens when this process dies, so no server outlives its owner.

The child demands a random per-process API key (`local_api_key`, handed over in its environment,
never on its command line) and sends no CORS headers for other origins: a web page open in the
user's browser cannot post to it, and neither can another program that does not know the key.
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread

from orchestration.privacy.gate import child_environment, register_secret
from orchestration.providers.local_model import SERVED_MODEL_NAME, ensure_model_file, stderr_progress
from orchestration.types.config import LOCAL_PREFIX
from orchestration.types.errors import ProviderError

logger = logging.getLogger(__name__)

DEFAULT_SEATS = 3
MAX_PARALLEL_SLOTS = 1
"""Slots decoding at once, unless CHORUS_LOCAL_SLOTS says otherwise.

Measured on 2 cores: one slot answering the seats in turn is twice as fast as three parallel
slots, because the seats' prompts share everything but their last line and a single slot reuses
that cached prefix (prompt processing, not generation, dominates on a CPU).
"""
SLOT_CONTEXT_TOKENS = 4096
"""Context per slot: llama.cpp gives each slot n_ctx / n_parallel tokens."""
START_TIMEOUT = 300.0
"""Seconds the child may take to load the model and start listening."""
STOP_TIMEOUT = 10.0
"""Seconds the child may take to exit once its stdin is closed, before it is killed."""
PROMPT_CACHE_MIB = 512
"""RAM llama.cpp may keep for cached prompt prefixes (the seats' prompts share all but their end)."""
LOG_VERBOSITY = 2
"""llama.cpp log threshold: 1 errors, 2 warnings, 3 info, 4 debug (env CHORUS_LOCAL_VERBOSITY)."""


@dataclass(frozen=True, slots=True)
class LocalServer:
    """A running child process serving the local model."""

    process: subprocess.Popen[bytes]
    address: str
    slots: int


_lock = threading.Lock()
_server: LocalServer | None = None
_starting: subprocess.Popen[bytes] | None = None
_seats = DEFAULT_SEATS
_atexit_registered = False

API_KEY_VARIABLE = "CHORUS_LOCAL_SERVER_KEY"
"""How the child learns its API key (an environment variable, so `ps` never shows it)."""
_api_key = secrets.token_urlsafe(32)
register_secret(_api_key, "local-server-key")


def local_api_key() -> str:
    """The key this process's local model server demands (random, made once per process)."""
    return _api_key


def _env_int(name: str, default: int) -> int:
    """An integer from the environment, or `default` when unset or not a number."""
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def configure_local_slots(seats: int) -> None:
    """Declare how many seats sit on the local model; applies at the next start.

    The server gets `min(seats, CHORUS_LOCAL_SLOTS or MAX_PARALLEL_SLOTS)` parallel slots;
    seats beyond that queue and reuse the shared prompt prefix.
    """
    global _seats
    if seats < 1:
        raise ValueError(f"the local model needs at least one seat, got {seats}")
    with _lock:
        _seats = seats


def parallel_slots(seats: int) -> int:
    """Slots the server runs for `seats` seats."""
    return max(1, min(seats, _env_int("CHORUS_LOCAL_SLOTS", MAX_PARALLEL_SLOTS)))


def default_threads() -> int:
    """CPU threads for llama.cpp: half the cores, 1 to 4 (CHORUS_LOCAL_THREADS overrides).

    Measured on 2 busy cores: 2 threads generated 0.4 tokens/s, 1 thread 3-4 tokens/s, since
    llama.cpp's threads wait for each other at every layer and one preempted thread stalls all.
    """
    return _env_int("CHORUS_LOCAL_THREADS", max(1, min(4, (os.cpu_count() or 2) // 2)))


def served_model_name(model_id: str) -> str:
    """The name the local server answers to for `model_id` ('local/<name>')."""
    name = model_id.removeprefix(LOCAL_PREFIX)
    if name != SERVED_MODEL_NAME:
        raise ProviderError(
            f"unknown local model '{model_id}': the embedded local model is "
            f"'{LOCAL_PREFIX}{SERVED_MODEL_NAME}' (for another local server, give the seat an api_base)"
        )
    return name


def _spawn(model_path: Path, slots: int) -> LocalServer:
    """Start the child server and wait for its handshake (blocking; run off the event loop)."""
    global _starting
    command = [
        sys.executable,
        "-m",
        "orchestration.providers.local_runtime",
        f"--model={model_path}",
        f"--slots={slots}",
        f"--context={slots * SLOT_CONTEXT_TOKENS}",
        f"--threads={default_threads()}",
        f"--verbosity={_env_int('CHORUS_LOCAL_VERBOSITY', LOG_VERBOSITY)}",
    ]
    package_root = str(Path(__file__).resolve().parents[2])  # The folder holding `orchestration/`.
    environment = child_environment({API_KEY_VARIABLE: _api_key})  # Its settings come as arguments.
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, environment.get("PYTHONPATH")]))
    started = time.perf_counter()
    try:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=environment)
    except OSError as error:
        raise ProviderError(f"cannot start the local model server: {error}") from None
    _starting = process
    watchdog = threading.Timer(START_TIMEOUT, process.kill)
    watchdog.start()
    try:
        assert process.stdout is not None
        handshake = process.stdout.readline()
    finally:
        watchdog.cancel()
        _starting = None
    try:
        address = str(json.loads(handshake)["address"])
    except (ValueError, KeyError, TypeError):
        process.kill()
        code = process.wait()
        raise ProviderError(
            f"the local model server did not start (exit code {code}); its log is on stderr"
        ) from None
    logger.info(
        "local model server ready at %s in %.1f s (%d slots)", address, time.perf_counter() - started, slots
    )
    return LocalServer(process=process, address=address, slots=slots)


def _ensure_started() -> LocalServer:
    """The running server, started (and the model assembled) on first use; blocking."""
    global _server, _atexit_registered
    with _lock:
        if _server is not None and _server.process.poll() is None:
            return _server
        if _server is not None:
            logger.warning(
                "the local model server exited with code %s; restarting it", _server.process.returncode
            )
            _server = None
        with stderr_progress("Assembling the local model") as progress:
            model_path = ensure_model_file(progress)
        _server = _spawn(model_path, parallel_slots(_seats))
        if not _atexit_registered:
            atexit.register(stop_local_server)
            _atexit_registered = True
        return _server


async def local_endpoint(model_id: str) -> tuple[str, str]:
    """`(api_base, served model name)` for a `local/...` model id, starting the server if needed.

    The start runs in a worker thread; concurrent first callers wait for a single start. A
    cancelled caller stops waiting at once while the start goes on for the next caller.
    """
    name = served_model_name(model_id)
    server = await anyio.to_thread.run_sync(_ensure_started, abandon_on_cancel=True)
    return f"{server.address}/v1", name


def local_server_running() -> bool:
    """Whether a local model server child is alive."""
    return local_server_pid() is not None


def local_server_pid() -> int | None:
    """The process id of the live local model server child, or None when none runs."""
    server = _server
    return server.process.pid if server is not None and server.process.poll() is None else None


def stop_local_server() -> None:
    """Stop the local server (close its stdin, then kill it if it lingers). Safe to call twice."""
    global _server
    starting = _starting
    if not _lock.acquire(timeout=1.0):
        if starting is not None:
            starting.kill()
        return
    try:
        server, _server = _server, None
    finally:
        _lock.release()
    if server is None:
        return
    process = server.process
    if process.stdin is not None:
        try:
            process.stdin.close()
        except OSError:
            pass
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def serve(argv: list[str]) -> None:
    """Child process body: load the model, hand back the address, serve until stdin closes.

    Prompt-lookup (n-gram) speculative decoding is on: reviews quote the code they were shown,
    and on 2 cores it cut a 3-seat review from 52-55 s to 41-42 s. Never returns: exits with
    `os._exit` so that xllamacpp's destructor (which can deadlock at interpreter exit) never runs.
    """
    parser = argparse.ArgumentParser(prog="python -m orchestration.providers.local_runtime")
    parser.add_argument("--model", required=True)
    for option in ("--slots", "--context", "--threads", "--verbosity"):
        parser.add_argument(option, type=int, required=True)
    settings = parser.parse_args(argv)
    api_key = os.environ.pop(API_KEY_VARIABLE, "") or secrets.token_urlsafe(32)
    handshake = os.dup(1)
    os.dup2(2, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = settings.model
        params.n_parallel = settings.slots
        params.n_ctx = settings.context
        params.cpuparams.n_threads = settings.threads
        params.cpuparams_batch.n_threads = settings.threads
        params.verbosity = settings.verbosity
        params.hostnames = ["127.0.0.1"]
        params.port = 0
        params.model_alias = {SERVED_MODEL_NAME}
        params.fit_params = False
        params.warmup = False
        params.cache_ram_mib = PROMPT_CACHE_MIB
        params.ui = False
        params.api_keys = [api_key]
        params.cors_origins = ""
        params.cors_credentials = False
        params.endpoint_slots = False
        prompt_lookup = getattr(
            xllamacpp.common_speculative_type, "COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE", None
        )
        if prompt_lookup is not None:
            params.speculative.types = [prompt_lookup]
        server = xllamacpp.Server(params)
        os.write(handshake, (json.dumps({"address": server.listening_address}) + "\n").encode())
        os.close(handshake)
        while os.read(0, 4096):
            pass
    except BaseException as error:
        sys.stderr.write(f"chorus local model server: {type(error).__name__}: {error}\n")
        sys.stderr.flush()
        os._exit(1)
    os._exit(0)


if __name__ == "__main__":
    serve(sys.argv[1:])
