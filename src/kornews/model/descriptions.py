"""Topics without training: an article gets the topic whose description its sentence embedding is closest to.

multilingual-e5 was trained for retrieval: a "query: " text against "passage: " texts, mean-pooled, cosine
similarity at temperature 0.01. Topic descriptions are the queries and articles the passages, so the pretrained
encoder alone is a classifier: the floor any fine-tuning has to clear, and a start for a user with no labels yet.

    description(label)                         a topic's built-in description (its name where none is known)
    ZeroShot(descriptions, backbone).fit()     label_vectors_ from the descriptions
    .predict_proba(texts) / .predict(texts)    softmax over cosine / temperature (not calibrated)
    .transform(texts), .proba(vectors)         the same in two steps: articles embedded once, several label sets
"""
from pathlib import Path

import numpy as np

from kornews.core.errors import KornewsError

# What a Korean newspaper's section of each topic holds, written once from the section names (not tuned on any
# split). knews8's topics; YNAT's seven names reuse them (생활문화 is culture: YNAT files entertainment there).
TOPICS = {
    "politics": "정치 뉴스: 국회, 정당, 선거, 대통령, 정부, 북한, 국방, 외교",
    "economy": "경제 뉴스: 금융, 증권, 주식, 부동산, 기업, 산업, 무역, 물가",
    "society": "사회 뉴스: 사건 사고, 경찰, 검찰, 법원, 교육, 노동, 환경, 지역",
    "international": "국제 뉴스: 해외, 세계 각국, 외국 정부, 미국, 중국, 일본, 유럽",
    "sport": "스포츠 뉴스: 야구, 축구, 농구, 배구, 골프, 경기, 선수, 감독",
    "entertain": "연예 뉴스: 방송, 드라마, 예능, 영화 배우, 가수, 아이돌",
    "it": "IT 과학 뉴스: 인터넷, 모바일, 스마트폰, 게임, 통신, 과학 기술",
    "culture": "생활 문화 뉴스: 건강, 여행, 음식, 날씨, 공연, 전시, 책, 종교",
}
YNAT = {"IT과학": "it", "경제": "economy", "사회": "society", "생활문화": "culture", "세계": "international",
        "스포츠": "sport", "정치": "politics"}
LABEL_SETS = {"knews8": TOPICS, "ynat": {name: TOPICS[topic] for name, topic in YNAT.items()}}
TEMPERATURE = 0.01  # e5's contrastive temperature: similarities of 0.80 against 0.78 are a real preference
MAX_LEN = 256       # title and lead paragraphs name the topic; 512 costs twice as much
BATCH = 32


def korean_name(label: str) -> str:
    """The section name a Korean reader knows a knews8 or YNAT topic by (정치, IT 과학); any other label as it is."""
    return TOPICS[label].split(" 뉴스:")[0] if label in TOPICS else str(label)


def description(label: str) -> str:
    """The built-in description of a knews8 or YNAT topic name; any other label is its own description."""
    return {**TOPICS, **LABEL_SETS["ynat"]}.get(str(label), str(label))


def descriptions(labels) -> dict:
    """{label: description} from a built-in set's name (knews8, ynat), a YAML file of `label: description`
    lines, or a mapping."""
    if isinstance(labels, dict):
        found = labels
    elif str(labels) in LABEL_SETS:
        return dict(LABEL_SETS[str(labels)])
    elif Path(str(labels)).is_file():
        from kornews.core.files import read_yaml
        found = read_yaml(labels)
    else:
        raise KornewsError(f"labels {labels!r}: neither a built-in set ({', '.join(LABEL_SETS)}) nor a YAML file "
                           "of `label: description` lines")
    if not isinstance(found, dict) or len(found) < 2:
        raise KornewsError(f"labels {labels!r}: need at least two `label: description` entries")
    empty = [str(k) for k, v in found.items() if not isinstance(v, str) or not v.strip()]
    if empty:
        raise KornewsError(f"labels {labels!r}: no description (a non-empty text) for {', '.join(empty)}")
    return {str(k): v.strip() for k, v in found.items()}


def mean_pooled(backbone: str, max_len: int = MAX_LEN):
    """texts -> (n, d) unit vectors: the mean of the encoder's last hidden states over each text's tokens."""
    import torch
    from transformers import AutoModel

    from kornews.model import backbones, encode
    path = backbones.pull(backbone) if backbone in backbones.BUILTINS else backbone
    try:
        tokenizer = backbones.load_tokenizer(path)
        with encode.hf_quiet():  # a classifier's head, or a missing pooler, is not used here
            model = AutoModel.from_pretrained(path, add_pooling_layer=False, dtype=torch.float32).eval()
    except OSError as e:
        raise KornewsError(f"backbone {backbone!r} cannot be loaded: {str(e).splitlines()[0]}") from None

    def embed(texts) -> np.ndarray:
        texts = [str(t) for t in texts]
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths per batch: less padding
        out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
        for start in range(0, len(texts), BATCH):
            rows = order[start:start + BATCH]
            batch = tokenizer([texts[i] for i in rows], truncation=True, max_length=max_len, padding=True,
                              return_tensors="pt")
            with torch.inference_mode():
                hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
            out[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out
    return embed


class ZeroShot:
    """A classifier from topic descriptions alone; `fit` embeds the descriptions."""

    def __init__(self, labels="knews8", backbone: str = "me5-small", temperature: float = TEMPERATURE,
                 max_len: int = MAX_LEN):
        self.labels, self.backbone, self.temperature, self.max_len = labels, backbone, temperature, max_len
        self.labels_ = self.label_vectors_ = self._embed = None

    def fit(self) -> "ZeroShot":
        if not (isinstance(self.temperature, (int, float)) and self.temperature > 0):
            raise KornewsError(f"temperature must be a positive number, got {self.temperature!r}")
        found = descriptions(self.labels)
        self._embed = mean_pooled(self.backbone, self.max_len)
        self.labels_ = list(found)
        self.label_vectors_ = self._embed(["query: " + text for text in found.values()])
        return self

    def transform(self, texts) -> np.ndarray:
        """The articles' unit vectors (what `proba` compares with the descriptions')."""
        if self.label_vectors_ is None:
            raise KornewsError("the zero-shot classifier is not fitted: call fit first")
        return self._embed(["passage: " + str(t) for t in texts])

    def predict_proba(self, texts) -> np.ndarray:
        return self.proba(self.transform(texts))

    def proba(self, vectors: np.ndarray) -> np.ndarray:
        logits = vectors @ self.label_vectors_.T / self.temperature
        probs = np.exp(logits - logits.max(1, keepdims=True))
        return probs / probs.sum(1, keepdims=True)

    def predict(self, texts) -> list[str]:
        return [self.labels_[i] for i in self.predict_proba(texts).argmax(1)]
