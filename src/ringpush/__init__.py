"""ringpush: a push backend that wakes phones for calls.

The protocol core lives in :mod:`ringpush.apns`; a faithful local APNs lives in
:mod:`ringpush.sandbox`.
"""

__version__ = "0.1.0"
