"""What `autotoo run` imports before READY=1 (bench/startup.py measures the time).

Heavy packages only the v1 protocol (PyJWT, which pulls in cryptography) or the sky helpers
(astropy) need must not be imported by the modules every daemon start loads.
"""

from __future__ import annotations

import json
import subprocess
import sys

START_MODULES = (
    "autotoo.wiring",
    "autotoo.cli.run",
    "autotoo.rules",
    "autotoo.pipeline.processor",
    "autotoo.pipeline.submitter",
    "autotoo.pipeline.tracker",
    "autotoo.adapters.swift",
    "autotoo.adapters.ukssdc",
    "autotoo.swift",
    "autotoo.sources.mqtt",
)
NOT_AT_START = ("jwt", "cryptography", "astropy")


def test_a_daemon_start_does_not_import_jwt_or_astropy() -> None:
    code = (
        f"import sys\nfor m in {START_MODULES!r}: __import__(m)\n"
        f"print(__import__('json').dumps([m for m in {NOT_AT_START!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_the_v1_client_still_signs_with_pyjwt() -> None:
    import jwt  # noqa: PLC0415 - the test itself may load it

    from autotoo.swift.v1 import sign  # noqa: PLC0415

    token = sign("too", {"a": 1}, "my_shared_secret")
    claims = jwt.decode(token, "my_shared_secret", algorithms=["HS256"])
    assert claims == {"api_name": "too", "api_version": "1.2", "api_data": {"a": 1}}
