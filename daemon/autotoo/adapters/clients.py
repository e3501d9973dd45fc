"""The remote clients the submitter and tracker use, per account, built from the config.

The default account is the config's ``swift`` and ``ukssdc`` sections, built at start (a
reload does not change them); each named account of ``accounts`` is built when first used and
again after a reload changed it, over the start's service settings. Every Swift client keeps
its own session (v2 cookie, v1 secret), so the one ``aiohttp`` session they share must keep
no cookie jar (the wiring creates it so).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import aiohttp
from pydantic import SecretStr

from autotoo.adapters.swift import SwiftTooAdapter
from autotoo.adapters.ukssdc import UkssdcXrtAdapter
from autotoo.config.load import LoadedConfig
from autotoo.pipeline.ports import AccountPorts
from autotoo.swift import make_client
from autotoo.ukssdc.client import UkssdcClient


def remote_ports(
    loaded: LoadedConfig, current: Callable[[], LoadedConfig], session: aiohttp.ClientSession
) -> tuple[SwiftTooAdapter | None, UkssdcXrtAdapter | None, AccountClients]:
    """The default account's clients (the ``swift`` and ``ukssdc`` sections of ``loaded``,
    the start's config), and the named accounts', built when first used from ``current()``,
    the running config. The wiring builds none in dry-run (nothing is sent)."""
    cfg = loaded.config
    accounts = AccountClients(loaded, current, session)
    secret = loaded.secret("swift.shared_secret_file")
    too = _too_adapter(loaded, session, cfg.swift.username, secret)
    xrt = _xrt_adapter(loaded, session, cfg.ukssdc.user_id)
    return too, xrt, accounts


class AccountClients(Mapping[str, AccountPorts]):
    """The named accounts' clients (``AccountPorts``), by name, from the running config.

    Each account's pair is built when first asked for, and again when a reload changed the
    account (its username, its secret's content, its UKSSDC user id): an account that a
    reload adds or changes is used from then on, without a restart. An account the config no
    longer has is absent (its requests are parked: no client). The service settings (the
    protocol, URLs and timeouts of ``swift`` and ``ukssdc``) stay those of the start, as the
    default account's clients do.
    """

    def __init__(
        self,
        start: LoadedConfig,
        current: Callable[[], LoadedConfig],
        session: aiohttp.ClientSession,
    ) -> None:
        self._start = start
        self._current = current
        self._session = session
        self._built: dict[str, tuple[tuple[Any, ...], AccountPorts]] = {}

    def __getitem__(self, name: str) -> AccountPorts:
        loaded = self._current()
        account = loaded.config.accounts[name]  # KeyError: not (or no longer) configured
        secret = loaded.secret(f"accounts.{name}.swift_shared_secret_file")
        user_id = account.ukssdc_user_id or self._start.config.ukssdc.user_id
        identity = (account.swift_username, secret, user_id)
        built = self._built.get(name)
        if built is None or built[0] != identity:
            ports = AccountPorts(
                too=_too_adapter(self._start, self._session, account.swift_username, secret),
                xrt=_xrt_adapter(self._start, self._session, user_id),
            )
            built = self._built[name] = (identity, ports)
        return built[1]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current().config.accounts)

    def __len__(self) -> int:
        return len(self._current().config.accounts)


def _too_adapter(
    loaded: LoadedConfig,
    session: aiohttp.ClientSession,
    username: str,
    secret: SecretStr | None,
) -> SwiftTooAdapter:
    swift = loaded.config.swift
    client = make_client(
        swift.protocol,
        swift.base_url,
        username=username,
        shared_secret=secret.get_secret_value() if secret else "anonymous",
        session=session,
        timeout=aiohttp.ClientTimeout(total=swift.timeout.total_seconds(), sock_connect=10),
    )
    return SwiftTooAdapter(client)


def _xrt_adapter(
    loaded: LoadedConfig, session: aiohttp.ClientSession, user_id: str | None
) -> UkssdcXrtAdapter | None:
    if not user_id:
        return None
    ukssdc = loaded.config.ukssdc
    return UkssdcXrtAdapter(
        UkssdcClient(
            session, user_id, base_url=ukssdc.base_url, timeout=ukssdc.timeout.total_seconds()
        )
    )
