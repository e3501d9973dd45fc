"""Load the daemon config: YAML -> pydantic -> secrets read from credential files.

Every problem (bad YAML, wrong type, unknown key, a credential file that is missing or empty,
an unsafe combination such as ``mode: live`` without Swift credentials) is collected and
raised together in one :class:`ConfigError`, each with its file:line:col.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from autotoo.config.models import Config, Mode
from autotoo.config.problems import ConfigError, ConfigProblem
from autotoo.config.validate import validate_document
from autotoo.config.yamlfile import PathKey, YamlDocument, load_yaml_file
from autotoo.credentials import CredentialError, read_credential
from autotoo.logs import register_secret

EMBEDDED = "<embedded defaults>"


@dataclass(slots=True)
class LoadedConfig:
    config: Config
    path: Path | None
    secrets: dict[str, SecretStr] = field(default_factory=dict)  # dotted path -> value

    @property
    def base_dir(self) -> Path:
        """Relative paths in the config (rules, state) resolve against the config's folder."""
        return self.path.parent if self.path else Path.cwd()

    def secret(self, dotted_path: str) -> SecretStr | None:
        return self.secrets.get(dotted_path)


def _secret_refs(config: Config) -> list[tuple[PathKey, str]]:
    refs: list[tuple[PathKey, str]] = []
    for index, source in enumerate(config.sources):
        for name in ("password_file", "client_id_file", "client_secret_file", "token_file"):
            value = getattr(source, name, None)
            if value:
                refs.append((("sources", index, name), value))
    if config.swift.shared_secret_file:
        refs.append((("swift", "shared_secret_file"), config.swift.shared_secret_file))
    if config.publish.mqtt and config.publish.mqtt.password_file:
        refs.append((("publish", "mqtt", "password_file"), config.publish.mqtt.password_file))
    if config.publish.webhook_url_file:
        refs.append((("publish", "webhook_url_file"), config.publish.webhook_url_file))
    return refs


def _semantic_problems(config: Config, doc: YamlDocument) -> list[ConfigProblem]:
    problems = []
    if config.mode is not Mode.DRY_RUN and (
        config.swift.username == "anonymous" or not config.swift.shared_secret_file
    ):
        problems.append(
            doc.problem(
                ("mode",),
                f"mode {config.mode.value} submits to Swift: set swift.username and "
                "swift.shared_secret_file (anonymous users cannot submit TOOs)",
            )
        )
    names = [s.name for s in config.sources if s.name]
    for index, source in enumerate(config.sources):
        if source.name and names.count(source.name) > 1:
            problems.append(doc.problem(("sources", index, "name"), "source names must be unique"))
    return problems


def load_config(path: Path | None, *, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Load and check ``path`` (``None``: the embedded defaults, dry-run and local only)."""
    if path is None:
        return LoadedConfig(Config(), None)
    doc = load_yaml_file(path)
    if doc.data is None:
        doc.data = {}
    config = validate_document(Config, doc)
    problems = _semantic_problems(config, doc)
    loaded = LoadedConfig(config, path)
    for key_path, name in _secret_refs(config):
        try:
            value = read_credential(name, environ)
        except CredentialError as exc:
            problems.append(doc.problem(key_path, str(exc)))
            continue
        register_secret(value.get_secret_value())
        loaded.secrets[".".join(map(str, key_path))] = value
    if problems:
        raise ConfigError(problems)
    return loaded


def config_json_schema() -> dict[str, object]:
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "autotoo configuration"
    return schema
