"""Wiring: builds the running daemon from config, rules, store, sources, clients and pipeline.

This is the one module allowed to import every layer (the CLI calls it). Keeping the
assembly here is what lets the core stay free of transports and clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp

from autotoo.config.load import Credentials, LoadedConfig, load_config
from autotoo.config.models import Config, DirectorySource, HttpSource, KafkaSource, MqttSource
from autotoo.config.problems import ConfigError, ConfigProblem
from autotoo.config.yamlfile import load_yaml_file
from autotoo.exits import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from autotoo.logs import configure, get_logger
from autotoo.pipeline.settings import PipelineSettings
from autotoo.pipeline.transients import AssociationSettings
from autotoo.store.db import Database
from autotoo.store.errors import StoreError
from autotoo.store.postgres import is_postgresql, open_postgresql, redacted
from autotoo.store.repository import Repository
from autotoo.supervisor import (
    Component,
    Runtime,
    StartupError,
    Supervisor,
    resolve_state_path,
)
from autotoo.systemd import Notifier

if TYPE_CHECKING:
    from collections.abc import Callable

    from autotoo.pipeline.pruner import PrunerSettings

log = get_logger("autotoo")


def example_rules_dir() -> Path:
    """The example rules: packaged in the wheel, or the source tree's ``rules/``."""
    packaged = resources.files("autotoo").joinpath("examples", "rules")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "rules"


def embedded_config() -> Config:
    """``autotoo run`` without -c: dry-run, the example rules, a local drop folder."""
    return Config.model_validate(
        {
            "rules": [str(example_rules_dir() / "*.yaml")],
            "sources": [{"kind": "directory", "name": "spool"}],  # <state folder>/spool
        }
    )


def _rule_paths(loaded: LoadedConfig) -> list[str]:
    base = loaded.base_dir
    return [p if Path(p).is_absolute() else str(base / p) for p in loaded.config.rules]


def _rule_patterns_of_broken_config(path: Path) -> list[str]:
    """The ``rules:`` of a config that failed to load, read from its raw YAML, so that its
    rule files are still checked: one run of check-config lists every problem of every file."""
    try:
        data = load_yaml_file(path).data
    except ConfigError:
        return []  # the YAML itself is broken; load_config reported it
    patterns = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(patterns, list):
        return []
    base = path.parent
    return [p if Path(p).is_absolute() else str(base / p) for p in patterns if isinstance(p, str)]


def load_everything(
    path: Path | None,
    *,
    credentials: Credentials = Credentials.REQUIRE,
    credentials_dir: Path | None = None,
) -> tuple[LoadedConfig, Any]:
    """Config and rules, validated together: every problem of every file at once (the rule
    files of a config with problems are checked too). Warnings (credentials not checked,
    rules no subscription feeds) are in ``loaded.warnings``."""
    from autotoo.rules import load_rules  # noqa: PLC0415  CEL and jinja only when needed
    from autotoo.rules.accounts import unknown_account_problems  # noqa: PLC0415
    from autotoo.rules.feeds import unfed_rule_warnings  # noqa: PLC0415

    problems: list[ConfigProblem] = []
    loaded: LoadedConfig | None
    try:
        if path is None:
            loaded = LoadedConfig(embedded_config(), None)
        else:
            loaded = load_config(path, credentials=credentials, credentials_dir=credentials_dir)
    except ConfigError as exc:
        problems.extend(exc.problems)
        loaded = None
    if loaded is not None:
        rule_patterns = _rule_paths(loaded)
    else:
        assert path is not None  # the embedded defaults always load
        rule_patterns = _rule_patterns_of_broken_config(path)
    rules = None
    try:
        rules = load_rules(rule_patterns)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if rules is not None and loaded is not None:
        problems.extend(unknown_account_problems(loaded.config, rules))
    if problems:
        raise ConfigError(problems)
    assert loaded is not None
    assert rules is not None
    loaded.warnings.extend(unfed_rule_warnings(loaded.config, rules))
    return loaded, rules


def report_problems(exc: ConfigError) -> None:
    """Each problem as ``file:line:col: path: message`` on stderr, then a count."""
    for problem in exc.problems:
        print(problem, file=sys.stderr)  # noqa: T201 the operator reads these, not a log parser
    print(f"{len(exc.problems)} problem(s) found; nothing was started", file=sys.stderr)  # noqa: T201


def rules_schema() -> dict[str, Any]:
    from autotoo.rules import rules_json_schema  # noqa: PLC0415

    return rules_json_schema()


def pipeline_settings(loaded: LoadedConfig) -> PipelineSettings:
    cfg = loaded.config
    return PipelineSettings(
        mode=cfg.mode.value,
        too_per_day=cfg.budgets.too_per_day,
        account_too_per_day={
            name: account.too_per_day
            for name, account in cfg.accounts.items()
            if account.too_per_day is not None
        },
        topic_prefix=cfg.publish.mqtt.topic_prefix if cfg.publish.mqtt else None,
        webhook=loaded.secret("publish.webhook_url_file") is not None,
        swift_poll=cfg.swift.poll_interval,
        xrt_poll=cfg.ukssdc.poll_interval,
        xrt_polls_per_minute=cfg.ukssdc.polls_per_minute,
        xrt_max_active=cfg.ukssdc.max_active_jobs,
        max_alert_age=cfg.max_alert_age,
        max_clock_skew=cfg.max_clock_skew,
        retry_not_sent=cfg.pipeline.retry_not_sent,
        reconcile_delay=cfg.pipeline.reconcile_delay,
        lease=cfg.store.lease,
        association=association_settings(cfg),
    )


def _settings_of(runtime: Runtime) -> Callable[[], PipelineSettings]:
    """The running pipeline's settings, built once per loaded config (a reload replaces
    ``runtime.loaded``), not per call: the components ask a dozen times per alert, and
    building them took ~11 us each time."""
    built: list[tuple[LoadedConfig, PipelineSettings]] = []

    def settings() -> PipelineSettings:
        loaded = runtime.loaded
        if not built or built[0][0] is not loaded:
            built[:] = [(loaded, pipeline_settings(loaded))]
        return built[0][1]

    return settings


def association_settings(cfg: Config) -> AssociationSettings:
    """The config's transients section over the default windows (null drops a pair)."""
    from autotoo.pipeline.transients import DEFAULT_WINDOWS  # noqa: PLC0415

    section = cfg.transients
    windows = dict(DEFAULT_WINDOWS)
    for pair, window in section.windows.items():
        first, _, second = pair.partition("-")
        windows.pop(f"{second}-{first}", None)  # configured the other way round: replaced
        if window is None:
            windows.pop(pair, None)
        else:
            windows[pair] = window
    return AssociationSettings(
        enabled=section.associate,
        windows=windows,
        level=section.level,
        unstated_error_deg=section.unstated_error_deg,
    )


def pruner_settings(config: Config) -> PrunerSettings:
    """The retention policy and prune interval of ``store.retention``."""
    from autotoo.pipeline.pruner import PrunerSettings  # noqa: PLC0415
    from autotoo.store.retention import RetentionPolicy  # noqa: PLC0415

    retention = config.store.retention
    return PrunerSettings(
        RetentionPolicy.of(retention.default, retention.topics.items()), retention.prune_every
    )


def _tls(ca_file: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


def drop_folder(config: Config, source: DirectorySource) -> Path:
    """A drop folder's path: a relative one is inside the state file's folder, which the
    systemd unit lets the service write (ProtectSystem=strict forbids /var/spool)."""
    path = Path(source.path)
    return path if path.is_absolute() else resolve_state_path(config.state).parent / path


def skymap_cache_dir(config: Config) -> Path:
    """Where maps fetched from URLs are kept: ``skymaps.cache_dir``, a relative one inside the
    state file's folder (as drop folders: the one folder the systemd unit lets it write);
    by default ``skymaps/`` there. It survives restarts, so an alert evaluated again after a
    crash reads the map it was fetched for."""
    base = resolve_state_path(config.state).parent
    configured = config.skymaps.cache_dir
    path = Path(configured) if configured is not None else Path("skymaps")
    return path if path.is_absolute() else base / path


def use_skymap_cache(config: Config) -> None:
    """Make the process's sky maps (what the rules read) live in the config's cache."""
    from autotoo.alerts.skymaps import SKYMAPS  # noqa: PLC0415 off the CLI's --help path

    SKYMAPS.use_cache_dir(skymap_cache_dir(config))


def _skymap_port(config: Config, session: aiohttp.ClientSession) -> Any:
    """The processor's sky-map fetcher; none when ``skymaps.fetch`` is off."""
    use_skymap_cache(config)
    if not config.skymaps.fetch:
        return None
    from autotoo.adapters.skymaps import SkymapFetcher  # noqa: PLC0415

    return SkymapFetcher(
        session,
        timeout_s=config.skymaps.timeout.total_seconds(),
        max_bytes=config.skymaps.max_bytes,
    )


def make_drop_folders(config: Config) -> None:
    """Create the drop folders that live beside the state file (ours to create); one given
    by absolute path is the operator's, and a missing one is reported by its source."""
    for source in config.sources:
        if isinstance(source, DirectorySource) and not Path(source.path).is_absolute():
            drop_folder(config, source).mkdir(parents=True, exist_ok=True)


def build_sources(loaded: LoadedConfig) -> list[Any]:
    """Kafka, MQTT and directory sources (HTTP ingest is mounted on the admin server): the
    config's sections as the sources' settings, each built by ``sources.create_source``
    (which imports a transport only when one is configured)."""
    from autotoo.sources import SourceSettings, create_source  # noqa: PLC0415
    from autotoo.sources.settings import (  # noqa: PLC0415
        DirectorySettings,
        KafkaSettings,
        MqttSettings,
    )

    settings: list[SourceSettings] = []
    for index, src in enumerate(loaded.config.sources):
        name = src.name or f"{src.kind}-{index}"
        if isinstance(src, MqttSource):
            url = urlsplit(src.url)
            tls = url.scheme == "mqtts"
            settings.append(
                MqttSettings(
                    name=name,
                    host=url.hostname or "localhost",
                    port=url.port or (8883 if tls else 1883),
                    client_id=src.client_id,
                    topics=tuple(src.topics),
                    username=src.username,
                    password=loaded.secret(f"sources.{index}.password_file"),
                    tls=tls,
                    ca_file=Path(src.ca_file) if src.ca_file else None,
                    session_expiry=int(src.session_expiry.total_seconds()),
                    keepalive=int(src.keepalive.total_seconds()),
                    share_group=src.share_group,
                )
            )
        elif isinstance(src, KafkaSource):
            settings.append(
                KafkaSettings(
                    name=name,
                    group_id=src.group_id,
                    topics=tuple(src.topics),
                    domain=src.domain,
                    client_id=loaded.secret(f"sources.{index}.client_id_file"),
                    client_secret=loaded.secret(f"sources.{index}.client_secret_file"),
                    extra_config=dict(src.extra),
                )
            )
        elif isinstance(src, DirectorySource):
            settings.append(
                DirectorySettings(
                    name=name,
                    path=drop_folder(loaded.config, src),
                    topic=src.topic,
                    poll_interval=src.poll_interval.total_seconds(),
                )
            )
    return [create_source(one) for one in settings]


class SourceRunner:
    """A source as a supervisor component: ``run`` feeds the inbox until cancelled."""

    intake = True

    def __init__(self, source: Any, sink: Any) -> None:
        self.source = source
        self.sink = sink
        self.name = f"source:{source.name}"

    @property
    def health(self) -> Any:
        return self.source.health

    async def run(self) -> None:
        await self.source.run(self.sink)


# Built once at start; a reload swaps rules, mode, budgets and poll settings, not these.
# The named `accounts` are reloaded too: their clients are built when first used after the
# change (AccountClients).
RESTART_ONLY = ("state", "sources", "swift", "ukssdc", "publish", "admin", "log", "skymaps")
_RELOADABLE_IN_RESTART_ONLY = {
    "swift": {"poll_interval"},
    "ukssdc": {"poll_interval", "polls_per_minute", "max_active_jobs"},
}


def restart_only_changes(old: Config, new: Config) -> list[str]:
    """Top-level sections whose change a reload cannot apply (they take effect on restart)."""
    changed = []
    for section in RESTART_ONLY:
        skip = _RELOADABLE_IN_RESTART_ONLY.get(section, set())
        before = old.model_dump(include={section})[section]
        after = new.model_dump(include={section})[section]
        if isinstance(before, dict) and isinstance(after, dict):
            before = {k: v for k, v in before.items() if k not in skip}
            after = {k: v for k, v in after.items() if k not in skip}
        if before != after:
            changed.append(section)
    return changed


async def _reload(path: Path | None, runtime: Runtime) -> tuple[LoadedConfig, Any] | None:
    try:
        loaded, rules = load_everything(path)
    except ConfigError as exc:
        log.error(
            "reload refused; keeping the running configuration",
            problems=[str(p) for p in exc.problems],
        )
        return None
    for warning in loaded.warnings:
        log.warning("config warning", problem=str(warning))
    later = restart_only_changes(runtime.loaded.config, loaded.config)
    if later:
        log.warning("reloaded; these changes take effect at the next restart", sections=later)
    return loaded, rules


async def build_components(runtime: Runtime, stack: contextlib.AsyncExitStack) -> list[Component]:
    """Everything the daemon runs, built inside the event loop (aiohttp needs it)."""
    from autotoo.adapters.publish import MqttPublisher, WebhookPublisher  # noqa: PLC0415
    from autotoo.collector import QuietCollector  # noqa: PLC0415
    from autotoo.pipeline.intake import Inbox  # noqa: PLC0415
    from autotoo.pipeline.processor import Processor  # noqa: PLC0415
    from autotoo.pipeline.pruner import Pruner  # noqa: PLC0415
    from autotoo.pipeline.publisher import Publisher  # noqa: PLC0415
    from autotoo.pipeline.submitter import Submitter  # noqa: PLC0415
    from autotoo.pipeline.sweep import Sweep, log_settled  # noqa: PLC0415
    from autotoo.pipeline.tracker import Tracker  # noqa: PLC0415

    loaded = runtime.loaded
    cfg = loaded.config
    repo = runtime.repo
    repo.on_settled = log_settled

    settings = _settings_of(runtime)

    # No cookie jar: each Swift client keeps its own session cookie and sends it itself. A
    # shared jar would store every account's login cookie under the service's host name and
    # send the last one with every account's requests (aiohttp's jar wins over a Cookie
    # header): a TOO refused as "username does not match the logged-in user", or polled and
    # listed as another user.
    session = await stack.enter_async_context(
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
    )
    too, xrt, accounts = _remote_ports(runtime, session)
    publisher_wake = asyncio.Event()
    planning_lock = asyncio.Lock()  # processor vs submitter: see Submitter._submit
    submitter = Submitter(
        repo,
        settings=settings,
        too=too,
        xrt=xrt,
        accounts=accounts,
        planning_lock=planning_lock,
        on_notices=publisher_wake.set,
        instance=runtime.instance,
    )
    tracker = Tracker(
        repo,
        settings=settings,
        too=too,
        xrt=xrt,
        accounts=accounts,
        on_release=submitter.wake.set,
    )

    processor = Processor(
        repo,
        rules=lambda: runtime.rules,
        settings=settings,
        on_planned=submitter.wake.set,  # the submitter wakes the publisher in its turn
        foresee=submitter.foresee,
        planning_lock=planning_lock,
        skymaps=_skymap_port(cfg, session),
    )
    inbox = Inbox(repo, on_new=processor.notify_new)
    ports: dict[str, Any] = {}
    components: list[Any] = []
    if cfg.publish.mqtt is not None:
        url = urlsplit(cfg.publish.mqtt.url)
        tls = url.scheme == "mqtts"
        mqtt_pub = MqttPublisher(
            host=url.hostname or "localhost",
            port=url.port or (8883 if tls else 1883),
            client_id=cfg.publish.mqtt.client_id,
            username=cfg.publish.mqtt.username,
            password=loaded.secret("publish.mqtt.password_file"),
            tls_context=_tls(cfg.publish.mqtt.ca_file) if tls else None,
        )
        ports["mqtt"] = mqtt_pub
        components.append(mqtt_pub)
    webhook = loaded.secret("publish.webhook_url_file")
    if webhook is not None:
        ports["webhook"] = WebhookPublisher(session, webhook)
    publisher = Publisher(repo, ports, wake=publisher_wake)
    runtime.db.storage.listen(lambda why: publisher.announce(storage_notices(settings(), why)))
    sources = build_sources(loaded)
    components += [SourceRunner(s, inbox) for s in sources]
    if cfg.admin.enabled:
        # Only here: the admin server brings aiohttp.web, prometheus_client and the dashboard.
        from autotoo.admin import build_admin  # noqa: PLC0415

        admin = build_admin(
            runtime,
            sources=sources,
            inbox=inbox,
            processor=processor,
            problems=lambda: runtime.live_problems,
            settings=settings,
            on_approved=submitter.wake.set,
        )
        _mount_http_ingest(admin, loaded, inbox)
        components.append(admin)
    # The sweep repairs rows a crash left waiting for what has happened (at start, then
    # every few minutes); what it releases goes to the submitter, its notices out.
    sweep = Sweep(
        repo, settings=settings, on_release=submitter.wake.set, on_notices=publisher_wake.set
    )
    components += [processor, submitter, tracker, publisher, sweep]
    components.append(Pruner(repo, settings=lambda: pruner_settings(runtime.loaded.config)))
    components.append(
        QuietCollector(quiet=lambda: not (inbox.busy or processor.busy or submitter.busy))
    )
    return components


def storage_notices(settings: PipelineSettings, reason: str | None) -> list[Any]:
    """What the daemon says about its own store on every channel: ``needs_human`` when the
    disk refuses writes (intake paused; free space on it), ``resumed`` when it writes again.
    Event ``daemon``, rule ``storage``, action ``daemon``, so the usual topics carry it
    (``<prefix>/events/daemon`` retained)."""
    from autotoo.pipeline.notices import status_notices  # noqa: PLC0415

    return status_notices(
        prefix=settings.topic_prefix,
        channels=settings.channels(["mqtt", "webhook"]),
        event="daemon",
        rule="storage",
        action="daemon",
        state="needs_human" if reason is not None else "resumed",
        reason=f"intake paused: {reason}; free space there" if reason else "the store writes again",
    )


def _mount_http_ingest(admin: Any, loaded: LoadedConfig, inbox: Any) -> None:
    from autotoo.sources.http import setup_ingest_routes  # noqa: PLC0415
    from autotoo.sources.settings import HttpSettings  # noqa: PLC0415

    for index, src in enumerate(loaded.config.sources):
        if isinstance(src, HttpSource):
            token = loaded.secret(f"sources.{index}.token_file")
            assert token is not None  # load_config refused the file otherwise
            setup_ingest_routes(
                admin.app,
                inbox,
                HttpSettings(token=token, max_bytes=src.max_bytes, name=src.name or "http"),
            )


def _remote_ports(runtime: Runtime, session: aiohttp.ClientSession) -> tuple[Any, Any, Any]:
    """Clients only where something may be sent: dry-run builds (and imports) none."""
    if runtime.loaded.config.mode.value == "dry-run":
        return None, None, None
    from autotoo.adapters.clients import remote_ports  # noqa: PLC0415

    return remote_ports(runtime.loaded, lambda: runtime.loaded, session)


def where_things_are(config: Config) -> dict[str, Any]:
    """The state file, drop folders and admin URL, absolute: the first log line and
    ``autotoo status`` name them, so whoever started the daemon knows where to look and drop."""
    state: Any = resolve_state_path(config.state).absolute()
    if is_postgresql(config.state):
        assert config.state is not None
        state = redacted(config.state)
    folders = {
        src.name or f"directory-{index}": str(drop_folder(config, src).absolute())
        for index, src in enumerate(config.sources)
        if isinstance(src, DirectorySource)
    }
    admin = f"http://{config.admin.listen}/" if config.admin.enabled else None
    return {"state": str(state), "drop_folders": folders, "admin_url": admin}


def announce_upgrade(state_path: Path, notifier: Notifier) -> None:
    """Before opening a state file of an older schema: its upgrade may read the whole file
    (migration 4 rebuilds the inbox's index; ~11 s per GB), longer than systemd waits for
    READY=1 (TimeoutStartSec=90). A start that timed out would roll the upgrade back and
    begin again at every restart, so systemd is asked to wait (EXTEND_TIMEOUT_USEC) and the
    log says why the start is slow."""
    from autotoo.store.db import SCHEMA_VERSION, schema_version_of, upgrade_seconds  # noqa: PLC0415

    version = schema_version_of(state_path)
    if version is None or version >= SCHEMA_VERSION:
        return
    size = state_path.stat().st_size
    seconds = upgrade_seconds(size)
    log.warning(
        "upgrading the state file; the start waits for it",
        path=str(state_path),
        schema=f"{version} -> {SCHEMA_VERSION}",
        size_mb=round(size / 1e6, 1),
        up_to_s=round(seconds),
    )
    notifier.notify(
        f"EXTEND_TIMEOUT_USEC={int(seconds * 1e6)}",
        f"STATUS=upgrading the state file to schema {SCHEMA_VERSION} "
        f"({size / 1e6:.0f} MB, up to {seconds:.0f} s)",
    )


async def _main(path: Path | None, loaded: LoadedConfig, rules: Any) -> int:
    state_path = resolve_state_path(loaded.config.state)
    try:
        if is_postgresql(loaded.config.state):
            assert loaded.config.state is not None
            state_path = Path(redacted(loaded.config.state))
            db: Database = await open_postgresql(
                loaded.config.state,
                loaded.config.store.password_file,
                lease_s=loaded.config.store.lease.total_seconds(),
            )
        else:
            announce_upgrade(state_path, Notifier())
            db = await Database.open(state_path, compact=True)
    except StoreError as exc:
        log.error("cannot open the state store", error=str(exc), path=str(state_path))
        return EXIT_FAILURE
    cannot_start: list[str] = []
    try:
        make_drop_folders(loaded.config)
    except OSError as exc:
        log.error("cannot create the drop folder", error=str(exc))
        await db.close()
        return EXIT_FAILURE
    try:
        async with contextlib.AsyncExitStack() as stack:
            runtime = Runtime(loaded=loaded, rules=rules, db=db, repo=Repository(db))
            where = where_things_are(loaded.config)
            await runtime.repo.set_meta("drop_folders", json.dumps(where["drop_folders"]))
            await runtime.repo.set_meta("admin_url", where["admin_url"] or "")
            components = await build_components(runtime, stack)
            supervisor = Supervisor(
                runtime, components, reloader=lambda: _reload(path, runtime), notifier=Notifier()
            )
            try:
                await supervisor.run()
            except* StartupError as group:  # one line each, not the TaskGroup's traceback
                cannot_start += [str(exc) for exc in group.exceptions]
    finally:
        await db.close()
    if cannot_start:
        for reason in cannot_start:
            log.error("cannot start", reason=reason)
        return EXIT_FAILURE
    log.info("stopped")
    return EXIT_OK


def run_daemon(path: Path | None, *, log_level: str | None = None) -> int:
    try:
        loaded, rules = load_everything(path)
    except ConfigError as exc:
        report_problems(exc)
        return EXIT_CONFIG
    cfg = loaded.config
    configure(log_level or cfg.log.level, cfg.log.format)
    log.info(
        "autotoo starting",
        log_level=log_level or cfg.log.level,
        mode=cfg.mode.value,
        config=str(path) if path else "<embedded defaults>",
        nothing_is_sent=cfg.mode.value == "dry-run",
        rules=len(rules),
        **where_things_are(cfg),
    )
    for warning in loaded.warnings:
        log.warning("config warning", problem=str(warning))
    return asyncio.run(_main(path, loaded, rules))
