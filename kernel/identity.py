"""Identity of what a stored value was computed with: a model folder's id (its name and a hash
of its weights) and a series' definition version (the indicator's terms, sources and kind and,
for a share, the model's id). A change of either starts a new series; the old one stays.

Pure file hashing: it knows no model defaults (those are nlp's, `nlp.identity`).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path


def model_id(name_or_path: str | Path) -> str:
    """A stable id: the folder name and a hash of its weights for local models. For a head on
    the shared encoder: its weights and head.json (temperature, layers, and the encoder's
    sha256, which pins the encoder)."""
    path = Path(name_or_path)
    for names in (("model.safetensors",), ("head.safetensors", "head.json")):
        files = [path / name for name in names]
        if all(f.exists() for f in files):
            parts = [_weights_digest(f, f.stat().st_size, f.stat().st_mtime_ns) for f in files]
            if len(parts) > 1:
                parts = [hashlib.sha256("".join(parts).encode()).hexdigest()[:12]]
            return f"{path.name}@{parts[0]}"
    return str(name_or_path)


@functools.cache
def _weights_digest(weights: Path, size: int, mtime_ns: int) -> str:
    """Hashed once per file version (size and mtime are part of the cache key)."""
    return hashlib.sha256(weights.read_bytes()).hexdigest()[:12]


def series_version(indicator_version: str, sentiment_model_id: str | None) -> str:
    """The series a value belongs to: the indicator's own version, and for a share scored by a
    model, that model's id hashed in."""
    if sentiment_model_id is None:
        return indicator_version
    payload = f"{indicator_version}|{sentiment_model_id}"
    return hashlib.sha256(payload.encode()).hexdigest()[:12]
