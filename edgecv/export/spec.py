"""The recipe's `export:` section; format names come from the FORMATS table (no TensorFlow)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from edgecv.export.formats import FORMATS
from edgecv.schema import Strict

EXPORT_FORMATS = tuple(FORMATS)


class ExportSpec(Strict):
    formats: list[Literal[EXPORT_FORMATS]] = ["float32", "int8"]  # type: ignore[valid-type]
    calibration_samples: int = Field(200, gt=0)
    io_type: Literal["uint8", "int8"] = "uint8"

    @field_validator("formats")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one format")
        return list(dict.fromkeys(value))
