"""`kornews label RUN CHOSEN --answers FILE`: a page to label the articles `kornews choose` picked, one at a time.

    GET  /                 the page (Korean; number keys pick a topic, Enter accepts, Backspace goes back, S skips)
    GET  /v1/label/state   the topics, the articles, the answers given so far and where to resume
    POST /v1/label/answer  {id, label}: one answer ("" skips), written durably before the reply

Answers go to an append-only file (`data.answers`), fsynced before the page moves on: a closed tab, a reload or a
killed server loses at most the article on screen, and the next start resumes at the first unanswered article.
`kornews learn RUN FILE` reads that file.
"""
import logging
import threading
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from kornews.core.errors import KornewsError
from kornews.data import articles, tables
from kornews.data.answers import Answers
from kornews.inference.classifier import locate
from kornews.model.descriptions import korean_name
from kornews.serve.app import page_font

log = logging.getLogger("kornews.serve")
PAGE = Path(__file__).parents[1] / "static" / "label.html"
MAX_TOPIC = 40  # characters of a topic the editor adds


class Answer(BaseModel):
    id: str = Field(min_length=1)
    label: str = Field(default="", max_length=MAX_TOPIC)


def sheet_articles(path) -> list[dict]:
    """The chosen articles of a sheet (id, title, body; the run's suggestion and confidence where the sheet has
    them), in the sheet's order; an article without an id is named by its row."""
    raw = tables.read_table(path)
    frame = articles.read(raw.assign(**{c: "" for c in ("title", "body") if c not in raw}), mode=3,
                          labeled=False, quiet=True).frame
    out = []
    for a in frame.itertuples():
        cells = raw.iloc[a.row - 1]
        confidence = str(cells.get("confidence", "")).strip()
        out.append({"id": a.id or f"row-{a.row}", "title": a.title, "body": a.body,
                    "suggested": str(cells.get("suggested", "")).strip() or None,
                    "confidence": float(confidence) if confidence else None,
                    "pick": str(cells.get("pick", "")).strip()})
    ids = [a["id"] for a in out]
    if len(set(ids)) < len(ids):
        raise KornewsError(f"{path}: the same id on two rows ({next(i for i in ids if ids.count(i) > 1)!r}); "
                           "an answer names its article by id")
    return out


def create_label_app(run, sheet, answers) -> FastAPI:
    """The labelling app for run `run`'s topics, the articles of `sheet`, answers appended to `answers`."""
    labels = [str(v) for _, v in sorted(locate(run)[2].id2label.items(), key=lambda kv: int(kv[0]))]
    chosen = sheet_articles(sheet)
    by_id = {a["id"]: a for a in chosen}
    store, lock = Answers(answers), threading.Lock()
    store.latest()  # a broken answers file fails now, in one line, not at the first answer
    app = FastAPI(title="kornews label", docs_url=None, redoc_url=None)

    @app.get("/", response_class=HTMLResponse)
    def page():
        return PAGE.read_text(encoding="utf-8")

    @app.get("/font.ttf")
    def font():  # the serve page's Korean font, so Korean renders anywhere
        if (ttf := page_font()) is None:
            raise HTTPException(404, "no bundled font (koreanize-matplotlib is not installed)")
        return Response(ttf, media_type="font/ttf", headers={"Cache-Control": "max-age=86400"})

    @app.get("/v1/label/state")
    def state():
        given = {i: r["label"] for i, r in store.latest().items() if i in by_id}
        topics = labels + sorted({v for v in given.values() if v and v not in labels})
        resume = next((k for k, a in enumerate(chosen) if a["id"] not in given), len(chosen))
        return {"topics": [{"name": t, "korean": korean_name(t)} for t in topics], "articles": chosen,
                "answers": given, "resume": resume, "answers_file": str(store.path)}

    @app.post("/v1/label/answer")
    def answer(a: Answer):
        if a.id not in by_id:
            return JSONResponse({"error": {"status": 404, "message": f"no chosen article has id {a.id!r}"}}, 404)
        label = a.label.strip()
        if any(c in label for c in "\n\r\t"):
            return JSONResponse({"error": {"status": 422, "message": "a topic is one line"}}, 422)
        with lock:  # one writer at a time: lines never interleave
            store.append(by_id[a.id], label)
            answered = sum(1 for i in store.latest() if i in by_id)
        return {"id": a.id, "label": label, "answered": answered, "total": len(chosen)}

    return app


def serve_labels(run, sheet, answers, host="127.0.0.1", port=8000) -> None:
    import uvicorn
    app = create_label_app(run, sheet, answers)
    page_font()  # made once before the first page asks for it: seconds of CPU that would delay the first answers
    logging.basicConfig(level=logging.INFO, format="kornews: %(message)s")
    log.info("labelling %s into %s: open http://%s:%d/", sheet, answers, host, port)
    uvicorn.run(app, host=host, port=port, access_log=False)
