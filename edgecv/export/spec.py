"""The recipe's `export:` section; format names come from the FORMATS table (no TensorFlow)."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator

from edgecv.export.formats import FORMATS
from edgecv.schema import Strict

EXPORT_FORMATS = tuple(FORMATS)
ABOUT_KEYS = ("author", "version", "license")


class ExportSpec(Strict):
    formats: list[Literal[EXPORT_FORMATS]] = ["float32", "int8"]  # type: ignore[valid-type]
    calibration_samples: int = Field(200, gt=0)
    io_type: Literal["uint8", "int8"] = "uint8"
    # What the standard TFLite Model Metadata tells apps about the model (MediaPipe, model
    # stores); defaults: author "edgecv", version the recipe hash, no license.
    author: Optional[str] = Field(None, min_length=1, max_length=200)
    version: Optional[str] = Field(None, min_length=1, max_length=100)
    license: Optional[str] = Field(None, min_length=1, max_length=2000)

    def about(self) -> dict:
        """The given author / version / license (the metadata's `about` part)."""
        return {k: v for k in ABOUT_KEYS if (v := getattr(self, k)) is not None}

    @field_validator("formats")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one format")
        return list(dict.fromkeys(value))
