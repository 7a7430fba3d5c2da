"""Which APNs environment a token belongs to: it must match how the app is signed.

A debug build is signed with a development provisioning profile (tokens for APNs's
development server), a release build with a distribution profile (production). The
automatic setting derives it from the build configuration, which the app states
explicitly: the SDK cannot guess it and a wrong guess would make every push fail.
"""

from __future__ import annotations

from enum import StrEnum

from ringpush.apns.environment import Environment


class ApsEnvironment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"
    AUTOMATIC = "automatic"


class BuildConfiguration(StrEnum):
    DEBUG = "debug"
    RELEASE = "release"


def resolve_environment(
    environment: ApsEnvironment | Environment | str,
    build: BuildConfiguration | str | None = None,
) -> Environment:
    """The APNs environment to register tokens with.

    >>> resolve_environment("automatic", "release").value
    'production'
    """
    try:
        chosen = ApsEnvironment(environment)
    except ValueError:
        raise ValueError(
            f"environment must be development, production or automatic, not {environment!r}"
        ) from None
    if chosen is not ApsEnvironment.AUTOMATIC:
        return Environment(chosen.value)
    if build is None:
        raise ValueError(
            "the automatic environment needs the build configuration (build='debug' or"
            " 'release'), as the app is signed"
        )
    try:
        configuration = BuildConfiguration(build)
    except ValueError:
        raise ValueError(f"build must be debug or release, not {build!r}") from None
    if configuration is BuildConfiguration.DEBUG:
        return Environment.DEVELOPMENT
    return Environment.PRODUCTION
