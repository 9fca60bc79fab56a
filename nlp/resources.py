"""Where nlp/ keeps its data files (user dictionaries, rules, models): inside the package."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).with_name("data")
MODELS = Path(__file__).with_name("models")
