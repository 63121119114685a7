"""Rows of the op table, one module per catalog module; load_cases() merges them."""

from __future__ import annotations

import importlib
import pkgutil

from .case import Case


def load_cases() -> dict[str, Case]:
    merged: dict[str, Case] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name == "case":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for name, case in module.CASES.items():
            assert name not in merged, f"two rows for {name}"
            merged[name] = case
    return merged
