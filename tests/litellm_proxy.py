"""A real LiteLLM proxy on a loopback port, in front of the fake model server, for tests.

`CHORUS_LITELLM` names the proxy's `litellm` executable (its own venv: `.ci/agents.sh` installs it).
`LiteLLMProxy.start(backend_url, folder)` writes a config whose `model_name: "*"` sends every model
to `backend_url` with a price per token (so the proxy sends `x-litellm-response-cost`), and a
success callback (`proxy_recorder.py`, written beside it) that appends what the proxy saw of each
call (its `user`, its `metadata` and its cost: what its spend logs would hold) to `calls.jsonl`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LITELLM = os.environ.get("CHORUS_LITELLM", "")
INPUT_PRICE = 0.000002
OUTPUT_PRICE = 0.000004

RECORDER = """
import json, os
from litellm.integrations.custom_logger import CustomLogger

KEYS = ("user", "chorus_task", "chorus_seat", "chorus_run", "tags")


class Recorder(CustomLogger):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        params = kwargs.get("litellm_params") or {}
        meta = params.get("metadata") or {}
        asked = meta.get("requester_metadata") or {}
        row = {
            "model": kwargs.get("model"),
            "user": kwargs.get("user"),
            "metadata": {key: meta.get(key, asked.get(key)) for key in KEYS},
            "end_user": (kwargs.get("standard_logging_object") or {}).get("end_user"),
            "cost": kwargs.get("response_cost"),
        }
        with open(os.environ["CHORUS_PROXY_CALLS"], "a") as out:
            out.write(json.dumps(row, default=str) + "\\n")


recorder = Recorder()
"""


def available() -> bool:
    """Whether a proxy executable is configured."""
    return bool(LITELLM) and Path(LITELLM).exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LiteLLMProxy:
    """One running proxy: its base URL, its folder, and the calls its callback recorded."""

    url: str
    folder: Path
    process: subprocess.Popen[bytes]

    @classmethod
    def start(cls, backend_url: str, folder: Path, *, master_key: str | None = None) -> LiteLLMProxy:
        """Start a proxy in front of `backend_url` (an OpenAI-compatible `/v1` base); wait until live."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "proxy_recorder.py").write_text(RECORDER)
        config = folder / "proxy.yaml"
        text = (
            "model_list:\n"
            '  - model_name: "*"\n'
            "    litellm_params:\n"
            '      model: "openai/*"\n'
            f'      api_base: "{backend_url}"\n'
            '      api_key: "fake-backend-key"\n'
            f"      input_cost_per_token: {INPUT_PRICE}\n"
            f"      output_cost_per_token: {OUTPUT_PRICE}\n"
            "litellm_settings:\n"
            "  callbacks: proxy_recorder.recorder\n"
        )
        if master_key is not None:
            text += f'general_settings:\n  master_key: "{master_key}"\n'
        config.write_text(text)
        port = free_port()
        log = (folder / "proxy.log").open("wb")
        env = {
            **os.environ,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "CHORUS_PROXY_CALLS": str(folder / "calls.jsonl"),
        }
        process = subprocess.Popen(
            [LITELLM, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=folder,
            env=env,
            start_new_session=True,
        )
        log.close()
        proxy = cls(f"http://127.0.0.1:{port}", folder, process)
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{proxy.url}/health/liveliness", timeout=2):
                    return proxy
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    proxy.stop()
                    said = (folder / "proxy.log").read_text()[-2000:]
                    raise RuntimeError(f"the LiteLLM proxy did not start: {said}") from None
                time.sleep(0.3)

    def calls(self) -> list[dict[str, Any]]:
        """What the proxy's callback recorded of each successful call, in order."""
        path = self.folder / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def wait_for_calls(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The recorded calls once there are `count` (the callback runs after the answer is sent)."""
        deadline = time.monotonic() + timeout
        while len(self.calls()) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.calls()

    def stop(self) -> None:
        """Kill the proxy (its whole process group) and wait for it."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
