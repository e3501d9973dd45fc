"""The daemon's configuration file, as pydantic models (the schema users write against).

Every model forbids unknown keys, so a typo is an error with a line number, not a silently
ignored setting. Secrets are never values here: a ``*_file`` key names a credential file
(a bare name resolves in ``$CREDENTIALS_DIRECTORY``, as systemd's ``LoadCredential=`` sets it).
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from autotoo.durations import Duration


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Mode(StrEnum):
    DRY_RUN = "dry-run"  # decide and record; send nothing
    DEBUG = "debug"  # send with the Swift API's debug flag: acknowledged, no real TOO
    LIVE = "live"  # real submissions


def _check_url(value: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"expected a URL starting with {' or '.join(s + '://' for s in schemes)}")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError("the port in the URL is not a number from 0 to 65535") from None
    return value


class KafkaSource(Strict):
    kind: Literal["kafka"]
    name: str | None = None
    domain: Literal["gcn.nasa.gov", "test.gcn.nasa.gov"] = "gcn.nasa.gov"
    client_id_file: str | None = Field(
        default=None, description="credential file holding the GCN client id"
    )
    client_secret_file: str | None = Field(
        default=None, description="credential file holding the GCN client secret"
    )
    group_id: str = Field(min_length=1, description="Kafka consumer group: keep it stable")
    topics: list[str] = Field(min_length=1)
    extra: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="extra librdkafka settings (rarely needed)"
    )

    @model_validator(mode="after")
    def _credentials_together(self) -> KafkaSource:
        if (self.client_id_file is None) != (self.client_secret_file is None):
            raise ValueError(
                "give both client_id_file and client_secret_file (GCN), or neither (a broker "
                "without authentication, set through extra: bootstrap.servers)"
            )
        return self


class MqttSource(Strict):
    kind: Literal["mqtt"]
    name: str | None = None
    url: str = Field(description="mqtt://host:port or mqtts://host:port")
    client_id: str = Field(min_length=1, description="fixed: the broker keeps our session by it")
    username: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    topics: list[str] = Field(min_length=1)
    session_expiry: Duration = timedelta(days=1)
    keepalive: Duration = timedelta(seconds=60)
    share_group: str | None = Field(
        default=None,
        pattern=r"^[^/#+$]+$",
        description="several instances on one database: subscribe as $share/<group>/<topic>, "
        "so the broker gives each message to one instance of the group (each instance keeps "
        "its own client_id)",
    )

    _url = field_validator("url")(lambda v: _check_url(v, ("mqtt", "mqtts")))


class HttpSource(Strict):
    kind: Literal["http"]
    name: str | None = None
    token_file: str = Field(description="credential file holding the bearer token")
    max_bytes: int = Field(default=1_048_576, gt=0, le=16 * 1_048_576)


class DirectorySource(Strict):
    kind: Literal["directory"]
    name: str | None = None
    path: str = Field(
        default="spool",
        description="the drop folder; a relative path is inside the state file's folder "
        "(under systemd /var/lib/autotoo, the one place the unit lets the service write), "
        "which the daemon creates at start",
    )
    poll_interval: Duration = timedelta(seconds=1)
    topic: str | None = Field(
        default=None,
        description="topic of files dropped directly in the folder (default: the topic their "
        "payload names, else `directory`); a file in a sub-folder gets the sub-folder's name",
    )


Source = Annotated[
    KafkaSource | MqttSource | HttpSource | DirectorySource, Field(discriminator="kind")
]


class SwiftSettings(Strict):
    protocol: Literal["v2", "v1"] = "v2"
    base_url: str = "https://www.swift.psu.edu/api/v2"
    username: str = "anonymous"
    shared_secret_file: str | None = None
    timeout: Duration = timedelta(seconds=120)
    poll_interval: Duration = Field(
        default=timedelta(minutes=2), description="how often a submitted TOO is checked"
    )

    _url = field_validator("base_url")(lambda v: _check_url(v, ("http", "https")))


class UkssdcSettings(Strict):
    base_url: str = "https://www.swift.ac.uk/user_objects"
    user_id: str | None = Field(default=None, description="the e-mail address you registered")
    max_active_jobs: int = Field(default=5, ge=1, le=50)
    poll_interval: Duration = timedelta(seconds=60)
    polls_per_minute: int = Field(default=30, ge=1, description="global poll rate limit")
    timeout: Duration = timedelta(seconds=60)

    _url = field_validator("base_url")(lambda v: _check_url(v, ("http", "https")))


class MqttPublish(Strict):
    url: str = "mqtt://localhost:1883"
    topic_prefix: str = "autotoo"
    client_id: str | None = None
    username: str | None = None
    password_file: str | None = None
    ca_file: str | None = None

    _url = field_validator("url")(lambda v: _check_url(v, ("mqtt", "mqtts")))


class PublishSettings(Strict):
    mqtt: MqttPublish | None = None
    webhook_url_file: str | None = None


class AdminSettings(Strict):
    listen: str = Field(default="127.0.0.1:8470", description="host:port of the admin server")
    enabled: bool = True
    allow_remote: bool = Field(
        default=False,
        description="allow a listen address other than loopback: the admin server has no "
        "authentication, so anyone who can reach it can read the state and reload the daemon",
    )
    token_file: str | None = Field(
        default=None,
        description="credential file holding the bearer token the dashboard's approve and "
        "deny buttons send (a rule's approve: human); unset: those actions are refused",
    )

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("expected host:port, e.g. 127.0.0.1:8470")
        return value


class Budgets(Strict):
    too_per_day: int = Field(
        default=5, ge=0, description="global cap on TOOs per 24 h, over every account"
    )


#: The account of the top-level ``swift`` and ``ukssdc`` sections (a rule without ``account``).
DEFAULT_ACCOUNT = "default"
ACCOUNT_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_ACCOUNT_NAME = re.compile(ACCOUNT_NAME_PATTERN)


class Account(Strict):
    """Another Swift account (and UKSSDC user id), beside the default one of ``swift`` and
    ``ukssdc``: a rule names it with ``account:``. It shares the default's service settings
    (``swift.protocol``, ``base_url``, ``timeout``, poll intervals; ``ukssdc.base_url`` ...)."""

    swift_username: str = Field(min_length=1, description="the account's Swift TOO username")
    swift_shared_secret_file: str = Field(
        min_length=1,
        description="credential file holding the account's Swift shared secret (a bare name "
        "resolves in $CREDENTIALS_DIRECTORY: one LoadCredential= line per account)",
    )
    ukssdc_user_id: str | None = Field(
        default=None,
        description="the e-mail address the account's XRT jobs are submitted as; unset: "
        "ukssdc.user_id (the default account's)",
    )
    too_per_day: int | None = Field(
        default=None,
        ge=0,
        description="cap on this account's TOOs per 24 h (beside budgets.too_per_day, which "
        "counts every account's); unset: only the global cap",
    )


class PipelineTuning(Strict):
    """How long the submitter waits before retrying; the defaults suit the real services."""

    retry_not_sent: Duration = Field(
        default=timedelta(seconds=30),
        description="wait before resending a request that provably never reached the service",
    )
    reconcile_delay: Duration = Field(
        default=timedelta(seconds=60),
        description="wait before checking the remote listing for a request of unknown outcome",
    )


class RetentionSettings(Strict):
    """How long raw payloads are kept (docs/operations.md, "Raw payloads: retention")."""

    default: Duration | None = Field(
        default=None,
        description="how long a raw payload is kept when no pattern of `topics` matches its "
        "topic; null (the default): for ever",
    )
    topics: dict[str, Duration | None] = Field(
        default_factory=dict,
        description="topic glob pattern (`igwn.*`, `gcn.classic.voevent.*`) to how long its "
        "raw payloads are kept, null for ever; the first matching pattern in file order wins. "
        "The payloads of an event with a request, of an alert not yet evaluated and of an "
        "event that had an alert within the period are never pruned",
    )
    prune_every: Duration = Field(
        default=timedelta(hours=1),
        description="how often the daemon prunes, in small batches beside the pipeline",
    )

    @field_validator("default", "prune_every")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be longer than 0 seconds")
        return value

    @field_validator("topics")
    @classmethod
    def _positive_topics(cls, value: dict[str, timedelta | None]) -> dict[str, timedelta | None]:
        for pattern, keep in value.items():
            if keep is not None and keep <= timedelta(0):
                raise ValueError(f"{pattern}: must be longer than 0 seconds")
        return value


class SkymapSettings(Strict):
    """Sky maps published by URL (Fermi GBM, IceCube): fetched before an alert is evaluated,
    when a rule asks about regions (docs/skymaps.md)."""

    fetch: bool = Field(
        default=True,
        description="false: maps published by URL are never fetched; their alerts are "
        "evaluated with their circle or position, the decision saying why",
    )
    cache_dir: str | None = Field(
        default=None,
        description="where fetched maps are kept; a relative path is inside the state file's "
        "folder (default: skymaps/ there)",
    )
    timeout: Duration = Field(
        default=timedelta(seconds=30),
        description="the longest one fetch (download and decode) may hold up the evaluation "
        "of the alerts that arrived with it",
    )
    max_bytes: int = Field(
        default=64 * 1_048_576,
        gt=0,
        le=1024 * 1_048_576,
        description="a larger map is refused (checked against Content-Length and while reading)",
    )

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than 0 seconds")
        return value


class StoreSettings(Strict):
    retention: RetentionSettings = RetentionSettings()
    password_file: str | None = Field(
        default=None,
        description="a state: postgresql:// URL's password: a credential name or an absolute "
        "path (never in the URL)",
    )
    lease: Duration = Field(
        default=timedelta(seconds=30),
        description="several instances on one PostgreSQL database: how long an instance's "
        "claim on a submission lasts (longer than a POST may take); a dead instance's work is "
        "taken over after it",
    )

    @field_validator("lease")
    @classmethod
    def _positive_lease(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1 second")
        return value


class LogSettings(Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


_CLASSES = ("gw", "gw_burst", "grb", "xray", "neutrino")


class TransientSettings(Strict):
    """How events of different missions are associated into transients (docs/rules.md)."""

    associate: bool = Field(
        default=True, description="false: every event is a transient of its own"
    )
    windows: dict[str, tuple[float, float] | None] = Field(
        default_factory=dict,
        description="seconds, t(second) - t(first) for a pair of mission classes "
        f"'first-second' ({', '.join(_CLASSES)}), e.g. grb-xray: [-1200, 1200]; "
        "null: never associate the pair; the others keep their defaults",
    )
    level: float = Field(
        default=0.99, gt=0, lt=1, description="containment at which regions are compared"
    )
    unstated_error_deg: float = Field(
        default=1.0, gt=0, description="the radius taken for a position without a stated error"
    )

    @field_validator("windows")
    @classmethod
    def _pairs(
        cls, value: dict[str, tuple[float, float] | None]
    ) -> dict[str, tuple[float, float] | None]:
        for pair, window in value.items():
            first, _, second = pair.partition("-")
            if first not in _CLASSES or second not in _CLASSES:
                raise ValueError(
                    f"{pair!r}: a pair of mission classes 'first-second', each one of "
                    f"{', '.join(_CLASSES)}"
                )
            if window is not None and not window[0] < window[1]:
                raise ValueError(f"{pair}: the window's start must come before its end")
        return value


class Config(Strict):
    """The whole daemon configuration (``config/autotoo.yaml``)."""

    mode: Mode = Mode.DRY_RUN
    state: str | None = Field(
        default=None,
        description="sqlite:///path/state.db (default: $STATE_DIRECTORY or ./autotoo-state), "
        "or postgresql://user@host:port/database (the password in store.password_file; "
        "docs/postgresql.md)",
    )
    rules: list[str] = Field(default_factory=list, description="rule files or glob patterns")
    sources: list[Source] = Field(default_factory=list)
    swift: SwiftSettings = SwiftSettings()
    ukssdc: UkssdcSettings = UkssdcSettings()
    publish: PublishSettings = PublishSettings()
    admin: AdminSettings = AdminSettings()
    budgets: Budgets = Budgets()
    accounts: dict[str, Account] = Field(
        default_factory=dict,
        description="more Swift accounts by name, for rules that say `account: NAME`; the "
        "top-level swift and ukssdc sections are the account `default`",
    )
    log: LogSettings = LogSettings()
    pipeline: PipelineTuning = PipelineTuning()
    store: StoreSettings = StoreSettings()
    transients: TransientSettings = TransientSettings()
    skymaps: SkymapSettings = SkymapSettings()
    max_alert_age: Duration = Field(
        default=timedelta(days=1),
        description="alerts whose trigger (or issue) time is older are recorded and evaluated, "
        "but never acted on: a new Kafka consumer group first reads the days GCN keeps",
    )
    max_clock_skew: Duration = Field(
        default=timedelta(minutes=5),
        description="alerts whose trigger (or issue) time lies further in the future cannot be "
        "real: stored as unparsed with the reason, never evaluated or acted on",
    )
    shutdown_grace: Duration = Field(
        default=timedelta(seconds=20),
        description="how long SIGTERM waits for in-flight work to reach a durable state",
    )

    @field_validator("accounts")
    @classmethod
    def _account_names(cls, value: dict[str, Account]) -> dict[str, Account]:
        for name in value:
            if name == DEFAULT_ACCOUNT:
                raise ValueError(
                    f"{name!r}: the default account is the top-level swift and ukssdc "
                    "sections; give this one another name"
                )
            if not _ACCOUNT_NAME.match(name):
                raise ValueError(
                    f"{name!r}: an account name is 1-64 lower-case letters, digits, '.', '_' "
                    "or '-', starting with a letter or digit"
                )
        return value

    def account_names(self) -> list[str]:
        """Every account a rule may name: ``default`` first, then the configured ones."""
        return [DEFAULT_ACCOUNT, *self.accounts]

    @field_validator("state")
    @classmethod
    def _state_url(cls, value: str | None) -> str | None:
        if value is None or value.startswith("sqlite:///"):
            return value
        if not value.startswith("postgresql://"):
            raise ValueError(
                "expected sqlite:///path/to/state.db or postgresql://user@host:port/database"
            )
        try:
            password = urlsplit(value).password
        except ValueError as exc:
            raise ValueError(f"not a valid postgresql:// URL: {exc}") from None
        if password is not None:
            raise ValueError(
                "a password does not belong in the config: put it in a credential file "
                "named by store.password_file"
            )
        return value
