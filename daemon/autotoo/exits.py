"""The process's exit codes (sysexits where one fits), a leaf: the CLI returns them and
``wiring`` (which the CLI calls) decides them, so neither imports the other for them."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CONFIG = 78  # EX_CONFIG: systemd's RestartPreventExitStatus=78 stops a restart loop
EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a program that SIGPIPE ended
