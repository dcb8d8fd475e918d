"""The app: `Settings`, the `Service` a run gives the routes, `create_app` (the routes, thin), and `serve`."""
import asyncio
import functools
import io
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from kornews.commands.calibrate import reference
from kornews.core.errors import KornewsError
from kornews.data import tables
from kornews.inference.classifier import (
    Classifier,
    locate,
    predictions_frame,
    predictions_text,
    review_threshold,
)
from kornews.serve.batcher import Batcher
from kornews.serve.guard import Guard
from kornews.serve.schemas import ERRORS, FILE_OK, Article, Batch, BatchResult, Single
from kornews.serve.watch import WINDOW, Watch, prometheus
from kornews.training import config

log = logging.getLogger("kornews.serve")  # the server's one logger, whichever module writes
PAGE = Path(__file__).parents[1] / "static" / "index.html"
SETTINGS_ENV = "KORNEWS_SERVE_SETTINGS"  # how `--workers N` hands settings to uvicorn's worker processes
MEDIA = {"csv": "text/csv", "jsonl": "application/x-ndjson"}


@dataclass(frozen=True)
class Settings:
    run: str
    engine: str = "auto"
    threads: int | None = None
    device: str = "auto"
    api_key: str | None = None
    max_batch: int = 32          # articles in one model call; a request is never split
    wait_ms: float = 5.0         # how long an idle server waits for company before running a lone request
    max_articles: int = 64       # per JSON request (413 above)
    max_file_articles: int = 5000  # per upload (413 above): larger corpora go to `kornews predict`
    max_body_bytes: int = 32 << 20  # any request body (413 above)
    min_confidence: float | None = None  # the review threshold (None: the run's own; 0: none)
    monitor_window: int = WINDOW  # the last articles /v1/monitor and /metrics describe (0: no monitoring)


class Refused(Exception):
    """A request the server turns down on purpose: answered with `status`, logged as a warning."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class Service:
    """What the routes need of a run: its classifier, described, and the work behind each route."""

    def __init__(self, settings: Settings, classifier=None):
        self.settings = settings
        self.clf = classifier or Classifier.load(settings.run, engine=settings.engine, threads=settings.threads,
                                                 device=settings.device)
        run_dir, model_dir = locate(settings.run)[:2]
        run_dir = run_dir or model_dir.parent  # a bare model directory: its parent names it
        self.name = run_dir.resolve().name
        self.info = {"run": self.name, "mode": self.clf.mode, "fields": list(self.clf.spec.mode_row.fields),
                     "max_len": self.clf.spec.max_len, "engine": self.clf.engine.name,
                     "backbone": _backbone(run_dir), "labels": self.clf.labels, "metrics": _metrics(run_dir),
                     "hybrid": getattr(self.clf, "hybrid", None) and self.clf.hybrid.kind,
                     "calibration": getattr(self.clf, "calibration", None) and asdict(self.clf.calibration),
                     "review_threshold": review_threshold(self.clf, settings.min_confidence),
                     "limits": {k: v for k, v in asdict(settings).items() if k.startswith(("max_", "wait"))}}
        self.batcher = Batcher(self.results, settings.max_batch, settings.wait_ms)
        self.watch, self.unwatched = None, "monitoring is off (--monitor-window 0)"
        if settings.monitor_window > 0:
            try:
                self.watch = Watch(reference(run_dir, self.clf), settings.monitor_window)
            except (KornewsError, OSError) as e:  # a bare model directory has no labelled articles to compare with
                self.unwatched = f"no monitoring reference for this run ({e})"

    def results(self, articles: list[dict]) -> list[dict]:
        """The batcher's model call: a topic, its probabilities and the cluster (or None) per article; the monitoring
        window keeps a few numbers of each."""
        probs, clusters = self.clf.classify(articles)
        if self.watch is not None:
            fields, pair = self.clf.spec.mode_row.fields, self.clf.spec.mode_row.pair
            self.watch.add(probs, [sum(len(a[f]) for f in fields) for a in articles],
                           [pair and bool(a["title"]) and not a["body"] for a in articles])
        labels = self.clf.labels
        return [{"topic": labels[int(p.argmax())], "confidence": round(float(p.max()), 6),
                 "probabilities": {name: round(float(v), 6) for name, v in zip(labels, p)},
                 "cluster": int(clusters[i]) if clusters is not None else None} for i, p in enumerate(probs)]

    async def classify(self, items: list, min_confidence=None, explain=None) -> list[dict]:
        """A request's articles, in order: each result with its id (default: its place), `truncated` and `review`
        (under the request's threshold, else the server's, else the run's)."""
        if len(items) > self.settings.max_articles:
            raise Refused(413, f"{len(items)} articles in one request; at most {self.settings.max_articles} "
                               "(split the batch, or use `kornews predict` for files)")
        frame = self.read(items)
        results = await self.batcher([{"title": t, "body": b} for t, b in zip(frame["title"], frame["body"])])
        asked = min_confidence if min_confidence is not None else self.settings.min_confidence
        threshold = review_threshold(self.clf, asked)
        words = [None] * len(items)
        if explain:  # on the model's thread, like every model call
            explained = await asyncio.get_running_loop().run_in_executor(self.batcher.pool, self.clf.explain, frame,
                                                                         explain)
            words = [[{"word": w.word, "weight": w.weight} for w in ws] for ws in explained]
        return [{"id": a.id if a.id is not None else i, **r, "truncated": bool(cut),
                 "review": None if threshold is None else r["confidence"] < threshold, "explanation": ws}
                for i, (a, r, cut, ws) in enumerate(zip(items, results, frame["truncated"], words))]

    def monitored(self) -> dict:
        if self.watch is None:
            raise Refused(503, self.unwatched)
        return self.watch.assess()

    def read(self, items: list):
        """The articles through the run's reader (stripped, cut at MAX_CHARS); one with no text is a 422."""
        fields = self.clf.spec.mode_row.fields
        try:
            frame = self.clf.read([{"title": _encodable(a.title), "body": _encodable(a.body)} for a in items],
                                  quiet=True).frame
        except KornewsError:  # every article empty: the reader refuses the whole list
            frame = None
        if frame is None or len(frame) < len(items):  # the reader skipped some: name the first (row r = index r-1)
            kept = set() if frame is None else set(frame["row"])
            i = next(i for i in range(len(items)) if i + 1 not in kept)
            where = f"article {i}" + (f" (id {items[i].id!r})" if items[i].id is not None else "")
            raise Refused(422, f"{where}: no text for this model, which reads {' and '.join(fields)}")
        return frame

    async def predict_file(self, name: str, raw: bytes, fmt: str) -> str:
        """An uploaded table's predictions, as the `predict` verb writes them."""
        try:
            table = tables.parse_table(raw, name, tables.FORMATS.get(Path(name).suffix.lower()))
            df = self.clf.read(table).frame
        except KornewsError as e:
            raise Refused(422, str(e)) from None
        if len(df) > self.settings.max_file_articles:
            raise Refused(413, f"{name}: {len(df)} articles; the server takes at most "
                               f"{self.settings.max_file_articles} per upload (use `kornews predict` for larger files)")
        # a whole file is one model job: on the model's thread, so it never runs beside a batch
        job = functools.partial(predictions_frame, self.clf, df, min_confidence=self.settings.min_confidence)
        frame = await asyncio.get_running_loop().run_in_executor(self.batcher.pool, job)
        return predictions_text(frame, fmt)


def _encodable(text: str) -> str:
    # JSON may carry lone surrogates ("\ud800") no UTF-8 table can hold: U+FFFD; NUL counts as no text
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", " ")


def _backbone(run_dir: Path):
    try:
        return config.read_run(run_dir).backbone
    except (KornewsError, OSError, ValueError):
        return None


def _metrics(run_dir: Path) -> dict:
    """The run's kept model's validation metrics and, once `evaluate` ran, its test report's headline."""
    out = {}
    for key, name in (("final", "final.json"), ("evaluation", "report.json")):
        try:
            value = json.loads((run_dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if key == "evaluation" and isinstance(value, dict):
            value = {k: value[k] for k in ("accuracy", "macro", "n", "source") if k in value}
        out[key] = value
    return out


@functools.cache
def page_font() -> bytes | None:
    """NanumGothic as browsers accept it: its empty TSI* tables (hinting sources) make Chromium's font
    sanitizer (OTS) reject the file whole, so they are dropped."""
    from kornews.core.plots import bundled_font
    if (path := bundled_font()) is None:
        return None
    from fontTools.ttLib import TTFont  # matplotlib's dependency
    ttf = TTFont(path)
    for tag in [t for t in ttf.keys() if t.startswith("TSI")]:
        del ttf[tag]
    out = io.BytesIO()
    ttf.save(out)
    return out.getvalue()


# --- the app ---------------------------------------------------------------------------------------

def create_app(settings: Settings, classifier=None) -> FastAPI:
    """The FastAPI app for a run (`classifier` given: use it instead of loading the run's)."""
    service = Service(settings, classifier)
    app = FastAPI(title="kornews", version=_version(),
                  description=f"Topic classification of Korean news with the run `{service.name}` "
                              f"(mode {service.clf.mode}: reads {' and '.join(service.info['fields'])}). With an "
                              "API key set, every route but /health and / needs the header `X-API-Key`.")
    app.state.service = service
    _answer_errors(app)

    @app.get("/health")
    async def health():
        """Liveness, and how many model calls served how many requests (batching at work)."""
        return {"status": "ok", **service.batcher.stats()}

    @app.get("/v1/labels", responses=ERRORS)
    async def labels() -> list[str]:
        return service.clf.labels

    @app.get("/v1/model", responses=ERRORS)
    async def model_info() -> dict:
        return service.info

    @app.get("/v1/monitor", responses=ERRORS)
    async def monitor() -> dict:
        """The last articles classified against the run's reference: estimated accuracy (ATC) with its interval,
        topic mix and its shift, the drift tests' p-values, and whether the news drifted."""
        return await asyncio.to_thread(service.monitored)

    @app.get("/metrics", include_in_schema=False)
    async def metrics():
        """Counters and the monitoring figures in Prometheus' text format."""
        text = prometheus(await asyncio.to_thread(service.monitored), service.batcher.stats())
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.post("/v1/classify", responses=ERRORS, response_model=Single | BatchResult)
    async def classify(payload: Article | Batch):
        """One article → one result; `{"articles": [...]}` → `{"results": [...]}` in the same order."""
        if isinstance(payload, Batch):
            return {"run": service.name,
                    "results": await service.classify(payload.articles, payload.min_confidence, payload.explain)}
        return {"run": service.name, **(await service.classify([payload], payload.min_confidence, payload.explain))[0]}

    @app.post("/v1/classify/file", responses={**ERRORS, **FILE_OK})
    async def classify_file(file: UploadFile = File(description="CSV, TSV, JSONL or Parquet with the run's "
                                                                "title/body columns (knews8's names by default)"),
                            fmt: Literal["csv", "jsonl"] = Query("csv", alias="format",
                                                                 description="the predictions' format")):
        """Predictions for an uploaded table, as the `predict` verb writes them (id, pred, cluster, p_<topic>)."""
        name = Path(file.filename or "upload.csv").name
        text = await service.predict_file(name, await file.read(), fmt)
        saved = f"{_ascii(Path(name).stem)}-predictions.{fmt}"
        return Response(text.encode("utf-8"), media_type=f"{MEDIA[fmt]}; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{saved}"'})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    @app.get("/font.ttf", include_in_schema=False)
    async def font():
        """The page's Korean font (NanumGothic, from the wheel the plots use), so Korean renders anywhere."""
        if (ttf := page_font()) is None:
            raise HTTPException(404, "no bundled font (koreanize-matplotlib is not installed)")
        return Response(ttf, media_type="font/ttf", headers={"Cache-Control": "max-age=86400"})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon():
        return Response(status_code=204)

    app.add_middleware(Guard, api_key=settings.api_key, max_body=settings.max_body_bytes)
    return app


def _answer_errors(app: FastAPI) -> None:
    """Every refusal as {"error": {"status", "message"}}: ours, pydantic's (400 or 422) and Starlette's."""

    def fail(request: Request, status: int, message: str, warn=True) -> JSONResponse:
        if warn:
            log.warning("%s %s: %d %s", request.method, request.url.path, status, message)
        return JSONResponse({"error": {"status": status, "message": message}}, status_code=status)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):
        return fail(request, exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems = exc.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return fail(request, 400, "malformed JSON: " + "; ".join(
                str(p.get("ctx", {}).get("error", p.get("msg"))) for p in problems[:1]))
        # FastAPI reports both readings of the union; keep the one the client meant
        branch = "Batch" if isinstance(exc.body, dict) and "articles" in exc.body else "Article"
        meant = [p for p in problems if len(p.get("loc", ())) < 2 or p["loc"][1] in (branch, branch.lower())]
        return fail(request, 422, "; ".join(_problem(p) for p in (meant or problems)[:5]))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return fail(request, exc.status_code, str(exc.detail), warn=False)


def _problem(p: dict) -> str:
    """A pydantic error as `field: message`, without FastAPI's leading "body" and union branch names."""
    loc = [str(x) for x in p.get("loc", ())[1:] if x not in ("Article", "Batch")]
    return f"{'.'.join(loc) or 'body'}: {p.get('msg', 'invalid')}"


def _ascii(name: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name) or "upload"


def _version() -> str:
    from kornews.core.version import __version__
    return __version__


# --- running it ------------------------------------------------------------------------------------

def app_from_env() -> FastAPI:
    """uvicorn's factory in each worker process (`--workers N`): settings come through the environment."""
    return create_app(Settings(**json.loads(os.environ[SETTINGS_ENV])))


def serve(settings: Settings, host="127.0.0.1", port=8000, workers=1, access_log=True) -> None:
    import uvicorn

    from kornews.core import runtime
    locate(settings.run)  # a wrong path fails here, in one line, before any worker starts
    if host not in ("127.0.0.1", "localhost", "::1") and not settings.api_key:
        log.warning("serving on %s without an API key: anyone who reaches this address can use it "
                    "(set --api-key or KORNEWS_API_KEY)", host)
    logging.basicConfig(level=logging.INFO, format="kornews: %(message)s")
    if workers > 1:
        threads = settings.threads or runtime.threads_for(workers)
        os.environ[SETTINGS_ENV] = json.dumps(asdict(Settings(**{**asdict(settings), "threads": threads})))
        uvicorn.run("kornews.serve.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                    access_log=access_log)
    else:
        uvicorn.run(create_app(settings), host=host, port=port, access_log=access_log)
