"""The systemd notify protocol, written out (it is a stable, documented datagram protocol;
libsystemd or the 2017-era ``sdnotify`` package would add nothing but risk).

``NOTIFY_SOCKET`` names a Unix datagram socket; a leading ``@`` means the abstract namespace.
Outside systemd the variable is unset and every call is a cheap no-op.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from autotoo.formatting import count


class Notifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_usec = int(env.get("WATCHDOG_USEC", "0") or 0)
        watchdog_pid = env.get("WATCHDOG_PID")
        if watchdog_pid and watchdog_pid.isdigit() and int(watchdog_pid) != os.getpid():
            self.watchdog_usec = 0  # the watchdog is meant for another process

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings: half the configured timeout, as systemd advises."""
        return self.watchdog_usec / 2_000_000 if self.watchdog_usec else None

    def notify(self, *lines: str) -> bool:
        """Send one datagram (e.g. ``notify("READY=1", "STATUS=...")``); False if not sent."""
        if not self._address:
            return False
        # A fresh socket per message: nothing to keep open, and a systemd restart of the
        # notify socket between calls cannot leave us with a dead descriptor.
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            # Non-blocking: this runs on the event loop, and a receiver that stopped reading
            # (its queue holds ~10 datagrams) would otherwise block sendall, and with it the
            # whole daemon, for good. The datagram is dropped; the next heartbeat sends anew.
            sock.settimeout(0.0)
            try:
                sock.connect(self._address)
                sock.sendall("\n".join(lines).encode())
            except OSError:
                return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.notify(f"STATUS={status}")

    def reloading(self) -> bool:
        return self.notify("RELOADING=1", "STATUS=reloading configuration")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1", "STATUS=stopping")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")


def status_line(
    *, mode: str, rules: int, connected: int, sources: int, counts: Mapping[str, Mapping[str, int]]
) -> str:
    """The one line ``systemctl status`` shows: what a person on duty asks first.

    e.g. ``live; 2/2 sources connected; 7 rules; 3 in flight; 1 needs a human``. Counts are
    the store's (``Repository.counts()``: submissions keyed ``api:state``).
    """
    by_state: dict[str, int] = {}
    for key, n in counts.get("submissions", {}).items():
        state = key.rpartition(":")[2]
        by_state[state] = by_state.get(state, 0) + n
    in_flight = sum(by_state.get(s, 0) for s in ("submitting", "submitted", "tracking", "unknown"))
    parts = [mode, f"{connected}/{count(sources, 'source')} connected", count(rules, "rule")]
    if waiting := counts.get("inbox", {}).get("new", 0):
        parts.append(f"{count(waiting, 'alert')} waiting")
    parts.append(f"{in_flight} in flight")
    if human := by_state.get("needs_human"):
        parts.append(f"{human} {'needs' if human == 1 else 'need'} a human")
    return "; ".join(parts)
