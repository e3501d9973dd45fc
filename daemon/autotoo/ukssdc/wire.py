"""Pydantic models of the UKSSDC replies.

Replies are lenient where the real server is inconsistent (``JobID`` as string or int,
positions as numeric strings, ``APIVersion`` as string or number) and strict where the client
relies on a key being there. Extra keys are kept: the server adds internal ones freely.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Reply(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ErrorEntry(_Reply):
    label: str
    items: list[str] = Field(alias="list")


class Envelope(_Reply):
    """Every reply: ``OK`` and ``APIVersion``; on failure ``ERROR`` and optional ``listErr``."""

    ok: int = Field(alias="OK")
    api_version: str = Field(alias="APIVersion")
    error: str | None = Field(default=None, alias="ERROR")
    list_err: list[ErrorEntry] = Field(default_factory=list, alias="listErr")

    @field_validator("api_version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> str:
        return str(value)


def _job_id(value: Any) -> int:
    """JobID arrives as "803" from submit and as 803 elsewhere."""
    return int(str(value).strip())


class SubmitReply(_Reply):
    url: str = Field(alias="URL")
    job_id: int = Field(alias="JobID")
    job_pars: dict[str, Any] = Field(alias="jobPars")

    @field_validator("job_id", mode="before")
    @classmethod
    def _norm_job_id(cls, value: Any) -> int:
        return _job_id(value)


class Progress(_Reply):
    got_progress: int = Field(default=0, alias="GotProgress")
    pre_progress: str | None = Field(default=None, alias="PreProgress")
    steps: list[dict[str, Any]] = Field(default_factory=list, alias="ProgressSteps")
    time_running: str | None = Field(default=None, alias="TimeRunning")


class ProductStatusWire(_Reply):
    status_code: int | None = Field(alias="statusCode")
    status_text: str = Field(default="", alias="statusText")
    progress: Progress = Field(default_factory=Progress)


class CancelReply(_Reply):
    ok: int = Field(alias="OK")
    status: dict[str, str]
    status_codes: dict[str, int] = Field(alias="statusCodes")


class PositionReply(_Reply):
    got_pos: int = Field(alias="GotPos")
    ra: float | None = Field(default=None, alias="RA")
    dec: float | None = Field(default=None, alias="Dec")
    err90: float | None = Field(default=None, alias="Err90")
    from_sxps: int | None = Field(default=None, alias="FromSXPS")
    which_sxps: str | None = Field(default=None, alias="WhichSXPS")


class LightCurveReply(_Reply):
    datasets: list[str] = Field(alias="Datasets")


class DatasetWire(_Reply):
    columns: list[str]
    data: list[list[Any]]
    url: str | None = Field(default=None, alias="URL")


class OldJobWire(_Reply):
    job_id: int = Field(alias="JobID")
    name: str = Field(alias="Name")
    date_submitted: str = Field(alias="DateSubmitted")
    has_prod: bool = Field(alias="hasProd")

    @field_validator("job_id", mode="before")
    @classmethod
    def _norm_job_id(cls, value: Any) -> int:
        return _job_id(value)


class OldJobsReply(_Reply):
    jobs: list[OldJobWire]


class NumJobsReply(_Reply):
    num_jobs: int = Field(alias="numJobs")


class OldProductReply(_Reply):
    url: str = Field(alias="URL")
    job_pars: dict[str, Any] = Field(alias="jobPars")
