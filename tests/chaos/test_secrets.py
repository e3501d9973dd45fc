"""No credential value ever appears in the logs, the state file, the status messages, the
webhook posts or the admin endpoints — after a full loop with errors on the way.

Distinctive values for the Swift shared secret, the MQTT password (sources and publishing),
the HTTP ingest token and the webhook URL; the loop meets an expired Swift session, a failed
login, a webhook answering 500 and an ingest request with a wrong token. Every admin endpoint
is searched too: /healthz, /readyz, /metrics, the dashboard page and its /api/status data.
"""

from __future__ import annotations

import asyncio
import subprocess

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from autotoo.emulators.faults import Fault, FaultKind, FaultPlan
from autotoo.emulators.users import Users
from tests.chaos.conftest import Record, ServeEmulator
from tests.chaos.streams import EP_TOPIC, RULES, completed_events, ep_alert, tune
from tests.fixtures.daemon import DaemonHarness, StatusCollector, publish
from tests.fixtures.mosquitto import Broker, free_port

SWIFT_SECRET = "swift-SECRET-9f2c7e1d"
MQTT_PASSWORD = "mqtt-SECRET-4b8a06f3"
INGEST_TOKEN = "ingest-SECRET-71d3c9aa"
WEBHOOK_SECRET = "hook-SECRET-e5a1b2c4"
SECRETS = (SWIFT_SECRET, MQTT_PASSWORD, INGEST_TOKEN, WEBHOOK_SECRET)


class Webhook:
    """A webhook receiver that fails its first post, then keeps what it is sent."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.app = web.Application()
        self.app.router.add_post(f"/hooks/{WEBHOOK_SECRET}", self.receive)

    async def receive(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        return web.Response(status=500 if len(self.bodies) == 1 else 200)


def add_broker_user(broker: Broker) -> None:
    subprocess.run(
        ["mosquitto_passwd", "-b", str(broker.workdir / "passwd"), "chaos", MQTT_PASSWORD],
        check=True,
        capture_output=True,
    )
    broker.restart()


def leaks(blob: bytes) -> list[str]:
    return [s for s in SECRETS if s.encode() in blob]


async def test_no_credential_value_leaks_anywhere(
    serve_emulator: ServeEmulator, mosquitto_factory, daemon_factory, chaos_record: Record
) -> None:
    plan = FaultPlan(
        [
            Fault(FaultKind.HTTP_503, path="/login", nth=(1,)),
            Fault(FaultKind.EXPIRE_SESSION, path="/swift/too", method="POST", nth=(1,)),
        ]
    )
    emulator = await serve_emulator(faults=plan, users=Users(swift={"myuser": SWIFT_SECRET}))
    hook = Webhook()
    hook_server = TestServer(hook.app, host="127.0.0.1")
    await hook_server.start_server()
    broker = mosquitto_factory()
    add_broker_user(broker)
    daemon: DaemonHarness = daemon_factory(broker_port=broker.port, emulator_root=emulator.root)
    daemon.configure(RULES, too_per_day=10)
    work = daemon.workdir
    (work / "swift-secret").write_text(SWIFT_SECRET + "\n")
    (work / "mqtt-password").write_text(MQTT_PASSWORD + "\n")
    (work / "ingest-token").write_text(INGEST_TOKEN + "\n")
    hook_url = f"http://127.0.0.1:{hook_server.port}/hooks/{WEBHOOK_SECRET}"
    (work / "webhook-url").write_text(hook_url + "\n")
    admin_port = free_port()
    auth = {
        "url": f"mqtt://127.0.0.1:{broker.auth_port}",
        "username": "chaos",
        "password_file": str(work / "mqtt-password"),
    }
    tune(
        daemon.config,
        sources=[
            {"kind": "mqtt", "name": "bus", "client_id": f"autotoo-{daemon.ident}"}
            | {"topics": ["gcn/#"]}
            | auth,
            {"kind": "http", "name": "push", "token_file": str(work / "ingest-token")},
        ],
        publish={
            "mqtt": {**auth, "topic_prefix": "autotoo"},
            "webhook_url_file": str(work / "webhook-url"),
        },
        admin={"enabled": True, "listen": f"127.0.0.1:{admin_port}"},
        pipeline={"reconcile_delay": "0.3s", "retry_not_sent": "0.3s"},
        log={"format": "json", "level": "debug"},  # the most the daemon ever writes
    )
    rules = RULES.replace("notify: [mqtt]", "notify: [mqtt, webhook]")
    daemon.rules.write_text(rules)
    admin = f"http://127.0.0.1:{admin_port}"
    endpoints: dict[str, bytes] = {}
    async with StatusCollector(broker.port) as status, aiohttp.ClientSession() as http:
        await daemon.start()
        await publish(broker.port, EP_TOPIC, ep_alert(1))
        ingest = {"X-Alert-Topic": "gcn.notices.einstein_probe.wxt.alert"}
        async with http.post(
            f"{admin}/alerts", data=ep_alert(2), headers=ingest | {"Authorization": "Bearer wrong"}
        ) as resp:
            assert resp.status == 401
        async with http.post(
            f"{admin}/alerts",
            data=ep_alert(2),
            headers=ingest | {"Authorization": f"Bearer {INGEST_TOKEN}"},
        ) as resp:
            assert resp.status == 202
        await status.wait_for(lambda: len(completed_events(status)) == 2, timeout=60)
        for path in ("/healthz", "/readyz", "/metrics", "/", "/api/status"):
            async with http.get(admin + path) as resp:
                assert resp.status in {200, 503}, path  # 503: not ready is still an answer
                endpoints[path] = await resp.read()
        assert b"autotoo_" in endpoints["/metrics"]  # the real metrics, not an error page
        await asyncio.sleep(1.5)  # the webhook's retry after its 500
        assert await daemon.stop() == 0
    await hook_server.close()
    logs = b"".join(p.read_bytes() for p in sorted(work.glob("daemon-*.log")))
    store = b"".join(p.read_bytes() for p in work.glob("state.db*"))
    statuses = b"".join(str(m).encode() for m in status.messages)
    places = {
        "logs": logs,
        "state file (db, wal, shm)": store,
        "status messages": statuses,
        "webhook bodies": b"".join(hook.bodies),
        **{f"admin {k}": v for k, v in endpoints.items()},
    }
    found = {name: leaks(blob) for name, blob in places.items()}
    chaos_record(
        "secrets never leak",
        secrets=len(SECRETS),
        places_searched=sorted(places),
        bytes_searched=sum(len(b) for b in places.values()),
        log_lines=logs.count(b"\n"),
        leaks=sum(len(v) for v in found.values()),
        injected=[i.kind.value for i in plan.injected],
        webhook_posts=len(hook.bodies),
    )
    assert all(found[name] == [] for name in found), found
    # the loop really met its errors and really used each credential
    assert {i.kind for i in plan.injected} == {FaultKind.HTTP_503, FaultKind.EXPIRE_SESSION}
    assert len(hook.bodies) >= 2  # the first answered 500 and was retried
    assert any(e.get("event") == "publish failed; will retry" for e in daemon.logs())
    assert len(emulator.swift.toos) == 2
    assert all(t.username == "myuser" for t in emulator.swift.toos.values())
