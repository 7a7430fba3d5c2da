"""Fault knobs, key specs and response encoding: the small pure pieces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ringpush.apns.credentials import generate_signing_key
from ringpush.apns.reasons import ApnsReason
from ringpush.sandbox import FaultError, Faults, parse_key_spec
from ringpush.sandbox.responses import rejection, success


def test_fault_update_is_partial() -> None:
    faults = Faults()
    faults.update({"error_rate": 0.5})
    faults.update({"error_status": 503})
    assert (faults.error_rate, faults.error_status) == (0.5, 503)


@pytest.mark.parametrize(
    "changes",
    [
        {"error_rate": 1.5},
        {"error_rate": "high"},
        {"error_status": 502},
        {"latency_ms": -1},
        {"goaway_after_streams": 0},
        {"reset_after_streams": 1.5},
        {"too_many_requests_tokens": "abcd"},
        {"too_many_requests_tokens": ["xyz"]},
        {"shutdown": "yes"},
        {"reset_stream_code": 0},
        {"reset_stream_code": True},
        {"reset_stream_code": "1"},
        {"no_such_knob": 1},
    ],
)
def test_bad_fault_input_raises_fault_error_and_changes_nothing(changes: dict[str, object]) -> None:
    faults = Faults()
    faults.update({"latency_ms": 5})
    with pytest.raises(FaultError):
        faults.update({"error_rate": 0.2, **changes})
    assert faults.error_rate == 0.0
    assert faults.latency_ms == 5


def test_clear_turns_every_fault_off() -> None:
    faults = Faults()
    faults.update({"error_rate": 1, "too_many_requests_tokens": ["AB12"], "shutdown": True})
    assert faults.active
    faults.clear()
    assert not faults.active
    assert faults.to_json()["too_many_requests_tokens"] == []


def test_key_spec_reads_path_key_id_and_team_id(tmp_path: Path) -> None:
    key = generate_signing_key()
    path = tmp_path / "dir:with:colons" / "AuthKey.p8"
    path.parent.mkdir()
    path.write_bytes(key.pem)
    parsed = parse_key_spec(f"{path}:{key.key_id}:{key.team_id}")
    assert (parsed.key_id, parsed.team_id, parsed.environment) == (key.key_id, key.team_id, None)


@pytest.mark.parametrize("spec", ["only-a-path.p8", "a.p8:KEYID", ":ABCDEFGHIJ:ABCDEFGHIJ"])
def test_malformed_key_spec_is_a_value_error(spec: str) -> None:
    with pytest.raises(ValueError, match="PATH:KEYID:TEAMID"):
        parse_key_spec(spec)


def test_key_spec_with_missing_file_or_bad_ids_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        parse_key_spec(f"{tmp_path / 'none.p8'}:ABCDEFGHIJ:ABCDEFGHIJ")
    path = tmp_path / "k.p8"
    path.write_bytes(generate_signing_key().pem)
    with pytest.raises(ValueError, match="key id"):
        parse_key_spec(f"{path}:short:ABCDEFGHIJ")


def test_error_response_has_status_json_content_type_apns_id_and_reason() -> None:
    response = rejection(ApnsReason.BAD_TOPIC, "id-1")
    assert dict(response.headers) == {
        b":status": b"400",
        b"content-type": b"application/json",
        b"apns-id": b"id-1",
    }
    assert json.loads(response.body) == {"reason": "BadTopic"}


def test_unregistered_response_adds_the_timestamp() -> None:
    response = rejection(ApnsReason.UNREGISTERED, "id-1", 1_700_000_000_000)
    assert json.loads(response.body) == {"reason": "Unregistered", "timestamp": 1_700_000_000_000}


def test_success_carries_unique_id_only_when_given() -> None:
    assert dict(success("a", "u").headers)[b"apns-unique-id"] == b"u"
    assert b"apns-unique-id" not in dict(success("a", None).headers)
    assert success("a", None).body == b""
