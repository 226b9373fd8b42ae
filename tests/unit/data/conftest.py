"""Shared fixtures of the data tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def block_listing(monkeypatch):
    """block_listing(folder): os.scandir (what os.walk lists with) raises PermissionError
    for that folder. Root reads every folder, so the error has to be simulated."""
    real_scandir = os.scandir
    blocked: set[Path] = set()

    def scandir(path="."):
        if Path(path) in blocked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return blocked.add
