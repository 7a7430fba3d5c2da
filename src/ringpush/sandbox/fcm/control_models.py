"""The request bodies of the FCM sandbox's control API, as pydantic models.

Unknown keys are ignored, as in the APNs sandbox's control API; a wrong field is a
422 naming it (the app's error handler words it).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from ringpush.sandbox.fcm.android import DEFAULT_DOZE_DELAY, DEFAULT_NOTIFICATION_DEADLINE
from ringpush.sandbox.fcm.deprioritization import DEFAULT_MAX_MISSES

NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class _Body(BaseModel):
    # No Infinity or NaN: a delay or lifetime must be a real number of seconds.
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class ServiceAccountIn(_Body):
    """A service account to issue for a project (the project is made if new)."""

    project_id: NonEmpty = Field(examples=["ringpush-demo"])


class TokenIn(_Body):
    """A registration token to issue: an app (package) of a project on a new device."""

    package: NonEmpty = Field(examples=["com.example.app"])
    project_id: NonEmpty = Field(examples=["ringpush-demo"])
    name: NonEmpty | None = Field(default=None, description="The device's name; made up if absent.")


class DeviceIn(TokenIn):
    """A simulated Android device, with the deprioritization model's knobs."""

    online: StrictBool = True
    dozing: StrictBool = Field(default=True, description="Idle, screen off: normal waits.")
    notification_deadline: float = Field(
        default=DEFAULT_NOTIFICATION_DEADLINE,
        ge=0,
        description="Seconds a high-priority message has to lead to a notification.",
    )
    max_misses: int = Field(
        default=DEFAULT_MAX_MISSES,
        ge=1,
        description="Misses within 7 days after which high priority arrives as normal.",
    )
    doze_delay: float = Field(
        default=DEFAULT_DOZE_DELAY, ge=0, description="Seconds to the next Doze window."
    )

    def options(self) -> dict[str, Any]:
        return self.model_dump(exclude={"package", "project_id", "name"})


class StateIn(_Body):
    online: StrictBool | None = None
    dozing: StrictBool | None = None


class NotificationIn(_Body):
    full_screen: StrictBool = Field(
        default=True, description="The incoming call's full-screen notification."
    )


class LifetimeIn(_Body):
    seconds: float = Field(gt=0, description="Lifetime of access tokens issued from now on.")


class MessagesQuery(_Body):
    token: str | None = None
    project_id: str | None = None
    name: str | None = None
