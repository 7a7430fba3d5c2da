"""Device and app storage behind one interface (:class:`Registry`), in SQL: SQLite by
default, PostgreSQL for several instances (:func:`open_registry` picks by URL).

Device tokens and signing keys are sealed with AES-GCM (:mod:`ringpush.registry.sealing`)
and found through keyed hashes, never through plaintext.
"""

from ringpush.registry.connect import open_registry
from ringpush.registry.models import App, Device, Registration
from ringpush.registry.sealing import SealingError, SecretBox, load_secret_box
from ringpush.registry.sql_registry import SqlRegistry
from ringpush.registry.store import Registry, RegistryError

__all__ = [
    "App",
    "Device",
    "Registration",
    "Registry",
    "RegistryError",
    "SealingError",
    "SecretBox",
    "SqlRegistry",
    "load_secret_box",
    "open_registry",
]
