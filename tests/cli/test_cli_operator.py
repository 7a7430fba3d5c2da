"""The operator's commands over a running server's API (issue 15 §4): ``ringpush apps put``
with a real .p8 file, then a call through the sandbox, each command as its own process
against ``ringpush serve`` and ``ringpush sandbox`` in theirs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.cli.command import ADMIN, ringpush, serving
from tests.fcm.support import key_file

BUNDLE = "com.example.mine"


@dataclass
class Deployment:
    url: str
    control: str
    apns_url: str
    ca_file: Path
    key: dict[str, str]
    workdir: Path

    @property
    def env(self) -> dict[str, str]:
        """The server and the operator key as the environment gives them (no flag)."""
        return {"RINGPUSH_URL": self.url, "RINGPUSH_ADMIN_KEY": ADMIN}

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return ringpush(*args, env=self.env, cwd=self.workdir)

    def ok(self, *args: str) -> str:
        done = self.cli(*args)
        assert (done.returncode, done.stderr) == (0, ""), done
        return done.stdout

    def refused(self, *args: str, code: int = 2) -> str:
        """The one stderr line of a command that must fail with exit ``code``."""
        done = self.cli(*args)
        assert done.returncode == code, done
        assert done.stdout == ""
        lines = done.stderr.splitlines()
        assert len(lines) == 1, done.stderr  # one line, no traceback
        assert lines[0].startswith("error: ")
        return lines[0]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("operator")
    key = json.loads(ringpush("keygen", "--out", str(workdir), "--team-id", "TEAM123456").stdout)
    sandbox = subprocess.Popen(
        [
            sys.executable, "-m", "ringpush", "sandbox", "--port", "0", "--control-port", "0",
            "--ca-out", str(workdir / "ca.pem"),
            "--key", f"{key['key_file']}:{key['key_id']}:{key['team_id']}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert sandbox.stdout is not None
    info = json.loads(sandbox.stdout.readline())
    try:
        with serving(workdir / "state") as url:
            yield Deployment(
                url=url,
                control=f"http://127.0.0.1:{info['control_port']}",
                apns_url=f"https://127.0.0.1:{info['port']}",
                ca_file=workdir / "ca.pem",
                key=key,
                workdir=workdir,
            )
    finally:
        sandbox.terminate()
        assert sandbox.wait(10) == 0


def table(output: str) -> list[list[str]]:
    """A printed table's rows (header first), cells split on runs of spaces."""
    rows = [line.split("   ") for line in output.splitlines() if line and "───" not in line]
    return [[cell.strip() for cell in row if cell.strip()] for row in rows]


def test_apps_put_with_a_p8_file_then_a_call_rings_through_the_sandbox(
    deployment: Deployment,
) -> None:
    d = deployment
    shown = d.ok(
        "apps", "put", "mine", "--bundle-id", BUNDLE, "--p8", d.key["key_file"],
        "--team-id", d.key["team_id"], "--apns-url", d.apns_url, "--apns-ca", str(d.ca_file),
        "--default-environment", "development",
    )  # fmt: skip
    assert shown.splitlines()[0].split() == ["app", "mine"]
    # The key id came from Apple's file name, AuthKey_<KEYID>.p8; the key is never shown.
    assert f"key id               {d.key['key_id']}" in shown
    assert "BEGIN" not in shown
    assert ["mine", BUNDLE, "token", d.key["key_id"], "TEAM123456"] == table(d.ok("apps", "list"))[
        1
    ][:5]

    issued = httpx.post(
        f"{d.control}/tokens",
        json={"bundle_id": BUNDLE, "push_type": "voip", "environment": "development"},
    ).json()["token"]
    user_token = json.loads(d.ok("users", "tokens", "bob", "--app", "mine", "--json"))["token"]
    registered = httpx.put(
        f"{d.url}/v1/devices/bobs-phone",
        headers={"Authorization": f"Bearer {user_token}"},
        json={"token": issued, "environment": "development"},
    )
    assert registered.status_code == 201
    devices = table(d.ok("devices", "list", "bob"))  # the only app: no --app needed
    assert devices[0][:4] == ["DEVICE", "PUSH TYPE", "ENVIRONMENT", "TOKEN"]
    assert devices[1][:4] == ["bobs-phone", "voip", "development", f"{issued[:4]}…{issued[-4:]}"]

    call = json.loads(d.ok("calls", "place", "bob", "--caller-name", "Alice", "--json"))
    assert call["state"] == "ringing"
    [delivery] = call["deliveries"]
    assert (delivery["device_id"], delivery["push_type"]) == ("bobs-phone", "voip")
    pushed = httpx.get(f"{d.control}/notifications", params={"token": issued}).json()
    [voip] = [p for p in pushed if p["payload"]["ringpush"]["call_id"] == call["call_id"]]
    assert voip["topic"] == f"{BUNDLE}.voip"
    assert voip["payload"]["ringpush"]["caller"] == {"id": "ringpush", "name": "Alice"}

    log = json.loads(d.ok("deliveries", "--call", call["call_id"], "--json"))
    assert [(p["apns_id"], p["status"]) for p in log] == [(voip["apns_id"], 200)]
    ended = d.ok("calls", "end", call["call_id"])
    assert "ended because     canceled" in ended
    shown_call = json.loads(d.ok("calls", "show", call["call_id"], "--json"))
    assert (shown_call["state"], shown_call["end_reason"]) == ("ended", "canceled")
    assert [p["apns_id"] for p in shown_call["deliveries"]] == [voip["apns_id"]]
    # Ending sent no VoIP push (iOS would have to show a new call).
    assert len(httpx.get(f"{d.control}/notifications", params={"token": issued}).json()) == 1


def follow(d: Deployment, *args: str) -> subprocess.Popen[str]:
    """A following command in its own process, its output read line by line."""
    return subprocess.Popen(
        [sys.executable, "-m", "ringpush", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **d.env},
        cwd=d.workdir,
    )


def test_following_a_call_and_the_delivery_log(deployment: Deployment) -> None:
    d = deployment
    log = follow(d, "deliveries", "--follow", "--limit", "1")
    assert log.stdout is not None and log.stderr is not None
    # Once it says so, it follows: no answer given from then on is missed.
    assert log.stderr.readline() == "following the delivery log (Ctrl-C to stop)\n"
    placed = follow(d, "calls", "place", "bob", "--follow")
    assert placed.stdout is not None
    call_id = placed.stdout.readline().split()[1]  # "call  <id>"
    for line in placed.stdout:  # its fields and deliveries, then its first event
        if line.startswith(f"{call_id}: "):
            assert line == f"{call_id}: ringing\n"
            break
    d.ok("calls", "end", call_id, "--reason", "canceled")
    assert placed.stdout.readline() == f"{call_id}: ended (canceled)\n"
    assert placed.wait(10) == 0  # it stops once the call is over
    # The live log printed the call's push as APNs answered it, one line in the columns.
    for line in log.stdout:
        if call_id in line:
            cells = line.split()
            assert cells[2:6] == ["mine", "bob", "bobs-phone", "voip"]
            assert "200" in cells
            break
    log.terminate()
    assert log.wait(10) in (0, -signal.SIGTERM)


def test_token_check_and_revoking_user_tokens(deployment: Deployment) -> None:
    d = deployment
    checked = table(d.ok("devices", "check", "bob", "bobs-phone"))
    assert checked[0] == ["DEVICE", "PUSH TYPE", "ENVIRONMENT", "VALID", "VERDICT"]
    assert checked[1][:4] == ["bobs-phone", "voip", "development", "yes"]
    token = json.loads(d.ok("users", "tokens", "bob", "--json"))["token"]
    bob = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{d.url}/v1/devices", headers=bob).status_code == 200
    assert "revoked every user token of bob" in d.ok("users", "tokens", "bob", "--revoke")
    assert httpx.get(f"{d.url}/v1/devices", headers=bob).status_code == 401
    assert d.ok("users", "list") == "bob\n"


def test_bad_input_is_one_line_and_exit_2(deployment: Deployment, tmp_path: Path) -> None:
    d = deployment
    d.ok("apps", "put", "other", "--bundle-id", "com.example.other")
    assert "give --app (or RINGPUSH_APP): the server has 2" in d.refused("devices", "list", "bob")
    assert d.refused("apps", "show", "nope") == "error: unknown_app: no app 'nope'"
    assert "cannot read --p8" in d.refused(
        "apps", "put", "x", "--bundle-id", "com.x", "--p8", str(tmp_path / "AuthKey_A.p8")
    )
    assert "--p8 needs --team-id" in d.refused(
        "apps", "put", "x", "--bundle-id", "com.x", "--p8", d.key["key_file"]
    )
    not_a_key = tmp_path / "AuthKey_ABCDEFGHIJ.p8"
    not_a_key.write_text(d.ca_file.read_text())
    assert "invalid_credentials: signing_key" in d.refused(
        "apps",
        "put",
        "x",
        "--bundle-id",
        "com.x",
        "--p8",
        str(not_a_key),
        "--team-id",
        "TEAM123456",
    )
    assert "invalid_field: bundle_id" in d.refused("apps", "put", "x", "--bundle-id", "com/x")
    # Deleting needs a yes, since stdin is no terminal to ask on.
    assert "pass --yes" in d.refused("apps", "delete", "other")
    assert d.ok("apps", "show", "other")
    assert d.ok("apps", "delete", "other", "--yes") == "deleted app other\n"
    assert "unknown_app" in d.refused("apps", "show", "other")


def test_the_operator_key_and_server_come_from_flags_env_or_the_state_file(
    deployment: Deployment, tmp_path: Path
) -> None:
    d = deployment
    bare = {"RINGPUSH_URL": d.url, "RINGPUSH_ADMIN_KEY": ""}
    no_key = ringpush("apps", "list", env=bare, cwd=tmp_path)
    assert no_key.returncode == 2
    assert no_key.stderr.startswith("error: no operator key: set RINGPUSH_ADMIN_KEY")
    wrong = ringpush("apps", "list", "--admin-key", "rpa_" + "w" * 40, env=bare, cwd=tmp_path)
    assert (wrong.returncode, wrong.stderr) == (
        2,
        "error: the server refused the operator key (wrong admin API key)\n",
    )
    # make run's state dir, as the default key file
    (tmp_path / ".ringpush").mkdir()
    (tmp_path / ".ringpush" / "admin.key").write_text(ADMIN + "\n")
    from_file = ringpush("apps", "list", "--json", env=bare, cwd=tmp_path)
    assert from_file.returncode == 0, from_file.stderr
    assert "mine" in {app["app_id"] for app in json.loads(from_file.stdout)}
    flagged = ringpush(
        "apps", "list", "--server", d.url, "--admin-key-file", str(tmp_path / ".ringpush" /
        "admin.key"), env={"RINGPUSH_URL": "http://127.0.0.1:1"},
    )  # fmt: skip
    assert flagged.returncode == 0, flagged.stderr
    away = ringpush("apps", "list", "--server", "http://127.0.0.1:1", env=d.env)
    assert away.returncode == 1
    assert away.stderr.startswith("error: cannot reach ringpush at http://127.0.0.1:1")


def test_tables_fit_a_row_on_a_line_when_piped(deployment: Deployment) -> None:
    listed = deployment.ok("deliveries", "--limit", "5")
    lines = listed.splitlines()
    assert lines[0].split() == [
        "TIME", "APP", "USER", "DEVICE", "PUSH", "TYPE", "STATE", "STATUS", "REASON", "CALL",
        "APNS", "ID",
    ]  # fmt: skip
    assert all(line == line.rstrip() for line in lines)
    assert len(lines) >= 3  # header, rule, at least the call's push, each on one line


def test_apps_put_takes_the_firebase_service_account_file(
    deployment: Deployment, tmp_path: Path
) -> None:
    """The JSON key file as the Firebase console downloads it: the server checks and seals
    it; only whose it is is ever shown."""
    d = deployment
    account = tmp_path / "firebase-key.json"
    account.write_text(json.dumps(key_file()))
    shown = d.ok(
        "apps", "put", "droid", "--bundle-id", "com.example.droid",
        "--fcm-service-account", str(account),
    )  # fmt: skip
    assert "fcm project          ringpush-test" in shown
    assert "fcm-sender@ringpush-test.iam.gserviceaccount.com" in shown
    assert "PRIVATE KEY" not in d.ok("apps", "show", "droid", "--json")
    not_json = tmp_path / "key.json"
    not_json.write_text("{nope")
    assert "is not JSON" in d.refused(
        "apps", "put", "x", "--bundle-id", "com.x", "--fcm-service-account", str(not_json)
    )
    incomplete = tmp_path / "partial.json"
    incomplete.write_text(json.dumps({**key_file(), "client_email": ""}))
    assert "fcm_service_account: " in d.refused(
        "apps", "put", "x", "--bundle-id", "com.x", "--fcm-service-account", str(incomplete)
    )
    d.ok("apps", "delete", "droid", "--yes")
