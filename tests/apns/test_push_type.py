"""Push types: topic suffixes, priorities and payload limits (docs/apns.md §2, §3)."""

from __future__ import annotations

import pytest

from ringpush.apns.push_type import PushType

BUNDLE = "com.example.app"


@pytest.mark.parametrize(
    ("push_type", "topic"),
    [
        (PushType.ALERT, "com.example.app"),
        (PushType.BACKGROUND, "com.example.app"),
        (PushType.VOIP, "com.example.app.voip"),
        (PushType.COMPLICATION, "com.example.app.complication"),
        (PushType.FILEPROVIDER, "com.example.app.pushkit.fileprovider"),
        (PushType.LOCATION, "com.example.app.location-query"),
        (PushType.LIVEACTIVITY, "com.example.app.push-type.liveactivity"),
        (PushType.PUSHTOTALK, "com.example.app.voip-ptt"),
        (PushType.WIDGETS, "com.example.app.push-type.widgets"),
        (PushType.CONTROLS, "com.example.app.push-type.controls"),
    ],
)
def test_topic_is_derived_from_bundle_id_and_push_type(push_type: PushType, topic: str) -> None:
    assert push_type.topic_for(BUNDLE) == topic


@pytest.mark.parametrize(
    ("topic", "push_type"),
    [
        ("com.example.app.voip", PushType.VOIP),
        ("com.example.app.voip-ptt", PushType.PUSHTOTALK),
        ("com.example.app.pushkit.fileprovider", PushType.FILEPROVIDER),
        ("com.example.app", PushType.ALERT),
        ("com.other.voip", None),
        ("com.example.app.unknown", None),
    ],
)
def test_topic_maps_back_to_its_push_type(topic: str, push_type: PushType | None) -> None:
    """The longer .voip-ptt suffix is not mistaken for .voip."""
    assert PushType.for_topic(topic, BUNDLE) is push_type


def test_voip_gets_the_5120_byte_limit_and_others_4096() -> None:
    assert PushType.VOIP.payload_limit == 5120
    for push_type in PushType:
        if push_type is not PushType.VOIP:
            assert push_type.payload_limit == 4096, push_type


def test_background_pushes_allow_only_priority_5() -> None:
    """Apple calls priority 10 for a background push an error."""
    assert PushType.BACKGROUND.allows_priority(5)
    assert not PushType.BACKGROUND.allows_priority(10)
    assert PushType.BACKGROUND.default_priority == 5


def test_voip_defaults_to_priority_10() -> None:
    assert PushType.VOIP.default_priority == 10
    assert not PushType.VOIP.allows_priority(7)


def test_token_only_types_are_marked() -> None:
    assert PushType.FILEPROVIDER.rules.token_auth_only
    assert PushType.LOCATION.rules.token_auth_only
    assert PushType.LIVEACTIVITY.rules.token_auth_only
    assert not PushType.VOIP.rules.token_auth_only
    assert PushType.MDM.rules.certificate_only
