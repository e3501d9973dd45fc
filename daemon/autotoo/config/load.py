"""Load the daemon config: YAML -> pydantic -> secrets read from credential files.

Every problem (bad YAML, wrong type, unknown key, a credential file that is missing or empty,
an unsafe combination such as ``mode: live`` without Swift credentials) is collected and
raised together in one :class:`ConfigError`, each with its file:line:col.
"""

from __future__ import annotations

import enum
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from autotoo.config.models import Config, Mode
from autotoo.config.problems import ConfigError, ConfigProblem
from autotoo.config.validate import validate_document
from autotoo.config.yamlfile import PathKey, YamlDocument, load_yaml_file
from autotoo.credentials import (
    CREDENTIALS_DIRECTORY,
    CredentialError,
    CredentialsDirectoryUnsetError,
    read_credential,
)
from autotoo.logs import register_secret

EMBEDDED = "<embedded defaults>"


class Credentials(enum.Enum):
    """How much of the credential files a command needs.

    ``REQUIRE``: the daemon reads every secret; a missing one stops the start.
    ``WHERE_AVAILABLE``: ``check-config`` reads those it can find; a bare name without
    ``$CREDENTIALS_DIRECTORY`` (any shell outside the service) is a warning that it was not
    checked, since only systemd sets that variable. ``SKIP``: commands that send nothing
    (``replay``, ``check-config --no-credentials``) read none.
    """

    REQUIRE = "require"
    WHERE_AVAILABLE = "where-available"
    SKIP = "skip"


@dataclass(slots=True)
class LoadedConfig:
    config: Config
    path: Path | None
    secrets: dict[str, SecretStr] = field(default_factory=dict)  # dotted path -> value
    # Problems that do not stop anything (a credential not checked, a rule nothing feeds):
    # check-config prints them, the daemon logs them at start.
    warnings: list[ConfigProblem] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        """Relative paths in the config (rules, state) resolve against the config's folder."""
        return self.path.parent if self.path else Path.cwd()

    def secret(self, dotted_path: str) -> SecretStr | None:
        return self.secrets.get(dotted_path)


def _get(data: Any, *path: str | int) -> Any:
    for seg in path:
        if isinstance(data, dict) and isinstance(seg, str):
            data = data.get(seg)
        elif isinstance(data, list) and isinstance(seg, int) and seg < len(data):
            data = data[seg]
        else:
            return None
    return data


_SOURCE_SECRETS = ("password_file", "client_id_file", "client_secret_file", "token_file")


def _secret_refs(data: Any) -> list[tuple[PathKey, str]]:
    """Every ``*_file`` credential reference, read from the raw data so that a missing secret
    is reported even when other parts of the file are invalid."""
    refs: list[tuple[PathKey, str]] = []
    sources = _get(data, "sources")
    for index in range(len(sources) if isinstance(sources, list) else 0):
        refs.extend(
            ((("sources", index, name), _get(sources, index, name))) for name in _SOURCE_SECRETS
        )
    refs.append((("swift", "shared_secret_file"), _get(data, "swift", "shared_secret_file")))
    accounts = _get(data, "accounts")
    for name in accounts if isinstance(accounts, dict) else {}:
        if isinstance(name, str):
            key = ("accounts", name, "swift_shared_secret_file")
            refs.append((key, _get(data, *key)))
    refs.append(
        (("publish", "mqtt", "password_file"), _get(data, "publish", "mqtt", "password_file"))
    )
    refs.append((("publish", "webhook_url_file"), _get(data, "publish", "webhook_url_file")))
    refs.append((("admin", "token_file"), _get(data, "admin", "token_file")))
    refs.append((("store", "password_file"), _get(data, "store", "password_file")))
    return [(path, value) for path, value in refs if isinstance(value, str) and value]


def _loopback(listen: str) -> bool:
    """``host:port`` names this machine only (``localhost``, 127.0.0.0/8, ``[::1]``); a
    malformed value is the schema's to report, not this check's."""
    host, sep, _port = listen.rpartition(":")
    if not sep:
        return True
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # any other name may resolve to a public address


def _semantic_problems(data: Any, doc: YamlDocument) -> list[ConfigProblem]:
    """Rules across keys, checked on the raw data (best effort) so they join the schema's."""
    problems = []
    mode = _get(data, "mode")
    if mode in {Mode.DEBUG.value, Mode.LIVE.value} and (
        _get(data, "swift", "username") in {None, "anonymous"}
        or not _get(data, "swift", "shared_secret_file")
    ):
        problems.append(
            doc.problem(
                ("mode",),
                f"mode {mode} submits to Swift: set swift.username and "
                "swift.shared_secret_file (anonymous users cannot submit TOOs)",
            )
        )
    listen = _get(data, "admin", "listen")
    if (
        isinstance(listen, str)
        and _get(data, "admin", "enabled") is not False
        and _get(data, "admin", "allow_remote") is not True
        and not _loopback(listen)
    ):
        problems.append(
            doc.problem(
                ("admin", "listen"),
                f"{listen} is not a loopback address, and the admin server has no "
                "authentication: listen on 127.0.0.1 or ::1, or set admin.allow_remote: true",
            )
        )
    sources = _get(data, "sources")
    names = [_get(s, "name") for s in sources] if isinstance(sources, list) else []
    for index, name in enumerate(names):
        if name is not None and names.count(name) > 1 and names.index(name) != index:
            problems.append(doc.problem(("sources", index, "name"), "source names must be unique"))
    return problems


def load_config(
    path: Path | None,
    *,
    environ: Mapping[str, str] | None = None,
    credentials: Credentials = Credentials.REQUIRE,
    credentials_dir: Path | None = None,
) -> LoadedConfig:
    """Load and check ``path`` (``None``: the embedded defaults, dry-run and local only).

    ``credentials_dir`` stands in for ``$CREDENTIALS_DIRECTORY`` (``check-config
    --credentials-dir /etc/autotoo/credentials`` checks the files the unit would load).
    """
    if path is None:
        return LoadedConfig(Config(), None)
    doc = load_yaml_file(path)
    if doc.data is None:
        doc.data = {}
    problems = _semantic_problems(doc.data, doc)
    warnings: list[ConfigProblem] = []
    secrets: dict[str, SecretStr] = {}
    if credentials_dir is not None:
        environ = {**(os.environ if environ is None else environ)}
        environ[CREDENTIALS_DIRECTORY] = str(credentials_dir)
    refs = [] if credentials is Credentials.SKIP else _secret_refs(doc.data)
    for key_path, name in refs:
        try:
            value = read_credential(name, environ)
        except CredentialsDirectoryUnsetError:
            if credentials is Credentials.REQUIRE:
                problems.append(doc.problem(key_path, _unset_message(name)))
            else:
                warnings.append(doc.problem(key_path, _not_checked_message(name)))
            continue
        except CredentialError as exc:
            problems.append(doc.problem(key_path, str(exc)))
            continue
        register_secret(value.get_secret_value())
        secrets[".".join(map(str, key_path))] = value
    try:
        config = validate_document(Config, doc)
    except ConfigError as exc:
        raise ConfigError(problems + exc.problems) from None
    if problems:
        raise ConfigError(problems)
    return LoadedConfig(config, path, secrets, warnings)


def _unset_message(name: str) -> str:
    return (
        f"credential {name!r} cannot be read: it is a bare name and ${CREDENTIALS_DIRECTORY} is "
        "not set (systemd sets it from the unit's LoadCredential= lines; outside systemd give "
        "an absolute path)"
    )


def _not_checked_message(name: str) -> str:
    return (
        f"warning: credential {name!r} not checked: ${CREDENTIALS_DIRECTORY} is not set "
        "(systemd sets it for the service only); --credentials-dir DIR checks the files in "
        "DIR, --no-credentials skips this check"
    )


def config_json_schema() -> dict[str, object]:
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "autotoo configuration"
    return schema
