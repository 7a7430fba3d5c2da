"""Device and app storage behind one interface (:class:`Registry`); SQLite by default.

Device tokens and signing keys are sealed with AES-GCM (:mod:`ringpush.registry.sealing`)
and found through keyed hashes, never through plaintext.
"""

from ringpush.registry.models import App, Device, Registration
from ringpush.registry.sealing import SealingError, SecretBox, load_secret_box
from ringpush.registry.sqlite import SqliteRegistry
from ringpush.registry.store import Registry, RegistryError, UnknownApp

__all__ = [
    "App",
    "Device",
    "Registration",
    "Registry",
    "RegistryError",
    "SealingError",
    "SecretBox",
    "SqliteRegistry",
    "UnknownApp",
    "load_secret_box",
]
