"""read_credential: systemd credential directory, absolute paths, and errors without secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from autotoo.credentials import CredentialError, read_credential

SECRET = "s3cret value with spaces"


def test_relative_name_resolves_in_credentials_directory(tmp_path: Path) -> None:
    (tmp_path / "gcn-client-secret").write_text(SECRET + "\n")
    value = read_credential("gcn-client-secret", {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert value.get_secret_value() == SECRET
    assert SECRET not in repr(value)


def test_absolute_path_strips_exactly_one_newline(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(SECRET + "\n\n")
    assert read_credential(str(path), {}).get_secret_value() == SECRET + "\n"
    path.write_bytes(SECRET.encode() + b"\r\n")
    assert read_credential(str(path), {}).get_secret_value() == SECRET


def test_relative_name_without_credentials_directory() -> None:
    with pytest.raises(CredentialError, match="CREDENTIALS_DIRECTORY"):
        read_credential("mqtt-password", {})


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", "..", ""])
def test_relative_name_must_be_plain(name: str, tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="plain name"):
        read_credential(name, {"CREDENTIALS_DIRECTORY": str(tmp_path)})


def test_missing_empty_and_binary_files_never_show_content(tmp_path: Path) -> None:
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    with pytest.raises(CredentialError, match="not found"):
        read_credential("absent", env)
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(CredentialError, match="is empty"):
        read_credential("empty", env)
    (tmp_path / "binary").write_bytes(b"\xff\xfe" + SECRET.encode())
    with pytest.raises(CredentialError, match="not UTF-8") as caught:
        read_credential("binary", env)
    assert SECRET not in str(caught.value)


def test_unreadable_is_reported_as_credential_error(tmp_path: Path) -> None:
    directory = tmp_path / "a-directory"
    directory.mkdir()
    with pytest.raises(CredentialError, match="unreadable"):
        read_credential(str(directory), {})
