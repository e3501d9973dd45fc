"""Rule files as pydantic models: the schema users write ``rules/*.yaml`` against.

Every model forbids unknown keys (a typo is a located error, never a silently ignored
setting). Values of TOO fields, XRT parameters and notification texts are *literal or
template* (:data:`Value`): a string containing ``{{`` or ``{%`` is a Jinja2 template rendered
per alert. Conditions and templates are compiled, and literal values checked against the
field table in :mod:`autotoo.rules.fields`, by :mod:`autotoo.rules.engine` after this
structural validation, because only there are file positions at hand.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    create_model,
    field_validator,
    model_validator,
)

from autotoo.config.models import DEFAULT_ACCOUNT
from autotoo.durations import Duration
from autotoo.rules.fields import TOO_FIELDS, XRT_PRODUCTS, FieldSpec

Value = str | int | float | bool
RULE_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_RULE_NAME = re.compile(RULE_NAME_PATTERN)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(Strict):
    """Cheap filters applied before the condition. An absent or empty list matches anything."""

    topics: list[str] = Field(
        default_factory=list,
        description="Kafka topics; the MQTT spelling gcn/notices/... also matches; "
        "MQTT wildcards: + is one level, a final # the rest",
    )
    missions: list[str] = Field(default_factory=list, description="mission slugs, e.g. swift")
    notice_types: list[str] = Field(default_factory=list, description="parser notice types")
    kinds: list[Literal["initial", "update", "retraction"]] = Field(default_factory=list)
    instruments: list[str] = Field(default_factory=list, description="e.g. BAT, GBM, WXT")

    @field_validator("topics")
    @classmethod
    def _mqtt_wildcards(cls, topics: list[str]) -> list[str]:
        for topic in topics:
            levels = topic.replace("/", ".").split(".")
            for index, level in enumerate(levels):
                whole = level in {"+", "#"} and (level == "+" or index == len(levels) - 1)
                if any(c in level for c in "*?+#") and not whole:
                    raise ValueError(
                        f"{topic!r}: topic wildcards are MQTT-style and stand for whole levels: "
                        "+ for one level, a final # for the rest (e.g. gcn.classic.voevent.+, "
                        "gcn.notices.svom.#)"
                    )
        return topics


class Budget(Strict):
    max: int = Field(ge=0, description="at most this many TOOs from this rule per window")
    per: Duration = Field(default=timedelta(days=1), description="the sliding window")


class ExplicitPosition(Strict):
    ra: Value = Field(description="degrees, J2000")
    dec: Value = Field(description="degrees, J2000")
    poserr: Value = Field(default=0.0, description="90% error radius, arcmin")


class Resubmit(Strict):
    urgency: list[Annotated[int, Field(ge=0, le=4)]] = Field(
        min_length=1, description="resubmit at each of these urgencies in turn, then give up"
    )


class OnReject(Strict):
    constrained: Resubmit | None = Field(
        default=None, description="rejected because the target is not observable in time"
    )
    other: Resubmit | None = Field(default=None, description="rejected for any other reason")


class Visibility(Strict):
    """Swift is asked (VisQuery) when the target is next observable before the TOO is sent."""

    within: Duration = Field(
        description="the target must become observable within this long of the submission"
    )
    otherwise_urgency: int = Field(
        ge=0,
        le=4,
        description="the urgency sent when it does not (the reason is appended to "
        "the science justification)",
    )

    @field_validator("within")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("a time after the submission, e.g. 24h")
        return value


#: The XRT field of view: 23.6 arcmin across.
XRT_FOV_RADIUS_ARCMIN = 11.8


TilePattern = Literal[4, 7, 19, 37]


def _on_board() -> list[TilePattern]:
    return [4, 7]


class TooActionBase(Strict):
    """Policy keys of a TOO action; the request fields come from ``fields.TOO_FIELDS``."""

    position: Literal["alert", "best"] | ExplicitPosition = Field(
        default="alert",
        description="alert: this alert's position; best: the smallest error of the event so "
        "far; or explicit ra/dec/poserr",
    )
    on_reject: OnReject = Field(default_factory=OnReject)
    check_uvot_mode: bool = Field(
        default=False, description="check uvot_mode with the Swift API and fall back if invalid"
    )
    uvot_fallback: Value = Field(default=0x9999, description="UVOT mode used when the check fails")
    server_validate: bool = Field(default=False, description="validate on the server first")
    debug: bool = Field(default=False, description="send with the Swift API debug flag")
    if_swift_on_target: Literal["skip", "submit"] = Field(
        default="skip",
        description="before sending, Swift is asked whether it already serves the position (a "
        "recent TOO request by someone else, its planned or its flown timeline since the "
        "trigger): skip sends nothing and says why; submit sends anyway",
    )
    on_target_radius_arcmin: float = Field(
        default=XRT_FOV_RADIUS_ARCMIN,
        gt=0,
        le=600,
        description="how near a pointing or request must be to count (default: the XRT field "
        "of view)",
    )
    visibility: Visibility | None = Field(
        default=None, description="choose the urgency from when Swift can next observe the target"
    )
    cover: Literal["auto"] | None = Field(
        default=None,
        description="auto: choose one pointing, a tiling pattern or galaxy targets for the "
        "alert's region (docs/skymaps.md); absent: point at the position",
    )
    tile_patterns: list[TilePattern] = Field(
        default_factory=_on_board,
        min_length=1,
        description="tiling patterns cover may choose (4 and 7 are on board; 19 and 37 are "
        "planned by hand at Swift)",
    )
    galaxies: str | None = Field(
        default=None,
        description="galaxy catalogue, a CSV file or a FITS binary table (columns ra, dec, "
        "distance_mpc[, name, mass|luminosity]) for regions no pattern covers; relative to "
        "the rule file",
    )
    max_targets: int = Field(
        default=5, ge=1, le=100, description="at most this many galaxy targets"
    )
    weight_by_proxy: bool = Field(
        default=True, description="weight galaxies by the catalogue's mass or luminosity"
    )


def _describe(spec: FieldSpec) -> str:
    if not spec.choices:
        return spec.help
    return f"{spec.help} (one of: {', '.join(str(c) for c in spec.choices)}; or a template)"


if TYPE_CHECKING:
    TooAction = TooActionBase
else:
    TooAction = create_model(
        "TooAction",
        __base__=TooActionBase,
        __doc__="A Swift TOO request: policy keys plus every request field (literal or template).",
        **{
            name: (Value | None, Field(default=None, description=_describe(spec)))
            for name, spec in TOO_FIELDS.items()
        },
    )


def too_fields(action: TooActionBase) -> dict[str, Value]:
    """The request fields a rule set (the ones left out stay out of the request)."""
    return {name: v for name in TOO_FIELDS if (v := getattr(action, name, None)) is not None}


class Retry(Strict):
    every: Duration = Field(default=timedelta(minutes=10), description="retry interval")
    for_: Duration = Field(default=timedelta(hours=24), alias="for", description="give up after")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


ProductName = Literal[
    "LightCurve", "Spectrum", "StandardPos", "EnhancedPos", "AstromPos", "Image", "SourceDet"
]
assert set(get_args(ProductName)) == set(XRT_PRODUCTS)  # one list; the Literal is for the schema


class XrtAction(Strict):
    submit: Literal["immediately", "after_observation"] = Field(
        description="immediately: data already flow (Swift's own triggers); after_observation: "
        "once the TOO this rule submitted for the event has been observed"
    )
    globals_: dict[str, Value] = Field(default_factory=dict, alias="globals")
    products: dict[ProductName, dict[str, Value]] = Field(min_length=1)
    retry: Retry = Field(
        default_factory=Retry, description="while the service has no data yet, retry"
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Channel = Literal["mqtt", "webhook"]


class NotifyChannel(Strict):
    channel: Channel
    text: str | None = Field(default=None, description="message text (template) for webhooks")


def _channel_shorthand(value: object) -> object:
    """``mqtt`` is short for ``{channel: mqtt}``."""
    return {"channel": value} if isinstance(value, str) else value


NotifyItem = Annotated[
    NotifyChannel,
    BeforeValidator(_channel_shorthand, json_schema_input_type=Channel | NotifyChannel),
]


APPROVAL_WINDOW = timedelta(hours=2)
"""The default ``approve.within``: long enough for the person on duty to be reached and to
look (a page, a phone, a laptop), short enough that a request approved late still serves its
science (an X-ray afterglow fades about tenfold between one and ten hours) and that a
forgotten request never goes out hours after anyone last thought about it."""


class Approval(Strict):
    """The rule's requests wait for a person: ``autotoo jobs approve|deny ID`` or the
    dashboard. Not given within ``within`` of being asked, the request lapses unsent."""

    by: Literal["human"] = Field(default="human", description="who approves: a human")
    within: Duration = Field(
        default=APPROVAL_WINDOW,
        description="the request lapses (cancelled, not sent) when not approved within this",
    )

    @field_validator("within")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("an approval window must be longer than zero (e.g. 30m, 2h)")
        return value


def _approval_shorthand(value: object) -> object:
    """``approve: human`` is short for ``approve: {by: human}`` (the default window)."""
    return {"by": value} if isinstance(value, str) else value


ApproveItem = Annotated[
    Approval,
    BeforeValidator(_approval_shorthand, json_schema_input_type=Literal["human"] | Approval),
]


class Repoint(Strict):
    beyond_arcmin: float = Field(
        default=11.8,
        gt=0,
        description="a better position this far from the sent TOO's asks for a new pointing "
        "(default: the XRT field of view's radius)",
    )


class Rule(Strict):
    name: str = Field(
        description="unique across all rule files",
        json_schema_extra={"pattern": RULE_NAME_PATTERN},
    )
    description: str = ""
    enabled: bool = True
    match: Match = Field(default_factory=Match)
    when: str | None = Field(default=None, description="CEL condition; absent: always")
    accept_test: bool = Field(default=False, description="also act on test and mock alerts")
    settle: Duration | None = Field(
        default=None, description="wait this long for a better position before submitting"
    )
    once_per: Literal["transient", "event", "alert"] = Field(
        default="transient",
        description="transient: one request per source on the sky, whatever missions saw it, "
        "shared with other rules; event: one per mission's event; alert: one per alert",
    )
    priority: int = Field(
        default=0,
        description="when several rules want a request for one transient, the highest "
        "priority's is sent (ties: the first to match, then the rule name)",
    )
    repoint: Repoint | Literal[False] = Field(
        default_factory=Repoint,
        description="after the TOO is sent, a better position outside its field asks for a "
        "new pointing; false: never",
    )
    budget: Budget | None = None
    account: str = Field(
        default=DEFAULT_ACCOUNT,
        description="the account (config `accounts`) whose Swift credentials and UKSSDC user "
        "id send, list and poll the rule's requests; default: the config's swift and ukssdc",
    )
    approve: ApproveItem | None = Field(
        default=None,
        description="human: the rule's TOO and XRT requests wait for a person's approval",
    )
    too: TooAction | None = None
    xrt_products: XrtAction | None = None
    notify: list[NotifyItem] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _RULE_NAME.match(value):
            raise ValueError(
                "a rule name is 1-64 lower-case letters, digits, '.', '_' or '-', "
                "starting with a letter or digit (e.g. ep-wxt-bright)"
            )
        return value

    @field_validator("when")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("an empty condition: leave `when` out to match every alert")
        return value

    @model_validator(mode="after")
    def _approve_needs_requests(self) -> Rule:
        if self.approve is not None and self.too is None and self.xrt_products is None:
            raise ValueError("approve: this rule sends no request (no too, no xrt_products)")
        return self

    def channels(self) -> list[NotifyChannel]:
        return [
            c if isinstance(c, NotifyChannel) else NotifyChannel(channel=c) for c in self.notify
        ]


class RuleFile(Strict):
    rules: list[Rule] = Field(default_factory=list)
