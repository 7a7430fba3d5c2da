"""Why a push got no answer from APNs: a closed set, so metrics and logs never carry an
empty or free-form reason for a transport failure."""

from __future__ import annotations

import ssl
from enum import StrEnum


class TransportFailure(StrEnum):
    """The kind of failure behind a result with no HTTP status."""

    #: TCP could not be opened: nothing listens, the host is unreachable.
    CONNECT_FAILED = "connect_failed"
    #: TCP was opened but TLS failed: handshake refused, certificate not trusted.
    TLS_FAILED = "tls_failed"
    #: TCP + TLS did not complete within the connect timeout (a peer that never answers).
    CONNECT_TIMEOUT = "connect_timeout"
    #: The push was written but not answered within the request timeout.
    TIMEOUT = "timeout"
    #: The connection dropped with the push in flight.
    CONNECTION_LOST = "connection_lost"
    #: The peer reset the push's stream without processing it (REFUSED_STREAM and kin):
    #: it may be sent again, after a backoff.
    STREAM_RESET = "stream_reset"
    #: The peer reset the push's stream as malformed (PROTOCOL_ERROR and kin): sending
    #: the same request again would get the same answer, so it is a final failure.
    STREAM_PROTOCOL_ERROR = "stream_protocol_error"
    #: The client was closed before the push was answered.
    CLIENT_CLOSED = "client_closed"


#: RST_STREAM error codes (RFC 9113 §7) that say the request itself is at fault.
_REQUEST_AT_FAULT = frozenset({0x1, 0x3, 0x6, 0x9})  # PROTOCOL, FLOW_CONTROL, FRAME_SIZE,
# COMPRESSION


def reset_failure(error_code: int) -> TransportFailure:
    """Classify a stream the peer reset, by its error code."""
    if error_code in _REQUEST_AT_FAULT:
        return TransportFailure.STREAM_PROTOCOL_ERROR
    return TransportFailure.STREAM_RESET


def connect_failure(exc: BaseException) -> TransportFailure:
    """Classify an exception from opening a TLS connection."""
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return TransportFailure.TLS_FAILED
    if isinstance(exc, TimeoutError):
        return TransportFailure.CONNECT_TIMEOUT
    if isinstance(exc, ConnectionResetError | BrokenPipeError | EOFError):
        # Accepted, then dropped during the handshake: the peer refuses TLS.
        return TransportFailure.TLS_FAILED
    return TransportFailure.CONNECT_FAILED
