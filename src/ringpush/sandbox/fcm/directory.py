"""The sandbox's simulated Android devices and which token belongs to which.

Every token the sandbox issues belongs to a device, even one made by a bare
``issue_token`` (a device without app code): so uninstalling, refreshing, the
deprioritization state and the control API's device list work the same for all. It is
the devices' :class:`~ringpush.sandbox.fcm.android.DeviceOwner`, and hands each
accepted message to the device its token belongs to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ringpush.sandbox.fcm.accounts import Projects
from ringpush.sandbox.fcm.android import AndroidDevice
from ringpush.sandbox.fcm.records import MessageRecord
from ringpush.sandbox.fcm.registrations import EndReason, Registrations, check_package


class DeviceDirectory:
    def __init__(
        self, registrations: Registrations, projects: Projects, clock: Callable[[], float]
    ) -> None:
        self._registrations = registrations
        self._projects = projects
        self.clock = clock
        self._devices: dict[str, AndroidDevice] = {}
        self._by_token: dict[str, AndroidDevice] = {}

    def create(
        self, name: str | None, package: str, project_id: str, **options: Any
    ) -> AndroidDevice:
        """A device with ``package`` of ``project_id`` installed (it has a token at once).

        ``options`` are :class:`AndroidDevice`'s (online, dozing, notification_deadline,
        max_misses, doze_delay). Raises ValueError for a taken name or a bad package or
        project id.
        """
        name = name or self._free_name()
        if name in self._devices:
            raise ValueError(f"a device named {name!r} exists")
        check_package(package)
        self._projects.ensure(project_id)
        device = AndroidDevice(self, name, package, project_id, **options)
        self._devices[name] = device
        return device

    def _free_name(self) -> str:
        number = len(self._devices) + 1
        while f"android-{number}" in self._devices:
            number += 1
        return f"android-{number}"

    # -- DeviceOwner ----------------------------------------------------------------------

    def issue(self, device: AndroidDevice) -> str:
        registration = self._registrations.issue(
            device.project_id, device.package, device.instance_id, self.clock()
        )
        self._by_token[registration.token] = device
        return registration.token

    def end(self, token: str, reason: EndReason) -> None:
        self._registrations.end(token, reason, self.clock())
        self._by_token.pop(token, None)

    # -- lookups ----------------------------------------------------------------------------

    def get(self, name: str) -> AndroidDevice | None:
        return self._devices.get(name)

    def for_token(self, token: str) -> AndroidDevice | None:
        """The device a live token belongs to."""
        return self._by_token.get(token)

    def all(self) -> list[AndroidDevice]:
        return list(self._devices.values())

    def accepted(self, record: MessageRecord) -> None:
        device = self._by_token.get(record.token) if record.token else None
        if device is not None:
            device.receive(record)

    def close(self) -> None:
        for device in self._devices.values():
            device.close()
