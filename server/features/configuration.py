"""Configuration handlers: `initialize`, `initialized` and `workspace/didChangeConfiguration`.

`initialize` reads the workspace root and `initializationOptions`; `initialized` pulls the
client's `chorus` section (`workspace/configuration`) and `workspace/didChangeConfiguration`
takes pushed settings or pulls again; each then rebuilds the configuration in force
(`server.settings`, which also says how the layers combine and what an invalid one does) and
follows its `[store]` (`server.memory`): `initialize` never fails because of a config.

Once initialized, the server imports the model client library (litellm, ~4 s) in a
worker thread, so the user's first request does not wait for it; `CHORUS_PRELOAD=0`
in the server's environment turns that off.
"""

from __future__ import annotations

import gc
import logging
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from lsprotocol import types
from pygls.uris import to_fs_path

from orchestration.providers.chat import ensure_litellm
from server.messages import CONFIG_SECTION
from server.settings import settings_from, trust_from

if TYPE_CHECKING:
    from server.language_server import ChorusLanguageServer

logger = logging.getLogger(__name__)

PRELOAD_ENV = "CHORUS_PRELOAD"
"""Environment variable: "0", "false", "no" or "off" keeps the model client library unloaded until needed."""


def preload_wanted(environ: Mapping[str, str]) -> bool:
    """Whether to import the model client library right after start-up (the default)."""
    return environ.get(PRELOAD_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


def workspace_root(params: types.InitializeParams) -> Path | None:
    """The workspace folder from rootUri, the first workspace folder, or rootPath."""
    uri = params.root_uri or (params.workspace_folders[0].uri if params.workspace_folders else None)
    if uri:
        path = to_fs_path(uri)
        return Path(path) if path else None
    return Path(params.root_path) if params.root_path else None


def reload(ls: ChorusLanguageServer) -> None:
    """Rebuild the configuration in force, then open the memory its `[store]` names (if not open yet)."""
    ls.settings.reload(ls)
    ls.memory.follow(ls, ls.settings.config)


async def initialize(ls: ChorusLanguageServer, params: types.InitializeParams) -> None:
    """Read the workspace root and `initializationOptions`, then load the configuration."""
    ls.attach_client_logging()
    ls.settings.workspace = workspace_root(params)
    ls.settings.workspace_trusted = trust_from(params.initialization_options)
    ls.settings.init_options = settings_from(params.initialization_options)
    reload(ls)


async def initialized(ls: ChorusLanguageServer, params: types.InitializedParams) -> None:
    """Ask for change notifications, then pull the client's `chorus` settings."""
    if ls.supports("workspace.did_change_configuration.dynamic_registration"):
        registration = types.Registration(
            id=str(uuid.uuid4()), method=types.WORKSPACE_DID_CHANGE_CONFIGURATION
        )
        try:
            with anyio.fail_after(5):
                await ls.client_register_capability_async(
                    types.RegistrationParams(registrations=[registration])
                )
        except Exception as error:
            logger.info("client did not register didChangeConfiguration: %s", error)
    if await pull_client_settings(ls):
        reload(ls)
    if preload_wanted(os.environ):
        ls.run_in_background(load_model_library(), "loading the model client library")


async def load_model_library() -> None:
    """Load litellm in the background, then take what the server has built so far out of the collector's way.

    After litellm and pygls are loaded the process holds ~320,000 long-lived objects, and every full
    garbage collection would traverse them all: 0.16 s on 2 cores, with the whole server paused.
    `gc.freeze()` moves the objects that exist now to the permanent generation, once, at startup;
    later collections look only at objects made since (a full collection then takes under 1 ms).
    """
    await ensure_litellm()
    gc.freeze()


async def pull_client_settings(ls: ChorusLanguageServer) -> bool:
    """Fetch the `chorus` section with `workspace/configuration`; False if the client cannot."""
    if not ls.supports("workspace.configuration"):
        return False
    request = types.ConfigurationParams(items=[types.ConfigurationItem(section=CONFIG_SECTION)])
    try:
        with anyio.fail_after(5):
            answer = await ls.workspace_configuration_async(request)
    except Exception as error:
        logger.warning("workspace/configuration failed: %s", error)
        return False
    ls.settings.client_settings = settings_from(answer[0] if answer else None)
    return True


async def workspace_did_change_configuration(
    ls: ChorusLanguageServer, params: types.DidChangeConfigurationParams
) -> None:
    """Re-read everything: pushed settings when the client sends them, pulled ones otherwise."""
    pushed = params.settings if isinstance(params.settings, Mapping) else None
    if pushed is not None and isinstance(pushed.get(CONFIG_SECTION), Mapping):
        ls.settings.client_settings = settings_from(pushed)
    else:
        await pull_client_settings(ls)
    reload(ls)


def register(server: ChorusLanguageServer) -> None:
    """Register the configuration handlers."""
    server.feature(types.INITIALIZE)(initialize)
    server.feature(types.INITIALIZED)(initialized)
    server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(workspace_did_change_configuration)
