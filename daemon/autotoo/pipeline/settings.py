"""The pipeline's settings: a plain snapshot the wiring builds from the config (and rebuilds
on reload), so the core never reads YAML models directly."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from autotoo.pipeline.transients import AssociationSettings

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    mode: str = "dry-run"  # dry-run | debug | live
    too_per_day: int = 5  # over every account
    # A named account's own cap on TOOs per 24 h (config `accounts.NAME.too_per_day`);
    # an account absent here has only the global one.
    account_too_per_day: Mapping[str, int] = field(default_factory=dict)
    topic_prefix: str | None = None  # None: MQTT publishing not configured
    webhook: bool = False
    swift_poll: timedelta = timedelta(minutes=2)
    xrt_poll: timedelta = timedelta(minutes=1)
    xrt_polls_per_minute: int = 30
    xrt_max_active: int = 5
    retry_not_sent: timedelta = timedelta(seconds=30)
    reconcile_delay: timedelta = timedelta(seconds=60)
    reconcile_checks: int = 2  # consecutive "not found" answers before resending
    reconcile_max_errors: int = 10  # listing failures before a human is asked
    # Several instances (store/leases.py): how long a claim on a submission lasts; longer
    # than a POST may take. A dead instance's rows are taken over after it.
    lease: timedelta = timedelta(seconds=30)
    idle: timedelta = timedelta(seconds=1)  # longest sleep when nothing is due
    max_alert_age: timedelta = timedelta(days=1)  # older alerts are never acted on
    max_clock_skew: timedelta = timedelta(minutes=5)  # later ones neither: impossible
    # The consistency sweep (pipeline/sweep.py) runs at start and then this often; a
    # constant, not configured: it repairs what should not exist, so it need not be quick.
    sweep_every: timedelta = timedelta(minutes=5)
    association: AssociationSettings = field(default_factory=AssociationSettings)

    @property
    def dry_run(self) -> bool:
        return self.mode == "dry-run"

    def channels(self, wanted: Sequence[str] | None) -> list[str]:
        """The notify channels a rule asked for that are configured."""
        available = {"mqtt"} if self.topic_prefix is not None else set()
        if self.webhook:
            available.add("webhook")
        return [c for c in (wanted if wanted is not None else ["mqtt"]) if c in available]
