"""Texts → features: the tokenizer's special-token template, token ids (cached on disk), long-article windows.

Token selection happens on ids, not on strings, so a long body is cut exactly where we say, for any
tokenizer (XLM-R's `<s> A </s></s> B </s>`, BERT's `[CLS] A [SEP] B [SEP]`, KoBERT's).
"""
import contextlib
import hashlib
import io
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
from transformers.utils import logging as hf_logging

from kornews.core.errors import KornewsError
from kornews.core.files import atomic_write_bytes


@dataclass
class Features:
    """Model input of a list of articles: one row per window (`doc` maps windows to articles). Mode 5 carries a
    cluster id per window; `hidden` and `prefix` are set only when the frozen bottom layers' output is cached
    (model.cache_prefix), and then replace the ids as the model's input."""
    input_ids: list
    token_type_ids: list
    doc: np.ndarray
    cluster: np.ndarray | None = None
    hidden: list | None = None
    prefix: int = 0

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class Template:
    """Special ids around one or two segments, and the token type of each part."""
    prefix: tuple
    middle: tuple
    suffix: tuple
    pair_types: bool  # the tokenizer gives the second segment token type 1
    pad_id: int

    @classmethod
    def from_tokenizer(cls, tok) -> "Template":
        a = tok("a", add_special_tokens=False)["input_ids"]
        b = tok("b", add_special_tokens=False)["input_ids"]
        enc = tok("a", "b", add_special_tokens=True, return_token_type_ids=True)
        ids, types = enc["input_ids"], enc.get("token_type_ids") or [0] * len(enc["input_ids"])
        i = _find(ids, a, 0, tok)
        j = _find(ids, b, i + len(a), tok)
        return cls(prefix=tuple(ids[:i]), middle=tuple(ids[i + len(a):j]), suffix=tuple(ids[j + len(b):]),
                   pair_types=bool(types[j]), pad_id=tok.pad_token_id if tok.pad_token_id is not None else 0)

    def n_special(self, pair: bool) -> int:
        return len(self.prefix) + len(self.suffix) + (len(self.middle) if pair else 0)

    def build(self, a: list, b: list | None, lead: list = ()):
        """Ids and token types of one input; `lead` ids (a mode 4 cluster token) follow the prefix."""
        if b is None:
            ids = [*self.prefix, *lead, *a, *self.suffix]
            return ids, [0] * len(ids)
        first = [*self.prefix, *lead, *a, *self.middle]
        second = [*b, *self.suffix]
        return first + second, [0] * len(first) + [int(self.pair_types)] * len(second)


@contextlib.contextmanager
def hf_quiet():
    """Silence transformers' warnings for a block (e.g. 'sequence longer than the maximum' before we cut)."""
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def _find(seq, sub, start, tok):
    for i in range(start, len(seq) - len(sub) + 1):
        if seq[i:i + len(sub)] == sub:
            return i
    raise KornewsError(f"tokenizer {type(tok).__name__}: cannot find its special-token template "
                       "(it does not encode 'a' and 'b' as separate segments)")


def fingerprint(tok) -> bytes:
    """What makes two tokenizers tokenise alike: the fast tokenizer's full JSON (vocabulary, normaliser,
    added tokens), else the class and vocabulary."""
    backend = getattr(tok, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else repr(sorted(tok.get_vocab().items()))
    return f"{type(tok).__name__}\n{text}".encode("utf-8")


def token_ids(tok, texts, cache_dir: Path | None = None) -> list[list[int]]:
    """Token ids of each text, no special tokens. With `cache_dir`, kept on disk under a key of the tokenizer
    and the texts, so a rerun on the same data (a new recipe, a resume) does not tokenise again."""
    texts = list(texts)
    if cache_dir is None:
        with hf_quiet():  # whole bodies are longer than the model; windows() cuts them later
            return tok(texts, add_special_tokens=False)["input_ids"] if texts else []
    key = hashlib.sha256(fingerprint(tok))
    for t in texts:
        key.update(t.encode("utf-8") + b"\0")
    path = Path(cache_dir) / f"{key.hexdigest()[:40]}.npz"
    try:
        with np.load(path) as z:
            flat, ends = z["ids"], z["ends"]
        return [flat[a:b].tolist() for a, b in zip(np.r_[0, ends[:-1]], ends)]
    except (OSError, ValueError, KeyError, EOFError):  # not cached yet, or a damaged file: tokenise afresh
        pass
    ids = token_ids(tok, texts)
    ends = np.cumsum([len(i) for i in ids], dtype=np.int64)
    buffer = io.BytesIO()
    flat = np.fromiter(chain.from_iterable(ids), dtype=np.int32, count=int(ends[-1]) if len(ids) else 0)
    np.savez(buffer, ids=flat, ends=ends)
    atomic_write_bytes(path, buffer.getvalue())
    return ids


def windows(ids: list, room: int, strategy: str) -> list[list]:
    """Pick the body tokens that fit in `room`: the head, head and tail, or every consecutive chunk."""
    if len(ids) <= room:
        return [ids]
    if strategy == "head":
        return [ids[:room]]
    if strategy == "head+tail":
        # news puts the gist up front; the tail often names the topic's actors again
        head = room * 3 // 4
        return [ids[:head] + ids[len(ids) - (room - head):]]
    return [ids[i:i + room] for i in range(0, len(ids), room)]


def encode(tok, template: Template, inputs: dict, max_len: int, strategy: str = "head",
           cluster_token_ids: list | None = None, cache_dir: Path | None = None) -> Features:
    """`inputs` from inputs.mode_inputs → features: one row per window, `doc` maps windows to articles.

    With `cluster_token_ids` (mode 4) each input starts with its article's cluster token; otherwise a
    `cluster` column (mode 5) is carried per window for the model's cluster embedding. `cache_dir`: see
    token_ids."""
    texts, pairs, clusters = inputs["text"], inputs.get("text_pair"), inputs.get("cluster")
    first = token_ids(tok, texts, cache_dir)
    second = token_ids(tok, [p or "" for p in pairs], cache_dir) if pairs is not None else None
    rows, types, docs, cl = [], [], [], []
    for d, a in enumerate(first):
        b = second[d] if second is not None else None
        if b is not None and not (a and b):  # one empty side: the other is the whole input
            a, b = (a or b), None
        lead = [cluster_token_ids[clusters[d]]] if cluster_token_ids is not None else []
        if b is None:  # single segment: the long-article strategy applies to it
            for w in windows(a, max_len - template.n_special(False) - len(lead), strategy):
                ids, tt = template.build(w, None, lead)
                rows.append(ids)
                types.append(tt)
                docs.append(d)
        else:
            # the title is short and carries most signal: keep it whole (up to half the room)
            room = max_len - template.n_special(True) - len(lead)
            a = a[:room // 2]
            for w in windows(b, room - len(a), strategy):
                ids, tt = template.build(a, w, lead)
                rows.append(ids)
                types.append(tt)
                docs.append(d)
        if clusters is not None and cluster_token_ids is None:
            cl.extend([int(clusters[d])] * (len(docs) - len(cl)))
    return Features(rows, types, np.asarray(docs, dtype=np.int64),
                    cluster=np.asarray(cl, dtype=np.int64) if clusters is not None and cluster_token_ids is None
                    else None)
