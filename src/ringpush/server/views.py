"""Stored values as the API shows them: secrets never, tokens masked."""

from __future__ import annotations

import json

from ringpush.registry.call_models import Call
from ringpush.registry.models import App, Device
from ringpush.registry.outbox_models import OutboxPush
from ringpush.server.schemas import AppOut, CallOut, DeliveryOut, DeviceOut


def _fcm_identity(app: App) -> dict[str, str]:
    """What may be shown of the FCM service account: whose it is, never its key."""
    if app.fcm_service_account is None:
        return {}
    account = json.loads(app.fcm_service_account)
    return {
        "fcm_project_id": account["project_id"],
        "fcm_client_email": account["client_email"],
        "fcm_key_id": account["private_key_id"],
    }


def app_out(app: App) -> AppOut:
    identity = _fcm_identity(app)
    return AppOut(
        app_id=app.app_id,
        bundle_id=app.bundle_id,
        team_id=app.team_id,
        key_id=app.key_id,
        auth=app.auth,
        default_environment=app.default_environment,
        apns_url=app.apns_base_url,
        apns_url_development=app.apns_url_development,
        apns_url_production=app.apns_url_production,
        fcm_project_id=identity.get("fcm_project_id"),
        fcm_client_email=identity.get("fcm_client_email"),
        fcm_key_id=identity.get("fcm_key_id"),
        fcm_url=app.fcm_url,
        created_at=app.created_at,
        updated_at=app.updated_at,
    )


def device_out(device: Device) -> DeviceOut:
    return DeviceOut(
        device_id=device.device_id,
        user_id=device.user_id,
        platform=device.platform,
        push_type=device.push_type,
        token=device.masked_token,
        environment=device.environment,
        created_at=device.created_at,
        updated_at=device.updated_at,
        last_seen_at=device.last_seen_at,
    )


def delivery_out(push: OutboxPush) -> DeliveryOut:
    return DeliveryOut(
        push_id=push.push_id,
        app_id=push.app_id,
        call_id=push.call_id,
        user_id=push.user_id,
        device_id=push.device_id,
        push_type=push.push_type,
        environment=push.environment,
        apns_id=push.apns_id,
        state=push.state.value,
        attempts=push.attempts,
        status=push.status,
        reason=push.reason,
        updated_at=push.updated_at,
    )


def call_out(call: Call, deliveries: list[OutboxPush], withdrawn: int = 0) -> CallOut:
    return CallOut(
        call_id=call.call_id,
        state=call.state.value,
        caller_id=call.caller_id,
        caller_name=call.caller_name,
        callee_user_id=call.callee_user_id,
        video=call.video,
        ring_until=call.ring_until,
        end_reason=call.end_reason.value if call.end_reason else None,
        ended_by_device=call.ended_by_device,
        deliveries=[delivery_out(p) for p in deliveries],
        withdrawn=withdrawn,
    )
