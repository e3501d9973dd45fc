"""Rules that no subscription can feed: a warning, not an error.

A rule whose ``match.topics`` overlaps none of the Kafka or MQTT subscriptions can never fire
from the streams (the example config once subscribed to ``icecube.lvk_nu_track_search`` while
its IceCube rule matched ``icecube.gold_bronze_track_alerts``). It is not an error: a drop
folder or an HTTP post can still feed it, and a rule may be kept for later. A config with no
subscription at all (the embedded defaults: a drop folder only) is fed by hand, so it is not
checked.
"""

from __future__ import annotations

from autotoo.alerts.topics import topics_overlap
from autotoo.config.models import Config, KafkaSource, MqttSource
from autotoo.config.problems import ConfigProblem
from autotoo.rules.compiled import RuleSet


def unfed_rule_warnings(config: Config, rules: RuleSet) -> list[ConfigProblem]:
    """One warning per rule whose topics no Kafka or MQTT source subscribes to."""
    subscribed = [
        topic
        for source in config.sources
        if isinstance(source, KafkaSource | MqttSource)
        for topic in source.topics
    ]
    if not subscribed:
        return []
    warnings = []
    for rule in rules.rules:
        if not rule.spec.enabled or not rule.topics_at:
            continue
        if any(topics_overlap(t, s) for t, *_ in rule.topics_at for s in subscribed):
            continue
        _first, line, col, path = rule.topics_at[0]
        wanted = ", ".join(t for t, *_ in rule.topics_at)
        warnings.append(
            ConfigProblem(
                rule.file,
                line,
                col,
                path,
                f"warning: rule {rule.name!r} can never fire from a subscription: no kafka or "
                f"mqtt source subscribes to {wanted} (only a drop folder or an HTTP post can "
                "feed it)",
            )
        )
    return warnings
