"""KoBERT (`skt/kobert-base-v1`): a BERT model shipped with an XLNet-style SentencePiece tokenizer.

Loaded with plain AutoTokenizer that repo builds XLNet inputs (`A <sep> <cls>`, left padding), wrong for BERT;
SKT's own `KoBERTTokenizer` builds `[CLS] A [SEP] B [SEP]` with right padding. `load_kobert_tokenizer` builds
the same inputs as a fast tokenizer straight from `spiece.model`, with no protobuf dependency.
`build_standin` writes a small random model in the same layout, to try the KoBERT path offline.
"""
import io
import json
import math
from pathlib import Path

from kornews.core.errors import KornewsError
from kornews.core.files import atomic_dir
from kornews.model.spm_proto import read_model_proto

KOBERT_HUB_IDS = frozenset({"skt/kobert-base-v1"})
SPECIALS = {"unk_token": "[UNK]", "pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]",
            "mask_token": "[MASK]"}
PAD_ID = 1  # KoBERT's: [UNK] 0, [PAD] 1, [CLS] 2, [SEP] 3, [MASK] 4
MAX_LENGTH = 512  # KoBERT's max_position_embeddings
# What the Hub repo's tokenizer_config.json says (its tokenizer was saved by KoBERTTokenizer, an XLNetTokenizer).
HUB_TOKENIZER_CONFIG = {
    "do_lower_case": False, "remove_space": True, "keep_accents": False,
    "bos_token": "[CLS]", "eos_token": "[SEP]", **SPECIALS, "sp_model_kwargs": {},
    "tokenizer_class": "XLNetTokenizer",
}


def is_kobert_layout(path_or_id) -> bool:
    """True for a known KoBERT Hub id, or a folder with `spiece.model`, an XLNet tokenizer class and a BERT config."""
    path = Path(path_or_id)
    if not path.is_dir():
        return str(path_or_id) in KOBERT_HUB_IDS
    return ((path / "spiece.model").is_file()
            and _read_json(path / "tokenizer_config.json").get("tokenizer_class") == "XLNetTokenizer"
            and _read_json(path / "config.json").get("model_type") == "bert")


def load_kobert_tokenizer(path_or_id):
    """A fast tokenizer making BERT inputs for a KoBERT layout (folder or Hub id), or one saved from it."""
    from transformers import PreTrainedTokenizerFast

    path = Path(path_or_id)
    if path.is_dir() and (path / "tokenizer.json").is_file() and not is_kobert_layout(path):
        return PreTrainedTokenizerFast.from_pretrained(path)  # saved by save_pretrained: BERT layout already
    if not is_kobert_layout(path_or_id):
        raise KornewsError(f"{path_or_id}: not a KoBERT layout (spiece.model + XLNetTokenizer config + BERT config)")
    spiece = path / "spiece.model" if path.is_dir() else _hub_file(str(path_or_id), "spiece.model")
    return PreTrainedTokenizerFast(
        tokenizer_object=sentencepiece_tokenizer(Path(spiece).read_bytes(), spiece),
        name_or_path=str(path_or_id), padding_side="right",
        model_max_length=MAX_LENGTH, model_input_names=["input_ids", "token_type_ids", "attention_mask"],
        **SPECIALS)


def sentencepiece_tokenizer(model: bytes, name="spiece.model"):
    """A `tokenizers.Tokenizer` that encodes like `SentencePieceProcessor.encode`, wrapped as `[CLS] A [SEP] B [SEP]`.

    It follows SentencePiece itself, as KoBERT's original gluonnlp tokenizer did, without the XLNet extras that
    `KoBERTTokenizer` inherits (accent stripping, ``''`` to ``"``, splitting pieces that end in digit + comma).
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        normalizers,
        pre_tokenizers,
        processors,
    )
    from tokenizers.models import Unigram

    spec = read_model_proto(model, name)
    if spec["model_type"] != 1:
        raise KornewsError(f"{name}: SentencePiece model type {spec['model_type']} is not unigram, as KoBERT's is")
    vocab = spec["pieces"]
    ids = {piece: i for i, (piece, _) in enumerate(vocab)}
    missing = [token for token in SPECIALS.values() if token not in ids]
    if missing:
        raise KornewsError(f"{name}: no {', '.join(missing)} piece; KoBERT's vocabulary has all five BERT specials")

    tok = Tokenizer(Unigram(vocab, unk_id=ids[SPECIALS["unk_token"]], byte_fallback=False))
    # SentencePiece's order: its character map, then spaces trimmed and collapsed; Metaspace escapes them as "▁"
    steps = [normalizers.Precompiled(spec["charsmap"])] if spec["charsmap"] else []
    if spec["remove_extra_whitespaces"]:
        steps += [normalizers.Replace(Regex(r"\A +| +\z"), ""), normalizers.Replace(Regex(" {2,}"), " ")]
    prepend = "always" if spec["add_dummy_prefix"] else "never"
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=prepend, split=False)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme=prepend)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS.values()])
    cls, sep = SPECIALS["cls_token"], SPECIALS["sep_token"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls}:0 $A:0 {sep}:0", pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
        special_tokens=[(cls, ids[cls]), (sep, ids[sep])])
    return tok


def build_standin(dst, texts, vocab_size=8002, hidden=64, layers=2, seed=0) -> Path:
    """Write a KoBERT-layout folder at `dst` (replacing it): a SentencePiece unigram model trained on `texts`
    with KoBERT's special ids, the Hub's XLNet tokenizer config, and a small random `BertModel`."""
    import sentencepiece as spm
    import torch
    from transformers import BertConfig, BertModel

    texts = [t for t in texts if isinstance(t, str) and t.strip()]  # skips pandas' NaN and empty cells
    if not texts:
        raise KornewsError("build_standin: no texts to train the SentencePiece model on")
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=model, model_type="unigram", vocab_size=vocab_size,
        hard_vocab_limit=False,  # a small corpus may not support vocab_size pieces: take what it gives
        unk_id=0, pad_id=PAD_ID, bos_id=-1, eos_id=-1, unk_piece="[UNK]", pad_piece="[PAD]",
        control_symbols=["[CLS]", "[SEP]", "[MASK]"], max_sentence_length=1 << 16,  # whole news bodies
        num_threads=1, minloglevel=2)
    n_pieces = spm.SentencePieceProcessor(model_proto=model.getvalue()).get_piece_size()

    torch.manual_seed(seed)
    bert = BertModel(BertConfig(
        vocab_size=n_pieces, hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=math.gcd(hidden, 12), intermediate_size=4 * hidden,  # KoBERT: 768 wide, 12 heads
        max_position_embeddings=MAX_LENGTH, pad_token_id=PAD_ID))
    with atomic_dir(Path(dst)) as tmp:
        (tmp / "spiece.model").write_bytes(model.getvalue())
        (tmp / "tokenizer_config.json").write_text(json.dumps(HUB_TOKENIZER_CONFIG, indent=2), encoding="utf-8")
        (tmp / "special_tokens_map.json").write_text(json.dumps(SPECIALS, indent=2), encoding="utf-8")
        bert.save_pretrained(tmp)
    return Path(dst)


def _hub_file(repo_id: str, filename: str) -> str:
    from huggingface_hub import hf_hub_download

    try:
        return hf_hub_download(repo_id, filename)
    except Exception as e:  # offline, missing file, auth: all end the same way for the user
        raise KornewsError(f"{repo_id}: cannot fetch {filename} from the Hugging Face Hub "
                           f"({type(e).__name__}); download the repo and pass its folder instead") from e


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise KornewsError(f"{path}: not valid JSON ({e})") from e
