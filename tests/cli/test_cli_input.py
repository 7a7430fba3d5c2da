"""The command line: keygen output and bad input handled in one line with exit code 2."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from ringpush.apns.credentials import TokenCredentials
from tests.cli.command import ringpush


def test_keygen_writes_a_private_p8_and_prints_its_ids(tmp_path: Path) -> None:
    done = ringpush("keygen", "--out", str(tmp_path / "keys"))
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    key_file = Path(info["key_file"])
    assert key_file.name == f"AuthKey_{info['key_id']}.p8"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    loaded = TokenCredentials.from_p8_file(key_file, info["key_id"], info["team_id"])
    assert loaded.key_id == info["key_id"]


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    done = ringpush("keygen", "--out", str(tmp_path_factory.mktemp("keys")))
    info = json.loads(done.stdout)
    return [
        "--key-file",
        info["key_file"],
        "--key-id",
        info["key_id"],
        "--team-id",
        info["team_id"],
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--token", "xyz1", "--payload", "{}"], "hexadecimal"),
        (["--token", "abc", "--payload", "{}"], "odd number"),
        (
            ["--token", "ab" * 32, "--payload", json.dumps({"p": "x" * 5200})],
            "over the 5120-byte limit for voip pushes",
        ),
        (
            [
                "--token",
                "ab" * 32,
                "--push-type",
                "alert",
                "--payload",
                json.dumps({"p": "x" * 4100}),
            ],
            "over the 4096-byte limit for alert pushes",
        ),
        (["--token", "ab" * 32, "--payload", "{oops"], "not valid JSON"),
        (["--token", "ab" * 32, "--payload", "{}", "--push-type", "fax"], "unknown push type"),
        (["--token", "ab" * 32, "--payload", "{}", "--collapse-id", "c" * 65], "collapse-id"),
        (["--token", "ab" * 32, "--payload", "@/nonexistent.json"], "cannot read payload file"),
        (
            ["--token", "ab" * 32, "--payload", "{}", "--apns-url", "127.0.0.1:2297"],
            "APNs URL must look like https://host[:port], got '127.0.0.1:2297'",
        ),
        (
            ["--token", "ab" * 32, "--payload", "{}", "--apns-url", "http://127.0.0.1:2297"],
            "APNs URL must look like https://host[:port]",
        ),
    ],
)
def test_send_refuses_bad_input_in_one_line(key: list[str], extra: list[str], message: str) -> None:
    done = ringpush("send", "--bundle-id", "com.example.app", *key, *extra)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_send_with_an_unreadable_key_is_bad_input(tmp_path: Path) -> None:
    done = ringpush(
        "send",
        "--bundle-id",
        "com.example.app",
        "--token",
        "ab" * 32,
        "--payload",
        "{}",
        "--key-file",
        str(tmp_path / "missing.p8"),
        "--key-id",
        "ABCDEFGHIJ",
        "--team-id",
        "ABCDEFGHIJ",
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: cannot read signing key {tmp_path / 'missing.p8'}: No such file or directory"
    )


def test_send_with_a_key_that_is_not_a_key_is_bad_input(tmp_path: Path) -> None:
    bogus = tmp_path / "AuthKey.p8"
    bogus.write_text("hello")
    done = ringpush(
        "send", "--bundle-id", "b", "--token", "ab" * 32, "--payload", "{}",
        "--key-file", str(bogus), "--key-id", "ABCDEFGHIJ", "--team-id", "ABCDEFGHIJ",
    )  # fmt: skip
    assert done.returncode == 2
    assert "not a PEM private key" in done.stderr


def test_every_command_has_help() -> None:
    for command in ("keygen", "send", "sandbox", "run"):
        done = ringpush(command, "--help")
        assert done.returncode == 0, command
        assert "Usage" in done.stdout


def test_version_is_a_flag_too() -> None:
    from ringpush import __version__

    done = ringpush("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == __version__


def test_help_shows_boolean_flags_as_flags() -> None:
    for command in ((), ("run",), ("demo",), ("serve",)):
        done = ringpush(*command, "--help")
        assert done.returncode == 0, command
        assert "--help" in done.stdout
        assert "<bool>" not in done.stdout, command


def test_serve_help_says_where_the_secrets_come_from() -> None:
    done = ringpush("serve", "--help")
    text = " ".join(done.stdout.split())
    assert "RINGPUSH_ADMIN_KEY" in text
    assert "RINGPUSH_SECRET_KEY" in text
