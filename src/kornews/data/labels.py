"""Label names <-> ids: fixed once from the training labels, saved as `id2label`/`label2id` in the model config."""
from kornews.core.errors import KornewsError


class LabelMap:
    """Label names <-> ids, fixed once from the training labels; ids follow the given order."""

    def __init__(self, labels):
        labels = [str(label) for label in labels]
        if not labels:
            raise KornewsError("a label map needs at least one label")
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise KornewsError(f"label order repeats {', '.join(map(repr, repeated))}")
        self.id2label = dict(enumerate(labels))
        self.label2id = {label: i for i, label in self.id2label.items()}

    @classmethod
    def fit(cls, labels) -> "LabelMap":
        """Sorted distinct labels, so the same data always gives the same ids."""
        return cls(sorted({str(label) for label in labels}))

    @property
    def labels(self) -> list[str]:
        return list(self.id2label.values())

    def __len__(self):
        return len(self.id2label)

    def __eq__(self, other):
        return isinstance(other, LabelMap) and self.labels == other.labels

    def __repr__(self):
        return f"LabelMap({self.labels!r})"

    def encode(self, labels, source=None, rows=None, unknown="labels never seen in training") -> list[int]:
        """Ids of `labels`; labels outside the map are an error naming them, with their rows.

        `rows` gives each label's row number for the message (default: 1-based position); `unknown` says what
        such labels are.
        """
        labels = [str(label) for label in labels]
        unseen = {}
        for label, row in zip(labels, rows if rows is not None else range(1, len(labels) + 1)):
            if label not in self.label2id:
                unseen.setdefault(label, []).append(int(row))
        if unseen:
            listed = ", ".join(
                f"{label!r} ({len(r)} row{'s' * (len(r) > 1)}, {'first row' if len(r) > 1 else 'row'} {r[0]})"
                for label, r in unseen.items())
            known = ", ".join(self.labels[:20]) + (", ..." if len(self) > 20 else "")
            prefix = f"{source}: " if source else ""
            raise KornewsError(f"{prefix}{unknown}: {listed}; known: {known}")
        return [self.label2id[label] for label in labels]

    def decode(self, ids) -> list[str]:
        out = []
        for i in ids:
            if int(i) not in self.id2label:
                raise KornewsError(f"label id {int(i)} out of range: the label map has {len(self)} labels")
            out.append(self.id2label[int(i)])
        return out

    def to_dict(self) -> dict:
        return {"labels": self.labels}

    @classmethod
    def from_dict(cls, data: dict) -> "LabelMap":
        """From `to_dict()`, or from a Hugging Face config's {"id2label": {"0": ...}} (keys str or int)."""
        if "labels" in data:
            return cls(data["labels"])
        if "id2label" in data:
            id2label = {int(k): v for k, v in data["id2label"].items()}
            if sorted(id2label) != list(range(len(id2label))):
                raise KornewsError(f"id2label ids must be 0..{len(id2label) - 1}, got {sorted(id2label)}")
            return cls([id2label[i] for i in range(len(id2label))])
        raise KornewsError("a saved label map needs 'labels' or 'id2label'")

