"""Why a topic was chosen: the words of an article that pushed the predicted topic most, by gradient × input on the
word embeddings (one forward and one backward pass per article, whatever its length), summed over a word's pieces
and its windows. Faithfulness and cost against deleting random words: bench/explain.py, docs/benchmarks.md.
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from kornews.model import modeling
from kornews.model.firsttoken import first_token_only


@dataclass(frozen=True)
class Word:
    word: str       # as the tokenizer gives it back: the article's own spelling for ordinary text
    weight: float   # how much it raised the predicted topic's log-probability (gradient × input, summed)


def _metaspace(tokenizer) -> bool:
    """SentencePiece-style pieces ("▁" starts a word), else WordPiece-style ("##" continues one)."""
    return any(p.startswith("▁") for p in tokenizer.convert_ids_to_tokens(
        tokenizer("가 나 a b", add_special_tokens=False)["input_ids"]))


def _words(tokenizer, ids: list[int], scores: np.ndarray, skip: set, metaspace: bool) -> dict:
    """{word: summed score} of one window: pieces joined into the words they spell."""
    pieces = tokenizer.convert_ids_to_tokens(ids)
    out, current, total = {}, [], 0.0

    def close():
        if current:
            text = tokenizer.convert_tokens_to_string(current).strip()
            if text:
                out[text] = out.get(text, 0.0) + total
    for token_id, piece, score in zip(ids, pieces, scores):
        if token_id in skip:
            close()
            current, total = [], 0.0
            continue
        starts = piece.startswith("▁") if metaspace else not piece.startswith("##")
        if starts and current:
            close()
            current, total = [], 0.0
        current.append(piece)
        total += float(score)
    close()
    return out


def explain_words(model, featurizer, frame: pd.DataFrame, k: int = 5) -> list[list[Word]]:
    """The `k` words per article (normalized articles, with their clusters in modes 4/5) that raised the predicted
    topic of `model` (a classifier in fp32: ONNX graphs have no gradients) most, strongest first."""
    model.requires_grad_(False)  # only the input's gradient is needed: no weight gradients computed
    embeddings = modeling.hf(model).get_input_embeddings()
    tokenizer = featurizer.tokenizer
    skip = set(tokenizer.all_special_ids) | set(featurizer.cluster_token_ids or [])
    metaspace = _metaspace(tokenizer)
    out = []
    for i in range(len(frame)):
        feats = featurizer(frame.iloc[i:i + 1])
        batch = modeling.to_device(modeling.collate(feats, np.arange(len(feats)), featurizer.pad_id),
                                   modeling.device_of(model))
        captured = {}

        def keep(module, inputs, output):  # the word embeddings become the one input a gradient is asked of
            captured["embeds"] = output.detach().requires_grad_(True)
            return captured["embeds"]
        handle = embeddings.register_forward_hook(keep)
        try:
            with first_token_only(modeling.hf(model)):  # exact for the head, and cheaper
                logits = model(**batch).logits.float()
        finally:
            handle.remove()
        logp = torch.log_softmax(logits.mean(0), -1)  # an article's logits are its windows' mean
        top = int(logp.argmax())
        logp[top].backward()
        embeds = captured["embeds"]
        token_scores = (embeds.grad * embeds).sum(-1).detach().cpu().numpy()
        words: dict = {}
        for row, ids in enumerate(feats.input_ids):
            for word, score in _words(tokenizer, ids, token_scores[row, :len(ids)], skip, metaspace).items():
                words[word] = words.get(word, 0.0) + score
        ranked = sorted(words.items(), key=lambda kv: -kv[1])[:k]
        out.append([Word(w, float(f"{s:.4g}")) for w, s in ranked if s > 0])
    return out


def as_text(words: list[Word]) -> str:
    """The explanation as one cell of a predictions file."""
    return "; ".join(f"{w.word} ({w.weight:.3g})" for w in words)
