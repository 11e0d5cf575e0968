"""Privacy: excluded and local-only globs, secret redaction that keeps line numbers, scrubbed errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.privacy.gate import (
    check_not_excluded,
    excluded_patterns,
    is_local_only,
    matching_pattern,
    redact_secrets,
    scrub_secrets,
)
from orchestration.types.config import PolicyConfig
from orchestration.types.errors import ExcludedFileError

RSA_KEY = "\n".join(
    [
        "-----BEGIN RSA PRIVATE KEY-----",
        "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi7hHkcOKsAQYr6rUBQbt5gmVcF",
        "q8Sm7Wa3+8FZvjMsNUzbRoSoR8fcsCHpp0xgZyDJ5pPVmHWJIsMi8HKRKKrzYVGf",
        "oJFTd7kxSmrT2fyXQ9sR6B1W2pY4fT7sBxLq3l5nB5aQ4Yx8hM0K2mC1kd1a8Q==",
        "-----END RSA PRIVATE KEY-----",
    ]
)


# -- excluded and local-only files --------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        (".env", ".env"),
        (".env.local", ".env.*"),
        ("config/.env.production", ".env.*"),
        ("certs/server.pem", "*.pem"),
        ("secrets/b.txt", "**/secrets/**"),
        ("a/secrets/b.txt", "**/secrets/**"),
        ("deep/down/secrets/x/y.json", "**/secrets/**"),
        ("home/id_rsa", "id_rsa*"),
        ("home/id_rsa.pub", "id_rsa*"),
    ],
)
def test_default_excludes_match(path: str, pattern: str) -> None:
    assert matching_pattern(path, excluded_patterns(PolicyConfig())) == pattern


@pytest.mark.parametrize(
    "path", ["src/app.py", "environment.py", "docs/secrets.md", "my_secrets/x.txt", "pem.py"]
)
def test_ordinary_files_are_not_excluded(path: str) -> None:
    check_not_excluded(path, PolicyConfig())


def test_excluded_file_error_names_the_pattern(tmp_path: Path) -> None:
    target = tmp_path / "deploy" / "tls.pem"
    with pytest.raises(ExcludedFileError) as raised:
        check_not_excluded(str(target), PolicyConfig(), workspace=tmp_path)
    assert str(raised.value) == "deploy/tls.pem matches policy.exclude pattern '*.pem'; nothing was sent"


def test_paths_are_matched_relative_to_the_workspace(tmp_path: Path) -> None:
    policy = PolicyConfig(exclude=["build/*.py"])
    with pytest.raises(ExcludedFileError):
        check_not_excluded(str(tmp_path / "build" / "gen.py"), policy, workspace=tmp_path)
    check_not_excluded(str(tmp_path / "src" / "build" / "gen.py"), policy, workspace=tmp_path)
    with pytest.raises(ExcludedFileError):
        check_not_excluded((tmp_path / "build" / "gen.py").as_uri(), policy, workspace=tmp_path)


def test_local_only_globs(tmp_path: Path) -> None:
    policy = PolicyConfig(local_only=["internal/**", "*.sql"])
    assert is_local_only(str(tmp_path / "internal" / "billing" / "rates.py"), policy, tmp_path)
    assert is_local_only("db/schema.sql", policy)
    assert not is_local_only(str(tmp_path / "public" / "api.py"), policy, tmp_path)
    assert not is_local_only("anything.py", PolicyConfig())


# -- secret redaction ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "secret", "placeholder"),
    [
        ('aws_id = "AKIAIOSFODNN7EXAMPLE"', "AKIAIOSFODNN7EXAMPLE", "<redacted:aws-access-key>"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key = <redacted:aws-secret-key>",
        ),
        (
            'token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"',
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "<redacted:github-token>",
        ),
        (
            "GH=gho_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
            "gho_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
            "<redacted:github-token>",
        ),
        (
            "pat: github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
            "<redacted:github-token>",
        ),
        (
            "slack = 'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx'",
            "xoxb-123456789012",
            "<redacted:slack-token>",
        ),
        (
            "url = 'https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX'",
            "XXXXXXXXXXXXXXXXXXXXXXXX",
            "<redacted:slack-webhook>",
        ),
        ('stripe.api_key = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"', "4eC39HqLyjWDarjtT1zdp7dc", "<redacted:"),
        ("RK = rk_live_51H8abcdefghijklmnopqrst", "rk_live_51H8", "<redacted:stripe-key>"),
        ('client = OpenAI(api_key="sk-proj-abcdefghijklmnopqrstuvwxyz0123")', "sk-proj-abc", "<redacted:"),
        ("key = 'sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345'", "sk-ant-api03", "<redacted:anthropic-key>"),
        ("maps(key='AIzaSyA1234567890abcdefghijklmnopqrstuv')", "AIzaSyA123", "<redacted:google-api-key>"),
        (
            'headers = {"Authorization": "Bearer abcdef0123456789abcdef.xyz"}',
            "abcdef0123456789abcdef",
            "Bearer <redacted:bearer-token>",
        ),
        ('DB_PASSWORD = "correct horse battery"', "correct horse", 'DB_PASSWORD = "<redacted:password>"'),
        ("settings = {'secret': 'swordfish'}", "swordfish", "'secret': '<redacted:secret>'"),
        ("API_KEY=abc123def456ghi", "abc123def456ghi", "API_KEY=<redacted:api-key>"),
        ("  password: hunter22", "hunter22", "password: <redacted:password>"),
        ('dsn = "postgres://admin:s3cretpw@db.example.com/app"', "s3cretpw", "admin:<redacted:password>@db"),
    ],
)
def test_each_kind_of_secret_is_redacted(line: str, secret: str, placeholder: str) -> None:
    redacted, count = redact_secrets(f"x = 1\n{line}\ny = 2\n")
    assert secret not in redacted
    assert placeholder in redacted
    assert count >= 1
    assert redacted.startswith("x = 1\n") and redacted.endswith("\ny = 2\n")


def test_private_key_block_keeps_the_line_count() -> None:
    source = f'import ssl\n\nKEY = """{RSA_KEY}"""\n\ndef load():\n    return KEY\n'
    redacted, count = redact_secrets(source)
    assert count == 1
    assert redacted.count("\n") == source.count("\n")
    assert "MIIEpAIBAAKCAQEA" not in redacted
    lines = redacted.splitlines()
    assert lines[2] == 'KEY = """<redacted:private-key>'
    assert lines[3:6] == ["<redacted:private-key>"] * 3
    assert lines[6] == '<redacted:private-key>"""'
    assert lines[8] == "def load():"


def test_truncated_private_key_is_still_redacted() -> None:
    body = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtz"
    source = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n..."
    redacted, count = redact_secrets(source)
    assert redacted.splitlines() == ["<redacted:private-key>", "<redacted:private-key>", "..."]
    assert count == 1


def test_every_line_keeps_its_number_in_a_file_full_of_secrets() -> None:
    source = "\n".join(
        [
            "import os",
            'AWS = "AKIAIOSFODNN7EXAMPLE"',
            RSA_KEY,
            'password = "hunter2"',
            "def f(x):",
            "    return x + 1",
            "",
        ]
    )
    redacted, count = redact_secrets(source)
    assert count == 3
    assert len(redacted.splitlines()) == len(source.splitlines())
    assert redacted.splitlines()[8:10] == ["def f(x):", "    return x + 1"]


@pytest.mark.parametrize(
    "code",
    [
        "password = get_password()",
        "token = self.token",
        "api_key = settings.api_key",
        "if password == 'x': pass",
        "password = ''",
        "secret_count = 10",
        "max_tokens = 2048",
        'api_key = os.environ["OPENAI_API_KEY"]',
        "token: str = field(default_factory=make_token)",
        "desk-top = 1",
        "skip = sk_value",
        'password = f"{prefix}-{suffix}"',
        'api_key_env = "ANTHROPIC_API_KEY"',
        "def check(password: str) -> bool:",
        "TOKEN=${GITHUB_TOKEN}",
    ],
)
def test_ordinary_code_is_left_alone(code: str) -> None:
    assert redact_secrets(code) == (code, 0)


def test_scrub_secrets_cleans_error_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_API_KEY", "opaque-value-9f8e7d")
    message = (
        "HTTP 401 from claude: Incorrect API key provided: sk-abcdefghijklmnopqrstuvwx1234; "
        "header Authorization: Bearer abcdefghijklmnop1234 and key opaque-value-9f8e7d"
    )
    scrubbed = scrub_secrets(message)
    assert "sk-abcdefghijklmnopqrstuvwx1234" not in scrubbed
    assert "abcdefghijklmnop1234" not in scrubbed
    assert "opaque-value-9f8e7d" not in scrubbed
    assert scrubbed.startswith("HTTP 401 from claude: Incorrect API key provided: <redacted:openai-key>")
    assert scrub_secrets("HTTP 500 from codex: overloaded") == "HTTP 500 from codex: overloaded"
