import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from kornews.model import encode


@pytest.fixture(scope="module")
def bert_tok():
    """A word-level tokenizer with BERT's template: [CLS] A [SEP] B [SEP], token types 0/1."""
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b"] + [f"w{i}" for i in range(50)])}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]")


def words(n, start=0):
    return " ".join(f"w{i % 50}" for i in range(start, start + n))


def test_template_from_bert_tokenizer(bert_tok):
    t = encode.Template.from_tokenizer(bert_tok)
    assert (t.prefix, t.middle, t.suffix, t.pair_types, t.pad_id) == ((2,), (3,), (3,), True, 0)
    ids, types = t.build([10, 11], [12])
    assert ids == [2, 10, 11, 3, 12, 3] and types == [0, 0, 0, 0, 1, 1]
    # the template reproduces the tokenizer's own pair encoding
    enc = bert_tok("w1 w2", "w3", return_token_type_ids=True)
    a = bert_tok("w1 w2", add_special_tokens=False)["input_ids"]
    b = bert_tok("w3", add_special_tokens=False)["input_ids"]
    assert t.build(a, b) == (enc["input_ids"], enc["token_type_ids"])


def test_windows_strategies():
    ids = list(range(10))
    assert encode.windows(ids, 20, "head") == [ids]
    assert encode.windows(ids, 4, "head") == [[0, 1, 2, 3]]
    assert encode.windows(ids, 4, "head+tail") == [[0, 1, 2, 9]]
    assert encode.windows(ids, 4, "chunks") == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_encode_pairs_fit_max_len_and_keep_title(bert_tok):
    t = encode.Template.from_tokenizer(bert_tok)
    inputs = {"text": ["a b", ""], "text_pair": [words(100), words(5)], "cluster": None}
    f = encode.encode(bert_tok, t, inputs, max_len=16, strategy="chunks")
    assert all(len(r) <= 16 for r in f.input_ids)
    # article 0 is split into chunks, each starting with the whole title
    rows0 = [r for r, d in zip(f.input_ids, f.doc) if d == 0]
    assert len(rows0) == -(-100 // (16 - 3 - 2)) and all(r[1:3] == [4, 5] for r in rows0)
    # an empty title does not produce an empty pair: the body alone is the input
    last = f.input_ids[-1]
    assert f.doc[-1] == 1 and last[0] == 2 and last.count(3) == 1


def test_encode_carries_cluster_per_window(bert_tok):
    t = encode.Template.from_tokenizer(bert_tok)
    inputs = {"text": [words(30), words(3)], "text_pair": None, "cluster": [7, 2]}
    f = encode.encode(bert_tok, t, inputs, max_len=12, strategy="chunks")
    assert list(f.cluster) == [7] * 3 + [2]


def test_token_ids_cache_round_trips_and_is_keyed_by_tokenizer_and_texts(bert_tok, tmp_path, monkeypatch):
    texts = [words(7), "", words(300, 3), "a b"]
    plain = encode.token_ids(bert_tok, texts)
    assert encode.token_ids(bert_tok, texts, tmp_path) == plain
    assert len(list(tmp_path.glob("*.npz"))) == 1
    # a second call reads the file: the tokenizer is not called at all
    monkeypatch.setattr(type(bert_tok), "__call__", lambda *a, **k: pytest.fail("tokenised again"))
    assert encode.token_ids(bert_tok, texts, tmp_path) == plain
    monkeypatch.undo()
    # other texts, or a tokenizer with an added token, get their own entries
    encode.token_ids(bert_tok, texts[:3], tmp_path)
    other = bert_tok.__class__(tokenizer_object=bert_tok.backend_tokenizer.__class__.from_str(
        bert_tok.backend_tokenizer.to_str()), pad_token="[PAD]", unk_token="[UNK]")
    other.add_tokens(["[C0]"], special_tokens=True)
    assert encode.token_ids(other, ["[C0] a"], tmp_path) == [[56, 4]]
    assert len(list(tmp_path.glob("*.npz"))) == 3


def test_damaged_token_cache_is_rebuilt(bert_tok, tmp_path):
    texts = [words(5), words(9)]
    encode.token_ids(bert_tok, texts, tmp_path)
    (path,) = tmp_path.glob("*.npz")
    path.write_bytes(b"not a zip")
    assert encode.token_ids(bert_tok, texts, tmp_path) == encode.token_ids(bert_tok, texts)
    assert np.load(path)["ends"].tolist() == [5, 14]
