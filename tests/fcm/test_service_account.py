"""Service-account key files (docs/fcm.md §3): read once, every field checked and named,
the key never shown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ringpush.fcm.errors import (
    FcmError,
    InvalidPrivateKey,
    InvalidServiceAccountField,
    MissingServiceAccountField,
    ServiceAccountError,
)
from ringpush.fcm.service_account import REQUIRED_FIELDS, ServiceAccount
from tests.fcm.support import key_file, rsa_pem


def read(**overrides: Any) -> ServiceAccount:
    return ServiceAccount.from_json(json.dumps(key_file(**overrides)))


def test_a_google_key_file_gives_its_identity_fields() -> None:
    account = read()
    assert account.project_id == "ringpush-test"
    assert account.private_key_id == "0123456789abcdef0123456789abcdef01234567"
    assert account.client_email == "fcm-sender@ringpush-test.iam.gserviceaccount.com"
    assert account.token_uri == "https://oauth2.googleapis.com/token"
    assert account.private_key.key_size == 2048


def test_text_and_bytes_read_alike() -> None:
    text = json.dumps(key_file())
    assert ServiceAccount.from_json(text) == ServiceAccount.from_json(text.encode())


@pytest.mark.parametrize("name", REQUIRED_FIELDS)
def test_each_missing_field_is_named(name: str) -> None:
    data = key_file()
    del data[name]
    with pytest.raises(MissingServiceAccountField) as caught:
        ServiceAccount.from_json(json.dumps(data))
    assert caught.value.field == name
    assert name in str(caught.value)


@pytest.mark.parametrize("name", REQUIRED_FIELDS)
def test_a_field_of_the_wrong_type_is_named(name: str) -> None:
    with pytest.raises(InvalidServiceAccountField) as caught:
        read(**{name: 42})
    assert caught.value.field == name
    assert "must be a string" in str(caught.value)


def test_an_empty_field_is_invalid_not_missing() -> None:
    with pytest.raises(InvalidServiceAccountField) as caught:
        read(private_key_id="  ")
    assert caught.value.field == "private_key_id"
    assert not isinstance(caught.value, MissingServiceAccountField)


def test_another_kind_of_credential_file_is_refused_by_its_type() -> None:
    with pytest.raises(InvalidServiceAccountField) as caught:
        read(type="authorized_user")
    assert caught.value.field == "type"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("token_uri", "http://oauth2.googleapis.com/token"),
        ("token_uri", "oauth2.googleapis.com/token"),
        ("project_id", "my/project"),
        ("project_id", "My Project"),
        ("client_email", "fcm-sender"),
    ],
)
def test_malformed_values_are_named(name: str, value: str) -> None:
    with pytest.raises(InvalidServiceAccountField) as caught:
        read(**{name: value})
    assert caught.value.field == name


@pytest.mark.parametrize("project", ["123456789012", "example.com:my-project", "ringpush-prod-1"])
def test_project_numbers_and_domain_scoped_ids_are_accepted(project: str) -> None:
    assert read(project_id=project).project_id == project


def test_text_that_is_not_json_does_not_echo_the_key() -> None:
    text = json.dumps(key_file())[:-1]  # cut short: the key is in the text
    with pytest.raises(ServiceAccountError) as caught:
        ServiceAccount.from_json(text)
    assert caught.value.field is None
    assert "not JSON" in str(caught.value)
    assert "PRIVATE KEY" not in str(caught.value)


@pytest.mark.parametrize("text", ["[]", '"service_account"', b"\xff\xfe"])
def test_a_document_that_is_not_an_object_is_refused(text: str | bytes) -> None:
    with pytest.raises(ServiceAccountError):
        ServiceAccount.from_json(text)


def _pem(key: Any, fmt: serialization.PrivateFormat, password: bytes | None = None) -> str:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return str(key.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode())


def test_a_pkcs1_rsa_key_is_refused_as_pkcs1() -> None:
    key = serialization.load_pem_private_key(rsa_pem().encode(), None)
    with pytest.raises(InvalidPrivateKey, match="PKCS#1"):
        read(private_key=_pem(key, serialization.PrivateFormat.TraditionalOpenSSL))


def test_an_ec_key_is_refused_for_rs256() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(InvalidPrivateKey, match="RSA"):
        read(private_key=_pem(key, serialization.PrivateFormat.PKCS8))


def test_an_encrypted_key_is_refused() -> None:
    key = serialization.load_pem_private_key(rsa_pem().encode(), None)
    encrypted = _pem(key, serialization.PrivateFormat.PKCS8, b"secret")
    with pytest.raises(InvalidPrivateKey, match="encrypted"):
        read(private_key=encrypted)


def test_a_short_rsa_key_is_refused() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the point)
    with pytest.raises(InvalidPrivateKey, match="1024 bits"):
        read(private_key=_pem(key, serialization.PrivateFormat.PKCS8))


def test_a_damaged_key_is_refused_with_the_field_named() -> None:
    pem = rsa_pem()
    damaged = pem[:100] + "AAAA" + pem[104:]
    with pytest.raises(InvalidPrivateKey) as caught:
        read(private_key=damaged)
    assert caught.value.field == "private_key"


def test_every_error_is_an_fcm_error_and_a_value_error() -> None:
    with pytest.raises(FcmError) as caught:
        read(token_uri=None)
    assert isinstance(caught.value, ValueError)


def test_the_repr_never_shows_the_key() -> None:
    account = read()
    body = rsa_pem().splitlines()[5]
    for text in (repr(account), str(account)):
        assert "PRIVATE KEY" not in text
        assert body not in text
        assert "private_key=" not in text
        assert "ringpush-test" in text


def test_to_json_reads_back_to_the_same_account_and_key() -> None:
    account = read()
    again = ServiceAccount.from_json(account.to_json())
    assert again == account
    assert again.public_pem() == account.public_pem()
    assert json.loads(account.to_json())["type"] == "service_account"


def test_the_fingerprint_tells_a_replaced_key_apart() -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    replaced = read(private_key=_pem(other, serialization.PrivateFormat.PKCS8))
    assert replaced.identity == read().identity
    assert replaced.fingerprint != read().fingerprint


def test_from_file_reads_a_key_file(tmp_path: Path) -> None:
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps(key_file()))
    assert ServiceAccount.from_file(path) == read()


def test_a_missing_file_names_its_path(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(ServiceAccountError, match=r"absent\.json"):
        ServiceAccount.from_file(path)
