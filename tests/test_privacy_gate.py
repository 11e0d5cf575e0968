"""The privacy gate from the outside (issue 12, items 3 and 4): what the fake model servers received.

Symlinks cannot carry excluded files past `exclude`; the built-in excludes stay when `exclude` is
set; hosts are parsed, not prefix-matched; a local-only file never reaches a remote arbiter; and
diagnostic messages sent to `explain` are redacted like the code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration.pipelines.explain import explain_diagnostics
from orchestration.pipelines.review import review_selection
from orchestration.privacy.gate import check_not_excluded, is_local_model, is_loopback_url
from orchestration.types.config import ModelConfig, PolicyConfig
from orchestration.types.errors import ExcludedFileError
from orchestration.types.requests import DiagnosticInput, ExplainRequest, ReviewRequest, SourceDocument
from tests.cli_runner import run_chorus, write_seats_config
from tests.fake_models import FakeModelServer, make_config, seat_config

AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"


# -- symlinks and default excludes ------------------------------------------------------------------


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "ws").mkdir()
    return tmp_path / "ws"


def test_a_link_to_a_key_outside_the_workspace_is_excluded(workspace: Path, tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    key = tmp_path / "home" / "id_rsa"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (workspace / "notes.txt").symlink_to(key)
    with pytest.raises(ExcludedFileError, match=r"^notes\.txt matches policy\.exclude pattern 'id_rsa\*'"):
        check_not_excluded(str(workspace / "notes.txt"), PolicyConfig(), workspace)


def test_a_link_to_an_excluded_file_inside_the_workspace_is_excluded(workspace: Path) -> None:
    (workspace / ".env").write_text("TOKEN=abc\n")
    (workspace / "config.txt").symlink_to(workspace / ".env")
    with pytest.raises(ExcludedFileError):
        check_not_excluded((workspace / "config.txt").as_uri(), PolicyConfig(), workspace)


def test_an_excluded_link_name_is_excluded_whatever_it_points_to(workspace: Path) -> None:
    (workspace / "plain.txt").write_text("x\n")
    (workspace / "server.pem").symlink_to(workspace / "plain.txt")
    with pytest.raises(ExcludedFileError, match=r"'\*\.pem'"):
        check_not_excluded(str(workspace / "server.pem"), PolicyConfig(), workspace)


def test_a_linked_folder_into_a_secrets_folder_is_excluded(workspace: Path, tmp_path: Path) -> None:
    (tmp_path / "vault" / "secrets").mkdir(parents=True)
    (tmp_path / "vault" / "secrets" / "db.py").write_text("x = 1\n")
    (workspace / "lib").symlink_to(tmp_path / "vault" / "secrets")
    with pytest.raises(ExcludedFileError, match="secrets"):
        check_not_excluded(str(workspace / "lib" / "db.py"), PolicyConfig(), workspace)


def test_ordinary_files_and_links_stay_allowed(workspace: Path) -> None:
    (workspace / "app.py").write_text("x = 1\n")
    (workspace / "alias.py").symlink_to(workspace / "app.py")
    check_not_excluded(str(workspace / "app.py"), PolicyConfig(), workspace)
    check_not_excluded(str(workspace / "alias.py"), PolicyConfig(), workspace)


@pytest.mark.parametrize(
    ("named", "marker"),
    [("notes.txt", "KEYMARKER"), ("lib/db.py", "VAULTMARKER"), ("config.txt", "ENVMARKER")],
)
def test_the_command_line_sends_no_excluded_file_through_a_relative_link(
    workspace: Path, tmp_path: Path, model_server: FakeModelServer, named: str, marker: str
) -> None:
    """`chorus review LINK` named relative to the working directory, as people type it: the link is
    followed from where it is (the workspace), so a linked key, secrets folder or .env stays home."""
    (workspace / ".git").mkdir()
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "id_rsa").write_text("k = 'KEYMARKER'\n")
    (tmp_path / "vault" / "secrets").mkdir(parents=True)
    (tmp_path / "vault" / "secrets" / "db.py").write_text("v = 'VAULTMARKER'\n")
    (workspace / ".env").write_text("E = 'ENVMARKER'\n")
    (workspace / "notes.txt").symlink_to(tmp_path / "home" / "id_rsa")
    (workspace / "lib").symlink_to(tmp_path / "vault" / "secrets")
    (workspace / "config.txt").symlink_to(workspace / ".env")
    model_server.script("claude", json.dumps({"findings": []}))
    config = write_seats_config(tmp_path, model_server, ["claude"])
    done = run_chorus("review", named, "--config", str(config), cwd=workspace)
    assert done.returncode == 2 and "matches policy.exclude pattern" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "nothing was sent" in done.stderr
    assert model_server.requests == [] and marker not in done.stdout + done.stderr


@pytest.mark.parametrize(
    "path", [".env", "deploy/tls.pem", "home/id_rsa", "certs/client.p12", "build/out.log"]
)
def test_setting_exclude_adds_to_the_built_in_globs(path: str) -> None:
    with pytest.raises(ExcludedFileError):
        check_not_excluded(path, PolicyConfig(exclude=["*.log"]))


# -- what counts as local ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://localhost.evil.example", "http://127.0.0.1@api.openai.com", "http://127.0.0.1.nip.io/v1"]
)
def test_lookalike_hosts_are_not_local(url: str) -> None:
    assert not is_loopback_url(url)
    assert not is_local_model(ModelConfig(model="openai/x", api_base=url))


@pytest.mark.parametrize("url", ["http://[::1]:8080", "http://127.0.0.5", "http://localhost:1234/v1"])
def test_loopback_hosts_are_local(url: str) -> None:
    assert is_loopback_url(url)
    assert is_local_model(ModelConfig(model="openai/x", api_base=url))


# -- a remote arbiter and a local-only file --------------------------------------------------------


FINDING = {
    "start_line": 2,
    "end_line": 2,
    "severity": "error",
    "category": "bug",
    "message": "Division by zero when values is empty",
    "fix": None,
}


async def test_a_local_only_file_never_reaches_a_remote_arbiter(
    model_server: FakeModelServer, remote_server: FakeModelServer
) -> None:
    model_server.script("a", json.dumps({"findings": [FINDING]}))
    remote_server.script("judge", json.dumps({"clusters": [{"id": 1, "message": "x", "verdict": None}]}))
    config = make_config(model_server, ["a", "judge"], panels={"review": ["a"], "arbiter": "judge"})
    config.models["judge"] = seat_config(remote_server, "judge")
    config.policy.local_only = ["**/internal/**"]
    text = "def mean(values):\n    return sum(values) / len(values)\n"
    request = ReviewRequest(document=SourceDocument(path="src/internal/stats.py", text=text))
    result = await review_selection(request, config)
    assert result.findings and model_server.requests_for("a")
    assert remote_server.requests == []
    assert result.arbiter is not None and result.arbiter.status == "skipped"
    assert "local_only" in (result.arbiter.error or "")


async def test_the_remote_arbiter_is_asked_for_ordinary_files(
    model_server: FakeModelServer, remote_server: FakeModelServer
) -> None:
    model_server.script("a", json.dumps({"findings": [FINDING]}))
    remote_server.script(
        "judge", json.dumps({"clusters": [{"id": 1, "message": "Empty input", "verdict": None}]})
    )
    config = make_config(model_server, ["a", "judge"], panels={"review": ["a"], "arbiter": "judge"})
    config.models["judge"] = seat_config(remote_server, "judge")
    config.policy.local_only = ["**/internal/**"]
    text = "def mean(values):\n    return sum(values) / len(values)\n"
    request = ReviewRequest(document=SourceDocument(path="src/public/stats.py", text=text))
    result = await review_selection(request, config)
    assert len(remote_server.requests) == 1
    assert result.arbiter is not None and result.arbiter.status == "ok"


# -- everything sent is redacted, diagnostics too ----------------------------------------------------


async def test_diagnostic_messages_sent_to_explain_are_redacted(model_server: FakeModelServer) -> None:
    model_server.script("*", json.dumps({"explanation": "A hard-coded AWS key.", "fix": None}))
    config = make_config(
        model_server, ["a", "b", "judge"], panels={"explain": ["a", "b"], "arbiter": "judge"}
    )
    diagnostic = DiagnosticInput(
        start_line=1,
        end_line=1,
        message=f"Hard-coded AWS access key '{AWS_KEY}' (password 'hunter2pass' nearby)",
        source="gitleaks",
        code="aws-access-token",
    )
    request = ExplainRequest(
        document=SourceDocument(path="app/settings.py", text="KEY = load_key()\n"),
        start_line=1,
        end_line=1,
        diagnostics=[diagnostic],
    )
    await explain_diagnostics(request, config)
    assert {r.model for r in model_server.requests} == {"a", "b", "judge"}  # The arbiter too.
    for received in model_server.requests:
        assert AWS_KEY not in json.dumps(received.body)
        assert "<redacted:aws-access-key>" in received.prompt
        assert "gitleaks" in received.prompt
