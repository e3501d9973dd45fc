"""Secrets from files: systemd credentials (``LoadCredential=``) or absolute paths.

A relative name is looked up in ``$CREDENTIALS_DIRECTORY``, which systemd sets to a private
read-only directory for the service; an absolute path is read as is (development, other
supervisors). The value comes back as a :class:`pydantic.SecretStr` so it never shows in a
repr or a log line, and errors name the credential, never its content.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

CREDENTIALS_DIRECTORY = "CREDENTIALS_DIRECTORY"


class CredentialError(Exception):
    """A credential is missing, unreadable or empty. The message never contains the secret."""


class CredentialsDirectoryUnsetError(CredentialError):
    """A bare credential name, but no ``$CREDENTIALS_DIRECTORY`` to look it up in.

    Outside the service this is the normal case (systemd sets the variable only for the
    service), so ``check-config`` reports it as a credential it could not check, not as a
    broken config; the daemon itself cannot start without the secret.
    """


def credential_path(name_or_path: str, environ: Mapping[str, str] | None = None) -> Path:
    """Where ``name_or_path`` lives; relative names must be plain names (no ``/``, no ``..``)."""
    path = Path(name_or_path)
    if path.is_absolute():
        return path
    if not name_or_path or "/" in name_or_path or name_or_path in {".", ".."}:
        raise CredentialError(
            f"credential name {name_or_path!r} must be a plain name or an absolute path"
        )
    env = os.environ if environ is None else environ
    directory = env.get(CREDENTIALS_DIRECTORY)
    if not directory:
        raise CredentialsDirectoryUnsetError(
            f"credential {name_or_path!r} is a relative name but ${CREDENTIALS_DIRECTORY} is "
            "not set (use LoadCredential= in the systemd unit, or give an absolute path)"
        )
    return Path(directory) / name_or_path


def read_credential(name_or_path: str, environ: Mapping[str, str] | None = None) -> SecretStr:
    """Read one secret; one trailing newline (as ``echo`` writes it) is stripped."""
    path = credential_path(name_or_path, environ)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CredentialError(f"credential {name_or_path!r} not found at {path}") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CredentialError(f"credential {name_or_path!r} unreadable: {reason}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CredentialError(f"credential {name_or_path!r} is not UTF-8 text") from None
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text:
        raise CredentialError(f"credential {name_or_path!r} at {path} is empty")
    return SecretStr(text)
