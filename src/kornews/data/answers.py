"""An editor's answers while labelling: a JSON-lines file that only grows.

Each answer is one line, written and fsynced the moment it is given, so a closed tab, a reload or a killed server
loses at most the article on screen. A changed answer is a later line for the same article (the last one counts) and
a skip is an answer with an empty label. The file is also an ordinary labelled source: `articles.read(...,
skip_unlabeled=True)` reads what `learn` trains on, and `choose --labeled` never offers its articles again.
"""
import json
import os
import time
from pathlib import Path

from kornews.core.errors import KornewsError


class Answers:
    """The answers file at `path` (created on the first answer)."""

    def __init__(self, path):
        self.path = Path(path)

    def append(self, article: dict, label: str | None) -> dict:
        """Record `label` (None or "": skipped) for `article` (id, title, body, and how `choose` picked it) durably;
        returns the record."""
        record = {"id": str(article["id"]), "title": str(article.get("title", "")),
                  "body": str(article.get("body", "")), "pick": str(article.get("pick", "")),
                  "label": (label or "").strip(), "at": round(time.time(), 3)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._drop_torn_tail()
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return record

    def latest(self) -> dict[str, dict]:
        """Each answered article's last answer, by id, in the order articles were first answered."""
        out = {}
        if not self.path.is_file():
            return out
        lines = self.path.read_text(encoding="utf-8").split("\n")
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                out[str(record["id"])] = record
            except (ValueError, KeyError, TypeError):
                if n == len(lines):  # the last line, cut by a kill mid-write: that answer was never given
                    break
                raise KornewsError(f"{self.path}: line {n} is not an answer (JSON with an id)") from None
        return out

    def _drop_torn_tail(self) -> None:
        # a kill mid-write leaves a last line without its newline: cut it, or the next answer would be glued to it
        if not self.path.is_file():
            return
        with open(self.path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
                f.flush()
                os.fsync(f.fileno())
