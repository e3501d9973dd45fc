"""``autotoo --version``: the version is looked up only when asked for."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from autotoo.cli import main


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"autotoo {version('autotoo')}\n"


def test_the_package_version_attribute() -> None:
    import autotoo  # noqa: PLC0415

    assert autotoo.__version__ == version("autotoo")
    with pytest.raises(AttributeError):
        _ = autotoo.no_such_attribute  # type: ignore[attr-defined]
