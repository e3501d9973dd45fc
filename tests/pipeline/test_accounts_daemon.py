"""Several accounts through the real daemon (issue 21): ``autotoo run`` with a config of two
accounts (credential files of their own) and two rules, against the emulators, restarted
between the TOOs' acceptance and their observation.

The emulators are reached by host name (``localhost``), as the real services are: then an
HTTP client's shared cookie jar keeps the Swift session cookie of whichever account logged
in last and sends it with every account's requests. The daemon's HTTP session must
therefore keep no cookies (each Swift client sends its own session's explicitly). Over v1 each
account signs its own tokens with its own secret.
"""

from __future__ import annotations

import signal

import pytest

from autotoo.emulators.ukssdc.routes import SERVICE_KEY
from tests.chaos.streams import ep_alert
from tests.fixtures.daemon import StatusCollector, publish
from tests.pipeline.test_accounts import OURS, PARTNER, rules, users

ACCOUNTS = """\
accounts:
  partner:
    swift_username: {username}
    swift_shared_secret_file: {secret}
    ukssdc_user_id: {email}
"""


@pytest.mark.parametrize("protocol", ["v2", "v1"])
async def test_two_accounts_through_the_daemon_and_a_restart(
    make_emulator, mosquitto_factory, daemon_factory, protocol
) -> None:
    emulator = await make_emulator(speed=20_000, users=users())
    broker = mosquitto_factory()
    root = emulator.root.replace("127.0.0.1", "localhost")
    daemon = daemon_factory(broker_port=broker.port, emulator_root=root)
    secret = daemon.workdir / "partner-secret"
    secret.write_text(PARTNER[1] + "\n")
    daemon.configure(
        rules(),
        protocol=protocol,
        extra=ACCOUNTS.format(username=PARTNER[0], secret=secret, email=PARTNER[2]),
    )
    async with StatusCollector(broker.port) as status:
        await daemon.start()
        await publish(broker.port, "gcn/notices/einstein_probe/wxt/alert", ep_alert(3))
        await status.wait_for(
            lambda: (
                {m["rule"] for m in status.actions(action="too", state="accepted")}
                == {"ours", "theirs"}
            ),
            timeout=60,
        )
        assert await daemon.stop() == 0
        # After a restart: the first alert's TOOs are followed, and their XRT jobs sent, by
        # their own accounts; a second alert's TOOs go out once both clients have logged in.
        await daemon.start()
        await publish(broker.port, "gcn/notices/einstein_probe/wxt/alert", ep_alert(4))
        await status.wait_for(
            lambda: (
                len(
                    {
                        (m["rule"], m["event_key"])
                        for m in status.actions(action="xrt_products", state="submitted")
                    }
                )
                == 4
            ),
            timeout=90,
        )
        assert await daemon.stop() == 0
    sent = sorted((t.username, t.form.target_name) for t in emulator.swift.toos.values())
    assert len(sent) == 4, sent
    assert [user for user, _ in sent] == ["myuser", "myuser", "partneruser", "partneruser"]
    jobs = emulator.app[SERVICE_KEY].jobs
    for user, email in ((OURS[0], OURS[2]), (PARTNER[0], PARTNER[2])):
        targets = {f"{t.target_id:08d}" for t in emulator.swift.toos.values() if t.username == user}
        assert {job.pars["targ"] for job in jobs.of_user(email)} == targets
    assert status.actions(state="needs_human") == []
    assert status.actions(state="rejected") == []


async def test_an_account_a_reload_adds_is_used_without_a_restart(
    make_emulator, mosquitto_factory, daemon_factory
) -> None:
    """SIGHUP with a new account and a rule naming it: the rule's next TOO goes out under
    that account (its clients are built when first used), while the running one is kept."""
    emulator = await make_emulator(speed=20_000, users=users())
    broker = mosquitto_factory()
    daemon = daemon_factory(broker_port=broker.port, emulator_root=emulator.root)
    secret = daemon.workdir / "partner-secret"
    secret.write_text(PARTNER[1] + "\n")
    only_ours = rules().split("  - name: theirs")[0]
    daemon.configure(only_ours)
    async with StatusCollector(broker.port) as status:
        await daemon.start()
        await publish(broker.port, "gcn/notices/einstein_probe/wxt/alert", ep_alert(5))
        await status.wait_for(lambda: status.actions(action="too", state="accepted"), timeout=60)
        daemon.configure(
            rules(),
            extra=ACCOUNTS.format(username=PARTNER[0], secret=secret, email=PARTNER[2]),
        )
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGHUP)
        await status.wait_for(
            lambda: any(e.get("event") == "reloaded" for e in daemon.logs()), timeout=30
        )
        await publish(broker.port, "gcn/notices/einstein_probe/wxt/alert", ep_alert(6))
        await status.wait_for(
            lambda: (
                {m["rule"] for m in status.actions(action="too", state="accepted")}
                == {"ours", "theirs"}
            ),
            timeout=60,
        )
        assert await daemon.stop() == 0
    assert sorted(t.username for t in emulator.swift.toos.values()) == [
        "myuser",
        "myuser",
        "partneruser",
    ]
    assert not any("next restart" in str(e.get("event")) for e in daemon.logs())
    assert status.actions(state="needs_human") == []
