"""The Swift TOO client as a :class:`~autotoo.pipeline.ports.TooPort`."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from autotoo.logs import get_logger
from autotoo.pipeline.ports import (
    Observed,
    RemoteAmbiguousError,
    RemoteAuthError,
    RemoteNotSentError,
    RemoteRejectedError,
    TooProgress,
)
from autotoo.swift import (
    SwiftAmbiguousError,
    SwiftAuthError,
    SwiftClient,
    SwiftNotSentError,
    SwiftRejectedError,
    SwiftValidationError,
    TooRequest,
)
from autotoo.swift.errors import SwiftError

log = get_logger("autotoo.adapters.swift")


def _rejection_kind(exc: SwiftRejectedError) -> str:
    if exc.constrained:
        return "constrained"
    if exc.duplicate:
        return "duplicate"
    return "other"


def _translated(exc: SwiftError, what: str) -> Exception:
    """The port error for a client error (the caller raises it ``from`` the original)."""
    if isinstance(exc, SwiftValidationError):
        return RemoteRejectedError(f"invalid TOO request: {exc}", kind="invalid")
    if isinstance(exc, SwiftNotSentError):
        return RemoteNotSentError(f"{what}: {exc}")
    if isinstance(exc, SwiftRejectedError):
        return RemoteRejectedError(
            str(exc),
            kind=_rejection_kind(exc),
            detail={"errors": exc.errors, "warnings": exc.warnings},
        )
    if isinstance(exc, SwiftAuthError):
        return RemoteAuthError(f"{what}: {exc}")
    if isinstance(exc, SwiftAmbiguousError):
        log.warning(
            "ambiguous reply from the Swift TOO API", what=what, error=str(exc), request=exc.request
        )
        return RemoteAmbiguousError(f"{what}: {exc}")
    return RemoteAmbiguousError(f"{what}: {exc}")


class SwiftTooAdapter:
    def __init__(self, client: SwiftClient) -> None:
        self.client = client

    async def submit(
        self, body: dict[str, Any], *, marker: str, debug: bool
    ) -> tuple[str, dict[str, Any]]:
        request = self._request(body, marker=marker, debug=debug)
        try:
            result = await self.client.submit(request)
        except SwiftError as exc:
            raise _translated(exc, "submit") from exc
        detail = {
            "status": result.status,
            "warnings": list(result.warnings),
            "debug": result.debug,
            "jobnumber": result.jobnumber,
        }
        if result.too_id is None:
            if result.debug:
                return f"debug-{result.jobnumber or 0}", detail
            raise RemoteAmbiguousError(f"accepted without a TOO id: {result.status}")
        return str(result.too_id), detail

    def _request(self, body: dict[str, Any], **extra: Any) -> TooRequest:
        try:
            return TooRequest.model_validate({**body, **extra})
        except (ValidationError, ValueError) as exc:
            raise RemoteRejectedError(f"invalid TOO request: {exc}", kind="invalid") from exc

    async def prepare(
        self,
        body: dict[str, Any],
        *,
        check_uvot_mode: bool,
        uvot_fallback: str | None,
        server_validate: bool,
    ) -> tuple[dict[str, Any], list[str]]:
        body, notes = dict(body), []
        mode = body.get("uvot_mode")
        if check_uvot_mode and mode is not None and mode != uvot_fallback:
            try:
                await self.client.uvot_mode(mode, ra=body.get("ra"), dec=body.get("dec"))
            except SwiftRejectedError as exc:
                notes.append(f"UVOT mode {mode} refused ({exc}); using {uvot_fallback}")
                body["uvot_mode"] = uvot_fallback
            except SwiftError as exc:  # a lookup creates nothing: safe to ask again later
                raise RemoteNotSentError(f"UVOT mode check: {exc}") from exc
        if server_validate:
            try:
                await self.client.validate(self._request(body))
            except (SwiftRejectedError, SwiftValidationError) as exc:
                raise _translated(exc, "server validation") from exc
            except SwiftError as exc:  # validate_only creates nothing either
                raise RemoteNotSentError(f"server validation: {exc}") from exc
            notes.append("validated by the service")
        return body, notes

    async def find(self, marker: str, body: dict[str, Any]) -> str | None:
        try:
            record = await self.client.find_submission(
                marker,
                target_name=body.get("source_name") or body.get("target_name"),
                ra=body.get("ra"),
                dec=body.get("dec"),
            )
        except SwiftError as exc:
            raise RemoteAmbiguousError(f"listing: {exc}") from exc
        return str(record.too_id) if record is not None else None

    async def progress(self, too_id: str) -> TooProgress:
        try:
            record = await self.client.get_too(int(too_id))
            entries = await self.client.calendar(too_id=int(too_id))
        except SwiftError as exc:
            raise RemoteAmbiguousError(f"status of TOO {too_id}: {exc}") from exc
        if record is None:
            raise RemoteAmbiguousError(f"TOO {too_id} is not in the listing")
        decision = (record.decision or "").lower()
        observed = tuple(
            Observed(
                target_id=f"{entry.target_id:08d}",
                obsid=entry.obsid,
                start=entry.begin.isoformat() if entry.begin else None,
                end=entry.end.isoformat() if entry.end else None,
                exposure_s=entry.asflown,
            )
            for entry in entries
            if entry.observed and entry.obsid and entry.target_id is not None
        )
        return TooProgress(
            status=record.decision or "Pending",
            decided=decision in {"approved", "rejected", "declined"},
            approved=decision == "approved",
            observations=observed,
            complete=record.done,
            detail={"target_id": record.target_id, "urgency": record.urgency},
        )
