"""Errors of the alerts subsystem.

AlertError                 root: anything the alerts subsystem raises on purpose
└── AlertParseError        a payload that cannot become a NormalizedAlert; ``reason`` is
                           one line, stored beside the raw bytes in the inbox
"""


class AlertError(Exception):
    """Root of the alerts subsystem's errors."""


class AlertParseError(AlertError):
    """The payload could not be parsed into a normalized alert.

    The reason is stored with the raw bytes (the alert is kept as *unparsed*, never dropped),
    so it must be a single line that tells an operator what was wrong.
    """

    def __init__(self, reason: str) -> None:
        self.reason = " ".join(reason.split())
        super().__init__(self.reason)
