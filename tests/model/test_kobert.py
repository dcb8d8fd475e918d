"""The KoBERT path, on a small stand-in built from knews8 in KoBERT's Hub layout."""
import csv
import json
import shutil
from pathlib import Path

import pytest

from kornews.core.errors import KornewsError
from kornews.model.kobert import build_standin, is_kobert_layout, load_kobert_tokenizer

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "knews8"
A, B = "한국어 모델을 공유합니다.", "북미 정상회담을 앞두고 외교 일정이 빠듯하게 이어지고 있다"


def _knews(split: str, step: int) -> list[str]:
    """Titles and bodies of every `step`-th article."""
    with open(DATA / f"{split}.csv", encoding="utf-8", newline="") as f:
        records = list(csv.DictReader(f))[::step]
    return [r["title"] for r in records] + [r["cleanBody"] for r in records]


@pytest.fixture(scope="session")
def standin(tmp_path_factory):
    return build_standin(tmp_path_factory.mktemp("kobert") / "standin", _knews("train", 8))


@pytest.fixture(scope="session")
def tok(standin):
    return load_kobert_tokenizer(standin)


@pytest.fixture(scope="session")
def sp(standin):
    import sentencepiece
    return sentencepiece.SentencePieceProcessor(model_file=str(standin / "spiece.model"))


def test_standin_has_kobert_hub_layout(standin, sp, tmp_path):
    assert {p.name for p in standin.iterdir()} >= {"spiece.model", "tokenizer_config.json", "config.json",
                                                  "model.safetensors", "special_tokens_map.json"}
    assert json.loads((standin / "tokenizer_config.json").read_text())["tokenizer_class"] == "XLNetTokenizer"
    config = json.loads((standin / "config.json").read_text())
    assert (config["model_type"], config["pad_token_id"], config["vocab_size"]) == ("bert", 1, sp.get_piece_size())
    assert [sp.id_to_piece(i) for i in range(5)] == ["[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]"]
    assert is_kobert_layout(standin) and is_kobert_layout(str(standin)) and is_kobert_layout("skt/kobert-base-v1")

    xlnet = shutil.copytree(standin, tmp_path / "xlnet")  # a real XLNet repo: same tokenizer, XLNet model
    (xlnet / "config.json").write_text(json.dumps({**config, "model_type": "xlnet"}))
    assert not is_kobert_layout(xlnet)
    assert not is_kobert_layout("klue/bert-base")
    assert not is_kobert_layout(tmp_path / "missing")


def test_special_tokens_have_kobert_ids(tok, sp):
    ids = [tok.unk_token_id, tok.pad_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id]
    assert ids == [0, 1, 2, 3, 4]
    assert len(tok) == sp.get_piece_size()
    assert tok.padding_side == "right" and tok.model_max_length == 512


def test_single_and_pair_inputs_are_bert_style(tok, sp):
    single = tok(A)
    assert single["input_ids"] == [2] + sp.encode(A) + [3]
    assert set(single["token_type_ids"]) == {0} and set(single["attention_mask"]) == {1}

    pair = tok(A, B)
    first, second = len(sp.encode(A)) + 2, len(sp.encode(B)) + 1
    assert pair["input_ids"] == [2] + sp.encode(A) + [3] + sp.encode(B) + [3]
    assert pair["token_type_ids"] == [0] * first + [1] * second


def test_padding_is_on_the_right_with_pad_id_1(tok, sp):
    batch = tok([A, A + " " + B], [B, A], padding=True)
    short, long = batch["input_ids"]
    n = len(sp.encode(A)) + len(sp.encode(B)) + 3
    assert len(short) == len(long) > n
    assert short[:n] == tok(A, B)["input_ids"] and set(short[n:]) == {1}
    assert batch["attention_mask"][0] == [1] * n + [0] * (len(short) - n)
    assert batch["token_type_ids"][0][n:] == [0] * (len(short) - n)
    assert set(batch["attention_mask"][1]) == {1}


def test_truncation_keeps_both_segments_of_a_pair(tok):
    body = " ".join([B] * 60)
    pair = tok(A, body, truncation=True, max_length=24)
    ids, types = pair["input_ids"], pair["token_type_ids"]
    assert len(ids) == 24 and ids[0] == 2 and ids[-1] == 3 and ids.count(3) == 2
    boundary = ids.index(3) + 1
    assert types == [0] * boundary + [1] * (24 - boundary)
    assert len(tok(body, truncation=True)["input_ids"]) == 512


def test_pieces_match_sentencepiece_on_unseen_news(tok, sp):
    texts = _knews("test", 4) + ["  앞뒤 공백\t탭\n줄", "a  b   c ", "▁시작", "ＡＢＣ　전각 😀 北 ①",
                                 "1,000원 ''인용''", ""]
    ours = tok(texts, add_special_tokens=False)["input_ids"]
    assert ours == sp.encode(texts)
    assert any(0 in ids for ids in ours)  # unseen characters are [UNK], as SentencePiece has them


def test_save_pretrained_round_trip(tok, tmp_path):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    tok.save_pretrained(tmp_path)
    assert not is_kobert_layout(tmp_path)  # a saved tokenizer is plain BERT layout: no special loading needed
    expected = tok([A, B], [B, A], padding="max_length", max_length=40)
    for load in (load_kobert_tokenizer, PreTrainedTokenizerFast.from_pretrained, AutoTokenizer.from_pretrained):
        again = load(tmp_path)
        assert again([A, B], [B, A], padding="max_length", max_length=40) == expected
        assert (again.padding_side, again.pad_token_id, again.mask_token_id) == ("right", 1, 4)


def test_model_forward_ignores_padding(standin, tok):
    import torch
    from transformers import AutoModel, BertModel

    model = AutoModel.from_pretrained(standin).eval()
    assert isinstance(model, BertModel)
    alone = tok([A], return_tensors="pt")
    padded = tok([A, A + " " + B * 3], return_tensors="pt", padding=True)
    assert padded["input_ids"].shape[1] > alone["input_ids"].shape[1]
    with torch.no_grad():
        cls_alone = model(**alone).last_hidden_state[0, 0]
        cls_padded = model(**padded).last_hidden_state[0, 0]
    torch.testing.assert_close(cls_padded, cls_alone, atol=1e-5, rtol=1e-5)


def test_hub_id_without_network_is_one_clear_error(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(KornewsError, match="skt/kobert-base-v1: cannot fetch spiece.model"):
        load_kobert_tokenizer("skt/kobert-base-v1")


def test_broken_or_foreign_folders_are_refused(standin, tmp_path):
    with pytest.raises(KornewsError, match="not a KoBERT layout"):
        load_kobert_tokenizer(tmp_path)
    broken = shutil.copytree(standin, tmp_path / "broken")
    (broken / "spiece.model").write_bytes(b"not a sentencepiece model")
    with pytest.raises(KornewsError, match="spiece.model: not a readable SentencePiece model"):
        load_kobert_tokenizer(broken)
    (broken / "tokenizer_config.json").write_text("{")
    with pytest.raises(KornewsError, match="tokenizer_config.json: not valid JSON"):
        is_kobert_layout(broken)


def test_standin_needs_some_text(tmp_path):
    with pytest.raises(KornewsError, match="no texts"):
        build_standin(tmp_path / "empty", ["", "  ", float("nan")])
    assert not (tmp_path / "empty").exists()


def test_train_and_predict_through_the_kobert_path(standin, slices, tmp_path, tiny_cfg):
    """The whole pipeline on a KoBERT-layout backbone: BERT-style pairs with pad id 1, saved and reloaded."""
    from kornews import Classifier
    from kornews.model import backbones
    from kornews.training import loop
    cfg = tiny_cfg(backbone=standin, epochs=1, test=None)
    loop.train(cfg, tmp_path / "run", progress=False, log=lambda s: None)
    clf = Classifier.load(tmp_path / "run")
    template = clf.featurizer.template
    assert template.pad_id == 1 and template.prefix == (2,) and template.pair_types
    article = {"title": "국회 예산안", "body": "여야가 대립했다."}
    assert clf.predict([article])[0] in clf.labels
    # the run's saved tokenizer gives the same ids as the KoBERT adapter on the stand-in
    original = backbones.load_tokenizer(standin)
    assert clf.tokenizer("국회 예산안", "여야")["input_ids"] == original("국회 예산안", "여야")["input_ids"]
