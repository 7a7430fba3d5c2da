"""``ringpush sandbox --fcm`` in its own process, as a user runs it (issue 16): the local
FCM on the printed port beside APNs, its control API under ``/fcm`` of the control port,
its port kept by ``--state-dir``."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringpush.fcm.error_codes import FcmErrorCode
from tests.sandbox_fcm.conftest import (
    PACKAGE,
    PROJECT,
    access_token,
    call_wakeup,
    fcm_error_of,
    send,
)


def _start(*flags: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """``ringpush sandbox --port 0 --control-port 0 FLAGS`` and the JSON line it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ringpush", "sandbox", "--port", "0", "--control-port", "0",
         *flags],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    assert proc.wait(10) == 0


@pytest.fixture(scope="module")
def info(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    proc, printed = _start("--fcm-port", "0", "--state-dir", str(tmp_path_factory.mktemp("s")))
    try:
        yield printed
    finally:
        _stop(proc)


@pytest.fixture
async def control(info: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{info['control_port']}") as c:
        yield c


@pytest.fixture
async def fcm(info: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    """A provider's HTTP/2 client, trusting only the CA file the command printed."""
    trust = ssl.create_default_context(cafile=info["fcm_ca_file"])
    async with httpx.AsyncClient(http2=True, verify=trust, base_url=info["fcm_url"]) as c:
        yield c


async def _issued(control: httpx.AsyncClient, path: str, body: dict[str, str]) -> Any:
    answer = await control.post(path, json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_the_printed_line_names_the_fcm_port_url_and_ca(info: dict[str, Any]) -> None:
    assert info["fcm_port"] > 0 and info["fcm_port"] not in (info["port"], info["control_port"])
    assert info["fcm_url"] == f"https://127.0.0.1:{info['fcm_port']}"
    pem = Path(info["fcm_ca_file"]).read_text()
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    assert pem != Path(info["ca_file"]).read_text()  # FCM's CA is its own


async def test_an_account_and_a_token_from_the_control_port_send_over_http2(
    control: httpx.AsyncClient, fcm: httpx.AsyncClient
) -> None:
    account = await _issued(control, "/fcm/service-accounts", {"project_id": PROJECT})
    assert account["token_uri"] == f"{fcm.base_url}/token"
    device = await _issued(control, "/fcm/tokens", {"package": PACKAGE, "project_id": PROJECT})
    bearer = await access_token(fcm, account, time.time())
    sent = await send(fcm, bearer, call_wakeup(device["token"]))
    assert sent.status_code == 200, sent.text
    assert sent.http_version == "HTTP/2"
    accepted = (await control.get("/fcm/messages", params={"token": device["token"]})).json()
    assert [m["name"] for m in accepted] == [sent.json()["name"]]


async def test_a_token_uninstalled_through_the_control_port_is_unregistered(
    control: httpx.AsyncClient, fcm: httpx.AsyncClient
) -> None:
    account = await _issued(control, "/fcm/service-accounts", {"project_id": PROJECT})
    device = await _issued(control, "/fcm/tokens", {"package": PACKAGE, "project_id": PROJECT})
    gone = await control.delete(f"/fcm/tokens/{device['token']}")
    assert gone.status_code == 200 and gone.json()["installed"] is False
    bearer = await access_token(fcm, account, time.time())
    refused = await send(fcm, bearer, call_wakeup(device["token"]))
    fcm_error_of(refused, FcmErrorCode.UNREGISTERED)


async def test_the_control_api_documents_the_fcm_routes(control: httpx.AsyncClient) -> None:
    spec = (await control.get("/openapi.json")).json()
    assert spec["paths"]["/fcm/tokens"]["post"]["tags"] == ["fcm tokens"]
    assert "delete" in spec["paths"]["/fcm/tokens/{token}"]
    assert "/fcm/messages" in spec["paths"] and "/tokens" in spec["paths"]
    operation_ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids))


def test_fcm_is_served_only_when_asked_for(tmp_path: Path) -> None:
    proc, printed = _start()
    try:
        assert "fcm_port" not in printed
        missing = httpx.post(
            f"http://127.0.0.1:{printed['control_port']}/fcm/tokens",
            json={"package": PACKAGE, "project_id": PROJECT},
        )
        assert missing.status_code == 404
    finally:
        _stop(proc)


def test_a_state_dir_keeps_the_fcm_port(tmp_path: Path) -> None:
    first, before = _start("--fcm", "--fcm-port", "0", "--state-dir", str(tmp_path))
    _stop(first)
    again, after = _start("--fcm-port", "0", "--state-dir", str(tmp_path))
    _stop(again)
    assert after["fcm_port"] == before["fcm_port"]
    assert after["fcm_ca_file"] == before["fcm_ca_file"] == str(tmp_path / "fcm-ca.pem")
    assert json.loads((tmp_path / "sandbox.json").read_text())["ports"]["fcm"] == after["fcm_port"]
