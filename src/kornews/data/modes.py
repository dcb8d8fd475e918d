"""The five input modes, in one table: which article fields a mode reads and how the cluster id reaches the model.
A leaf: config, features, model and the reader all ask this table, and it asks no one."""
from dataclasses import dataclass

from kornews.core.errors import KornewsError


@dataclass(frozen=True)
class Mode:
    number: int
    fields: tuple               # the article fields fed to the tokenizer; two make a real (title, body) pair
    text: str                   # how the mode is described to a user
    cluster_token: bool = False      # mode 4: a [Ci] token after [CLS]
    cluster_embedding: bool = False  # mode 5: a learned vector added to the input embeddings

    @property
    def clusters(self) -> bool:
        """Needs the run's clusterer (a cluster id per article)."""
        return self.cluster_token or self.cluster_embedding

    @property
    def pair(self) -> bool:
        return len(self.fields) == 2


MODES = {
    1: Mode(1, ("body",), "body"),
    2: Mode(2, ("title",), "title"),
    3: Mode(3, ("title", "body"), "title+body pair"),
    4: Mode(4, ("title", "body"), "title+body pair with a cluster token", cluster_token=True),
    5: Mode(5, ("title", "body"), "title+body pair with a cluster embedding", cluster_embedding=True),
}
MODES_TEXT = "1 (body), 2 (title), 3 (title+body pair), 4 or 5 (title+body pair with the run's clusters)"


def mode(number) -> Mode:
    """The row of mode `number`; the one check of a mode, wherever one arrives (config, a saved run, a call)."""
    if isinstance(number, bool) or number not in MODES:
        raise KornewsError(f"invalid mode {number!r}: choose {MODES_TEXT}")
    return MODES[number]


def cluster_tokens(k: int) -> list[str]:
    """Mode 4's special tokens, one per cluster."""
    return [f"[C{i}]" for i in range(k)]


def mode_inputs(df, number) -> dict:
    """Model inputs of normalized articles for a mode: {"text", "text_pair", "cluster"}.

    One field: text is that field. Two: text = title, text_pair = body; a row with only one of them has it
    as its text and None as its pair (never an empty pair), so `text_pair` is a list[str | None]. Modes 4
    and 5 add the `cluster` column as ints. Features are never concatenated into one string: the tokenizer
    sees a real pair.
    """
    m = mode(number)
    cluster = None
    if m.clusters:
        if "cluster" not in df:
            raise KornewsError(f"mode {number} needs a cluster column; it is filled by the run's clusterer")
        cluster = [int(c) for c in df["cluster"]]
    if len(m.fields) == 1:
        return {"text": list(df[m.fields[0]]), "text_pair": None, "cluster": cluster}
    titles, bodies = list(df["title"]), list(df["body"])
    return {"text": [t or b for t, b in zip(titles, bodies)],
            "text_pair": [b if t and b else None for t, b in zip(titles, bodies)],
            "cluster": cluster}


def headline_only(df, number) -> list[bool]:
    """Per article: read by a pair mode but given as a headline alone (a title, no body), the input a knews8 run
    never trained on and is least sure of; calibration gives such articles their own temperature."""
    if not mode(number).pair:
        return [False] * len(df)
    return [bool(t) and not b for t, b in zip(df["title"], df["body"])]
