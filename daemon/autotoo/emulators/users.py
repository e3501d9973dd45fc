"""Who the emulators know: Swift TOO API users (username -> shared secret) and the e-mail
addresses registered with the UKSSDC. ``autotoo emulate --users FILE`` loads a YAML file::

    swift:
      myuser: my_shared_secret
      partneruser: partner_secret      # several users: a daemon config with `accounts:`
    ukssdc:
      - astronomer@example.org
      - partner@example.org

Without a file the emulators know exactly the example accounts of swifttools' documentation:
the Swift user ``myuser`` with secret ``my_shared_secret`` (plus ``anonymous``, which may use
everything but TOO submission) and the UKSSDC address ``astronomer@example.org``.
``YOUR_EMAIL_HERE``, the documentation's placeholder, stays unregistered on purpose, as on the
real service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML

ANONYMOUS = "anonymous"


@dataclass(slots=True)
class Users:
    swift: dict[str, str] = field(default_factory=lambda: {"myuser": "my_shared_secret"})
    ukssdc: set[str] = field(default_factory=lambda: {"astronomer@example.org"})

    def swift_secret(self, username: str) -> str | None:
        return self.swift.get(username)

    def ukssdc_registered(self, email: str) -> bool:
        return email.strip().lower() in {e.lower() for e in self.ukssdc}

    @classmethod
    def load(cls, path: Path) -> Users:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise TypeError(f"{path}: expected a mapping with 'swift' and 'ukssdc'")
        swift = {str(k): str(v) for k, v in (data.get("swift") or {}).items()}
        ukssdc = {str(e) for e in (data.get("ukssdc") or [])}
        return cls(swift=swift, ukssdc=ukssdc)
