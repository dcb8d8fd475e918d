"""The few fields of SentencePiece's ModelProto that kornews needs, read from the protobuf wire format.

protobuf is not a dependency, and the converters in transformers/tokenizers that read `.model` files need it.
"""
import struct

from kornews.core.errors import KornewsError


def read_model_proto(data: bytes, name) -> dict:
    """Pieces as (piece, score), the model type and the normalizer settings, with the proto's defaults."""
    spec = {"pieces": [], "model_type": 1, "charsmap": b"", "add_dummy_prefix": True, "remove_extra_whitespaces": True}
    try:
        for field, value in _fields(data):
            if field == 1:  # SentencePiece {1: piece, 2: score}
                piece = dict(_fields(value))
                spec["pieces"].append((piece[1].decode("utf-8"), struct.unpack("<f", piece.get(2, bytes(4)))[0]))
            elif field == 2:  # TrainerSpec {3: model_type (1 unigram, 2 bpe, ...)}
                spec["model_type"] = dict(_fields(value)).get(3, 1)
            elif field == 3:  # NormalizerSpec {2: precompiled_charsmap, 3: add_dummy_prefix, 4: remove_extra_ws}
                norm = dict(_fields(value))
                spec["charsmap"] = norm.get(2, b"")
                spec["add_dummy_prefix"], spec["remove_extra_whitespaces"] = bool(norm.get(3, 1)), bool(norm.get(4, 1))
    except (IndexError, KeyError, UnicodeDecodeError, struct.error) as e:
        raise KornewsError(f"{name}: not a readable SentencePiece model ({type(e).__name__}: {e})") from e
    if not spec["pieces"]:
        raise KornewsError(f"{name}: not a readable SentencePiece model (no pieces)")
    return spec


def _fields(buf: bytes):
    """(field number, value) pairs of one protobuf message: varints as int, everything else as bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        wire = key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i:i + size], i + size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = buf[i:i + size], i + size
        else:
            raise KeyError(f"wire type {wire}")
        yield key >> 3, value


def _varint(buf: bytes, i: int):
    value = shift = 0
    while True:
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        i += 1
        if byte < 0x80:
            return value, i
        shift += 7
