"""check-config on malformed files: every problem, at the right line and column, exit 78."""

from __future__ import annotations

from pathlib import Path

import pytest

from autotoo.cli import EXIT_CONFIG, EXIT_OK, main
from autotoo.config.load import load_config
from autotoo.config.problems import ConfigError
from autotoo.config.yamlfile import load_yaml_text


@pytest.fixture
def creds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A systemd-style credentials directory (the real mechanism: an environment variable)."""
    directory = tmp_path / "creds"
    directory.mkdir()
    (directory / "swift-secret").write_text("s3cr3t-value\n")
    (directory / "mqtt-password").write_text("hunter22\n")
    (directory / "empty").write_text("")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(directory))
    return directory


# (name, YAML text, expected problems as "line:col: path: message-fragment")
CASES: list[tuple[str, str, list[str]]] = [
    (
        "type error",
        "budgets:\n  too_per_day: many\n",
        ["2:16: budgets.too_per_day: Input should be a valid integer"],
    ),
    ("unknown top-level key", "mode: dry-run\nmodes: live\n", ["2:1: modes: unknown key"]),
    (
        "unknown nested key",
        "sources:\n  - kind: directory\n    path: /tmp/x\n    pathh: /tmp/y\n",
        ["4:5: sources.0.pathh: unknown key"],
    ),
    (
        "duplicate key",
        "mode: dry-run\nbudgets: {too_per_day: 2}\nmode: live\n",
        ["3:1: mode: duplicate key"],
    ),
    ("bad YAML", "sources: [\n  {kind: directory, path: x\nmode: live\n", ["3:5: "]),
    (
        "missing secrets file",
        "swift:\n  username: myuser\n  shared_secret_file: no-such-secret\n",
        ["3:23: swift.shared_secret_file: credential 'no-such-secret' not found"],
    ),
    (
        "empty secrets file",
        "swift:\n  shared_secret_file: empty\n",
        ["2:23: swift.shared_secret_file: credential 'empty' at"],
    ),
    (
        "a password in the state URL",
        "state: postgresql://autotoo:hunter2@db.example:5432/autotoo\n",
        ["1:8: state: Value error, a password does not belong in the config: put it in a "],
    ),
    (
        "state of an unknown kind",
        "state: mysql://db/autotoo\n",
        ["1:8: state: Value error, expected sqlite:///path/to/state.db or postgresql://"],
    ),
    (
        "missing state password file",
        "state: postgresql://autotoo@db.example/autotoo\nstore:\n  password_file: no-pg\n",
        ["3:18: store.password_file: credential 'no-pg' not found"],
    ),
    ("bad enum", "mode: liv\n", ["1:7: mode: Input should be 'dry-run', 'debug' or 'live'"]),
    (
        "missing required key",
        "sources:\n  - kind: mqtt\n    url: mqtt://localhost:1883\n    topics: [a]\n",
        ["2:5: sources.0.client_id: required key is missing"],
    ),
    (
        "bad duration",
        "ukssdc:\n  poll_interval: 5 fortnights\n",
        ["2:18: ukssdc.poll_interval: Value error, '5 fortnights' is not a duration"],
    ),
    (
        "bad url scheme",
        (
            "sources:\n  - kind: mqtt\n    url: http://broker:1883\n"
            "    client_id: a\n    topics: [x]\n"
        ),
        ["3:10: sources.0.url: Value error, expected a URL starting with mqtt:// or mqtts://"],
    ),
    (
        "unknown source kind",
        "sources:\n  - kind: amqp\n    url: x\n",
        ["2:5: sources.0: Input tag 'amqp' found using 'kind' does not match"],
    ),
    (
        "live without credentials",
        "mode: live\n",
        ["1:7: mode: mode live submits to Swift: set swift.username and swift.shared_secret_file"],
    ),
    (
        "bad listen address",
        "admin:\n  listen: localhost\n",
        ["2:11: admin.listen: Value error, expected host:port"],
    ),
    (
        "admin on every interface",
        "admin:\n  listen: 0.0.0.0:8470\n",
        ["2:11: admin.listen: 0.0.0.0:8470 is not a loopback address, and the admin server"],
    ),
    (
        "admin on a host name",
        "admin: {listen: 'autotoo.example.org:8470'}\n",
        ["1:17: admin.listen: autotoo.example.org:8470 is not a loopback address"],
    ),
    ("not a mapping", "- mode: live\n", ["1:1: Input should be a valid dictionary"]),
    (
        "many problems at once",
        "mode: debug\nbudgets:\n  too_per_day: -1\nswift:\n  timeout: soon\n  colour: blue\n",
        [
            "1:7: mode: mode debug submits to Swift",
            "3:16: budgets.too_per_day: Input should be greater than or equal to 0",
            "5:12: swift.timeout: Value error, 'soon' is not a duration",
            "6:3: swift.colour: unknown key",
        ],
    ),
]


@pytest.mark.parametrize(("name", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_every_problem_is_located(
    tmp_path: Path,
    creds: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    text: str,
    expected: list[str],
) -> None:
    path = tmp_path / "autotoo.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    lines = [str(p) for p in info.value.problems]
    assert len(lines) == len(expected), lines
    for line, want in zip(lines, expected, strict=True):
        assert line.startswith(f"{path}:{want}") or (
            want.endswith(": ") and line.startswith(f"{path}:{want[:-2]}")
        ), (line, want)
    # the CLI prints the same lines and exits 78
    assert main(["check-config", "-c", str(path)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    for line in lines:
        assert line in err


def test_secret_values_never_reach_the_output(
    tmp_path: Path, creds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "autotoo.yaml"
    path.write_text("mode: debug\nswift:\n  username: myuser\n  shared_secret_file: swift-secret\n")
    loaded = load_config(path)
    secret = loaded.secret("swift.shared_secret_file")
    assert secret is not None
    assert secret.get_secret_value() == "s3cr3t-value"  # one trailing newline stripped
    assert "s3cr3t" not in repr(loaded)
    assert main(["check-config", "-c", str(path)]) == EXIT_OK
    out = capsys.readouterr()
    assert "s3cr3t" not in out.out + out.err


def test_yaml_12_keeps_what_astronomers_write() -> None:
    doc = load_yaml_text("ra: 12:30:00\ntarg: 00945521\ncode: 0123\nflag: off\nuvot: 0x9999\n", "x")
    assert doc.data == {
        "ra": "12:30:00",
        "targ": "00945521",
        "code": "0123",
        "flag": "off",
        "uvot": 0x9999,
    }


def test_example_config_is_valid(creds: Path) -> None:
    example = Path(__file__).parents[2] / "config" / "autotoo.yaml"
    for name in ("gcn-client-id", "gcn-client-secret", "ingest-token", "swift-shared-secret"):
        (creds / name).write_text(f"value-of-{name}\n")
    loaded = load_config(example)
    assert loaded.config.mode.value == "dry-run"


@pytest.mark.parametrize(
    "admin",
    [
        "{listen: '127.0.0.1:8470'}",
        "{listen: '127.0.0.2:8470'}",
        "{listen: 'localhost:8470'}",
        "{listen: '[::1]:8470'}",
        "{listen: '0.0.0.0:8470', allow_remote: true}",
        "{listen: '0.0.0.0:8470', enabled: false}",
    ],
)
def test_a_loopback_or_explicitly_remote_admin_server_is_accepted(
    tmp_path: Path, admin: str
) -> None:
    path = tmp_path / "autotoo.yaml"
    path.write_text(f"admin: {admin}\n")
    load_config(path)
