"""psycopg's connections made to look like sqlite3's where the store's functions use them.

Why: the store's transaction bodies (``store/writes.py``, ``store/reads.py``, ...) are plain
functions of a ``sqlite3.Connection``; giving them the same few methods over psycopg, and
its statements in PostgreSQL's words, lets one body serve both backends
(``store/postgres.py`` says how the rest is arranged).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg


def _outside_literals(sql: str) -> Iterator[tuple[bool, str]]:
    """(is code, text) pieces of ``sql``: quoted literals are never rewritten."""
    for index, piece in enumerate(re.split(r"('(?:[^']|'')*')", sql)):
        yield index % 2 == 0, piece


_REWRITES = (
    (re.compile(r"\bBEGIN IMMEDIATE\b", re.IGNORECASE), "BEGIN"),
    # SQLite's planner hint (retention.py's scans); PostgreSQL chooses for itself.
    (re.compile(r"\s+INDEXED BY \w+", re.IGNORECASE), ""),
    (re.compile(r"\bX''"), r"'\\x'::bytea"),
    # SQLite's null-safe comparison of a parameter (IS DISTINCT FROM needs SQLite 3.39).
    (re.compile(r"\bIS NOT \?"), "IS DISTINCT FROM ?"),
    (
        re.compile(r"datetime\('now'\)", re.IGNORECASE),
        "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')",
    ),
)


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """A statement of the store in PostgreSQL's words (cached: the store has a few hundred)."""
    for pattern, replacement in _REWRITES:
        sql = pattern.sub(replacement, sql)
    out = []
    for code, piece in _outside_literals(sql):
        out.append(piece.replace("%", "%%").replace("?", "%s") if code else piece)
    return "".join(out)


def _value(value: Any) -> Any:
    """A parameter as SQLite would store it: booleans are integers."""
    return int(value) if isinstance(value, bool) else value


class PgRow:
    """A result row read like ``sqlite3.Row``: by position, by column name, ``keys()``."""

    __slots__ = ("_names", "_values")

    def __init__(self, values: Sequence[Any], names: dict[str, int]) -> None:
        self._values = tuple(values)
        self._names = names

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self._values[self._names[key]]
        return self._values[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PgRow):
            return self._values == other._values
        return self._values == other

    def __hash__(self) -> int:
        return hash(self._values)

    def __repr__(self) -> str:
        return f"PgRow{self._values!r}"

    def keys(self) -> list[str]:
        return list(self._names)


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], PgRow]:
    description = cursor.description or ()
    names = {column.name: index for index, column in enumerate(description)}
    return lambda values: PgRow(values, names)


class PgConnection:
    """The part of ``sqlite3.Connection`` the store's functions use, over psycopg."""

    def __init__(
        self,
        raw: psycopg.Connection[Any],
        reconnect: Callable[[], psycopg.Connection[Any]] | None = None,
    ) -> None:
        self.raw = raw
        self._reconnect = reconnect
        self.reconnected: Callable[[PgConnection], None] = lambda _conn: None
        # The server refused a write as read-only: this connection reached a standby (a
        # fail-over moved the primary, an address still points at the old one); the next
        # transaction connects again, which (with target_session_attrs=read-write, or a
        # name the fail-over moved) reaches the new primary.
        self.read_only = False

    def ensure(self) -> None:
        """Connect again if the server dropped this connection (a restart, a fail-over) or
        it turned out to be read-only. Only where no transaction can be open: before BEGIN,
        or an autocommit statement."""
        if self._reconnect is None:
            return
        if self.raw.closed or self.raw.broken or self.read_only:
            if not self.raw.closed:
                self.raw.close()
            self.raw = self._reconnect()
            self.read_only = False
            self.reconnected(self)

    def begin(self, sql: str = "BEGIN") -> None:
        """``sql`` (a BEGIN), on a new connection if this one turns out to be dropped: a
        connection learns that the server ended it only when it is used, and a BEGIN that
        failed did nothing, so it is safe to send again."""
        import psycopg  # noqa: PLC0415 - loaded: this store is open

        self.ensure()
        try:
            self.raw.execute(sql)
        except psycopg.OperationalError:
            if not self.raw.broken:
                raise
            self.ensure()
            self.raw.execute(sql)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        import psycopg  # noqa: PLC0415 - loaded: this store is open

        cursor = self.raw.cursor()
        try:
            cursor.execute(translate(sql), [_value(v) for v in params])
        except psycopg.errors.ReadOnlySqlTransaction:
            self.read_only = True
            raise
        return cursor

    def executemany(self, sql: str, seq: Any) -> psycopg.Cursor[Any]:
        import psycopg  # noqa: PLC0415 - loaded: this store is open

        cursor = self.raw.cursor()
        try:
            cursor.executemany(translate(sql), [[_value(v) for v in params] for params in seq])
        except psycopg.errors.ReadOnlySqlTransaction:
            self.read_only = True
            raise
        return cursor

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus  # noqa: PLC0415

        return self.raw.info.transaction_status != TransactionStatus.IDLE


# The server ends a session idle inside a transaction for longer than this (ms, the lease's
# default): an instance paused by SIGSTOP, a debugger or a frozen VM mid-transaction would
# otherwise hold its row locks for ever, and every other instance's write that touches the
# same rows (the same alert's inbox key, a submission's lease) would wait with it.
DEFAULT_IDLE_IN_TRANSACTION_S = 30.0


def connect(
    url: str, password: str | None, idle_in_transaction_s: float = DEFAULT_IDLE_IN_TRANSACTION_S
) -> psycopg.Connection[Any]:
    """A connection as the store uses it: autocommit (the store's functions BEGIN
    themselves), client-side binding, and a bound on how long it may sit idle inside a
    transaction (``idle_in_transaction_s``: the lease; the paused instance has lost its
    leases by then anyway, and its next statement fails and connects again)."""
    import psycopg  # noqa: PLC0415
    from psycopg.types.numeric import NumericLoader  # noqa: PLC0415

    class _Numeric(NumericLoader):
        """SUM() of integers is NUMERIC in PostgreSQL, an integer in SQLite."""

        def load(self, data: Any) -> Any:
            value: Decimal = super().load(data)
            return int(value) if value == value.to_integral_value() else float(value)

    extra: dict[str, Any] = {"password": password} if password is not None else {}
    conn = psycopg.connect(
        url,
        autocommit=True,
        cursor_factory=psycopg.ClientCursor,
        application_name="autotoo",
        connect_timeout=5,  # read() connects again on the loop's thread
        **extra,
    )
    conn.row_factory = _row_factory
    conn.adapters.register_loader("numeric", _Numeric)
    idle_ms = max(1, round(idle_in_transaction_s * 1000))
    conn.execute(f"SET idle_in_transaction_session_timeout = {idle_ms}")
    return conn
