"""`kornews serve RUN`: a REST API and a web page over one run's classifier (FastAPI + uvicorn).

    POST /v1/classify        one article {title, body, id?} or a batch {articles: [...]}
    POST /v1/classify/file   a CSV / TSV / JSONL / Parquet upload, predictions back as CSV or JSONL
    GET  /v1/labels, /v1/model, /health; /docs (OpenAPI); / (the page)

Concurrent requests are gathered by a `Batcher` into one model call, run on one thread beside the event loop.
Every error reaches the client as {"error": {"status", "message"}} and the log as one line; never a traceback.
"""
import asyncio
import functools
import hmac
import io
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import KornewsError

log = logging.getLogger("kornews.serve")
PAGE = Path(__file__).with_name("static") / "index.html"
# reachable without the API key: liveness, and the page's static files (no data in them)
PUBLIC = ("/health", "/", "/font.ttf", "/favicon.ico")
SETTINGS_ENV = "KORNEWS_SERVE_SETTINGS"  # how `--workers N` hands settings to uvicorn's worker processes


@dataclass(frozen=True)
class Settings:
    run: str
    engine: str = "auto"
    threads: int | None = None
    api_key: str | None = None
    max_batch: int = 32          # articles in one model call; a request is never split
    wait_ms: float = 5.0         # how long an idle server waits for company before running a lone request
    max_articles: int = 64       # per JSON request (413 above)
    max_file_articles: int = 5000  # per upload (413 above): larger corpora go to `kornews predict`
    max_body_bytes: int = 32 << 20  # any request body (413 above)


class Batcher:
    """Gathers the articles of concurrent requests into one call of `predict(articles) -> list of results`.

    A call runs on one worker thread (torch and ONNX Runtime release the GIL, so the loop keeps accepting
    requests); what arrives meanwhile forms the next batch. A lone request on an idle server waits `wait_ms`."""

    def __init__(self, predict, max_batch=32, wait_ms=5.0):
        self.predict, self.max_batch, self.wait = predict, max(1, int(max_batch)), max(0.0, wait_ms) / 1000
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="kornews-model")
        self.queue, self.task, self.carry = None, None, None
        self.calls = self.requests = self.articles = 0

    async def __call__(self, articles: list) -> list:
        loop = asyncio.get_running_loop()
        if self.task is None or self.task.get_loop() is not loop or self.task.done():
            self.queue, self.carry = asyncio.Queue(), None
            self.task = loop.create_task(self._run())
        future = loop.create_future()
        await self.queue.put((articles, future))
        return await future

    async def _next_batch(self) -> list:
        first = self.carry or await self.queue.get()
        self.carry = None
        if self.queue.empty() and self.wait:
            await asyncio.sleep(self.wait)
        batch, size = [first], len(first[0])
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if size + len(item[0]) > self.max_batch:
                self.carry = item  # first in the next batch: order of arrival is kept
                break
            batch.append(item)
            size += len(item[0])
        return batch

    async def _run(self):
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            batch = [(arts, fut) for arts, fut in batch if not fut.done()]  # callers that went away
            if not batch:
                continue
            articles = [a for arts, _ in batch for a in arts]
            try:
                results = await loop.run_in_executor(self.pool, self.predict, articles)
            except Exception as e:  # handed to each caller, whose request answers 500 and logs it
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            self.calls, self.requests, self.articles = (self.calls + 1, self.requests + len(batch),
                                                        self.articles + len(articles))
            start = 0
            for arts, fut in batch:
                if not fut.done():
                    fut.set_result(results[start:start + len(arts)])
                start += len(arts)

    def stats(self) -> dict:
        return {"model_calls": self.calls, "requests": self.requests, "articles": self.articles}


class Service:
    """What the routes need of a run: its classifier, described, turning clean article dicts into results."""

    def __init__(self, settings: Settings, classifier=None):
        from . import rundir
        from .classifier import Classifier
        self.settings = settings
        self.clf = classifier or Classifier.load(settings.run, engine=settings.engine,
                                                         threads=settings.threads)
        run_dir = Path(settings.run)
        run_dir = run_dir if (run_dir / rundir.MODEL).is_dir() else run_dir.parent
        self.name = run_dir.resolve().name
        self.info = {"run": self.name, "mode": self.clf.mode, "fields": list(self.clf.spec.mode_row.fields),
                     "max_len": self.clf.spec.max_len, "engine": self.clf.engine.name,
                     "backbone": _backbone(run_dir), "labels": self.clf.labels, "metrics": _metrics(run_dir),
                     "hybrid": getattr(self.clf, "hybrid", None) and self.clf.hybrid.kind,
                     "limits": {k: v for k, v in asdict(settings).items() if k.startswith(("max_", "wait"))}}
        self.batcher = Batcher(self.results, settings.max_batch, settings.wait_ms)

    def results(self, articles: list[dict]) -> list[dict]:
        probs, clusters = self.clf.classify(articles)
        labels = self.clf.labels
        out = []
        for i, p in enumerate(probs):
            row = {"topic": labels[int(p.argmax())],
                   "probabilities": {name: round(float(v), 6) for name, v in zip(labels, p)}}
            row["cluster"] = int(clusters[i]) if clusters is not None else None
            out.append(row)
        return out


def _backbone(run_dir: Path):
    try:
        from . import rundir
        return rundir.read_config(run_dir).backbone
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
    from .plots import bundled_font
    if (path := bundled_font()) is None:
        return None
    from fontTools.ttLib import TTFont  # matplotlib's dependency
    ttf = TTFont(path)
    for tag in [t for t in ttf.keys() if t.startswith("TSI")]:
        del ttf[tag]
    out = io.BytesIO()
    ttf.save(out)
    return out.getvalue()


def clean_text(text: str, max_chars: int) -> tuple[str, bool]:
    """(stripped text, cut to max_chars?); lone surrogates that JSON may carry become U+FFFD."""
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    text = text.replace("\x00", " ").strip()
    return text[:max_chars], len(text) > max_chars


# --- the app ---------------------------------------------------------------------------------------

def create_app(settings: Settings, classifier=None):
    """The FastAPI app for a run (`classifier` given: use it instead of loading the run's)."""
    from typing import Literal

    from fastapi import FastAPI, File, Query, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
    from starlette.exceptions import HTTPException

    from . import articles as articles_mod, tables
    from .classifier import predictions_frame

    service = Service(settings, classifier)
    fields = service.clf.spec.mode_row.fields

    class Article(BaseModel):
        model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [articles_mod.EXAMPLE_ARTICLES[0]]})
        title: str = Field("", description="the headline")
        body: str = Field("", description=f"the article text; texts over {articles_mod.MAX_CHARS} characters are cut")
        id: StrictStr | StrictInt | None = Field(None, description="echoed back (default: place in the batch)")

    class Batch(BaseModel):
        model_config = ConfigDict(extra="forbid")
        articles: list[Article] = Field(min_length=1, description=f"at most {settings.max_articles} articles")

    class Result(BaseModel):
        id: str | int
        topic: str
        probabilities: dict[str, float]
        cluster: int | None = Field(None, description="the article's cluster (modes 4 and 5), else null")
        truncated: bool = Field(description=f"a text was cut to {articles_mod.MAX_CHARS} characters")

    class Single(Result):
        run: str

    class BatchResult(BaseModel):
        run: str
        results: list[Result]

    class ErrorBody(BaseModel):
        status: int
        message: str

    class Error(BaseModel):
        error: ErrorBody

    errors = {code: {"model": Error, "description": text} for code, text in (
        (400, "malformed JSON"), (401, "missing or wrong API key"), (413, "too many articles, or body too large"),
        (422, "wrong types, missing or unknown fields, or an article with no text for the model"))}

    app = FastAPI(title="kornews", version=_version(),
                  description=f"Topic classification of Korean news with the run `{service.name}` "
                              f"(mode {service.clf.mode}: reads {' and '.join(fields)}). With an API key set, "
                              "every route but /health and / needs the header `X-API-Key`.")
    app.state.service = service

    def fail(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": {"status": status, "message": message}}, status_code=status)

    def articles_in(items: list, first_id=0) -> tuple[list[dict], list, list[bool]]:
        clean, ids, cut = [], [], []
        for i, a in enumerate(items):
            title, t_cut = clean_text(a.title, articles_mod.MAX_CHARS)
            body, b_cut = clean_text(a.body, articles_mod.MAX_CHARS)
            if not any({"title": title, "body": body}[f] for f in fields):
                where = f"article {i}" + (f" (id {a.id!r})" if a.id is not None else "")
                raise _Refused(422, f"{where}: no text for this model, which reads {' and '.join(fields)}")
            clean.append({"title": title, "body": body})
            ids.append(a.id if a.id is not None else first_id + i)
            cut.append(t_cut or b_cut)
        return clean, ids, cut

    @app.exception_handler(_Refused)
    async def refused(request: Request, exc: "_Refused"):
        log.warning("%s %s: %d %s", request.method, request.url.path, exc.status, exc.message)
        return fail(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems = exc.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            status, message = 400, "malformed JSON: " + "; ".join(
                str(p.get("ctx", {}).get("error", p.get("msg"))) for p in problems[:1])
        else:
            # FastAPI reports both readings of the union; keep the one the client meant
            branch = "Batch" if isinstance(exc.body, dict) and "articles" in exc.body else "Article"
            meant = [p for p in problems if len(p.get("loc", ())) < 2 or p["loc"][1] in (branch, branch.lower())]
            status, message = 422, "; ".join(_problem(p) for p in (meant or problems)[:5])
        log.warning("%s %s: %d %s", request.method, request.url.path, status, message)
        return fail(status, message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return fail(exc.status_code, str(exc.detail))

    @app.get("/health")
    async def health():
        """Liveness, and how many model calls served how many requests (batching at work)."""
        return {"status": "ok", **service.batcher.stats()}

    @app.get("/v1/labels", responses=errors)
    async def labels() -> list[str]:
        return service.clf.labels

    @app.get("/v1/model", responses=errors)
    async def model_info() -> dict:
        return service.info

    @app.post("/v1/classify", responses=errors, response_model=Single | BatchResult)
    async def classify(payload: Article | Batch):
        """One article → one result; `{"articles": [...]}` → `{"results": [...]}` in the same order."""
        items = payload.articles if isinstance(payload, Batch) else [payload]
        if len(items) > settings.max_articles:
            raise _Refused(413, f"{len(items)} articles in one request; at most {settings.max_articles} "
                                "(split the batch, or use `kornews predict` for files)")
        clean, ids, cut = articles_in(items)
        results = await service.batcher(clean)
        rows = [{"id": i, **r, "truncated": c} for i, r, c in zip(ids, results, cut)]
        if isinstance(payload, Batch):
            return {"run": service.name, "results": rows}
        return {"run": service.name, **rows[0]}

    file_ok = {200: {"content": {"text/csv": {}, "application/x-ndjson": {}}, "description": "the predictions"}}

    @app.post("/v1/classify/file", responses={**errors, **file_ok})
    async def classify_file(file: UploadFile = File(description="CSV, TSV, JSONL or Parquet with the run's "
                                                                "title/body columns (knews8's names by default)"),
                            fmt: Literal["csv", "jsonl"] = Query("csv", alias="format",
                                                                 description="the predictions' format")):
        """Predictions for an uploaded table, as the `predict` verb writes them (id, pred, cluster, p_<topic>)."""
        name = Path(file.filename or "upload.csv").name
        raw = await file.read()
        try:
            table = tables.parse_table(raw, name, tables.FORMATS.get(Path(name).suffix.lower()))
            df = service.clf.read(table).frame
        except KornewsError as e:
            raise _Refused(422, str(e)) from None
        if len(df) > settings.max_file_articles:
            raise _Refused(413, f"{name}: {len(df)} articles; the server takes at most {settings.max_file_articles}"
                                " per upload (use `kornews predict` for larger files)")
        loop = asyncio.get_running_loop()
        # a whole file is one model job: on the model's thread, so it never runs beside a batch
        frame = await loop.run_in_executor(service.batcher.pool, predictions_frame, service.clf, df)
        stem = Path(name).stem
        if fmt == "jsonl":
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in frame.to_dict(orient="records"))
            kind, suffix = "application/x-ndjson", "jsonl"
        else:
            text, kind, suffix = frame.to_csv(index=False), "text/csv", "csv"
        return Response(text.encode("utf-8"), media_type=f"{kind}; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{_ascii(stem)}-predictions.{suffix}"'})

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

    app.add_middleware(_Guard, api_key=settings.api_key, max_body=settings.max_body_bytes)
    return app


class _Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _problem(p: dict) -> str:
    """A pydantic error as `field: message`, without FastAPI's leading "body" and union branch names."""
    loc = [str(x) for x in p.get("loc", ())[1:] if x not in ("Article", "Batch")]
    return f"{'.'.join(loc) or 'body'}: {p.get('msg', 'invalid')}"


def _ascii(name: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name) or "upload"


def _version() -> str:
    from .version import __version__
    return __version__


class _Guard:
    """Plain ASGI middleware around every route: the API key, the body-size limit, and the last word on any
    exception (one log line, a JSON 500, no traceback to the client)."""

    def __init__(self, app, api_key=None, max_body=32 << 20):
        self.app, self.key, self.max_body = app, (api_key or "").encode() or None, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        where = f"{scope.get('method')} {scope.get('path')}"
        if self.key and scope.get("path") not in PUBLIC and not self._key_ok(headers):
            log.warning("%s: 401 missing or wrong API key", where)
            return await _send_error(send, 401, "missing or wrong API key (header X-API-Key)")
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_body:
            log.warning("%s: 413 body of %s bytes", where, length.decode())
            return await _send_error(send, 413, f"request body of {int(length)} bytes; at most {self.max_body}")
        if not length and scope.get("method") in ("POST", "PUT", "PATCH"):
            # no declared length (chunked): read it here, bounded, since FastAPI turns any error raised while it
            # reads a body into a vague 400
            messages, size = [], 0
            while True:
                message = await receive()
                messages.append(message)
                size += len(message.get("body", b""))
                if size > self.max_body:
                    log.warning("%s: 413 streamed body over %d bytes", where, self.max_body)
                    return await _send_error(send, 413, f"request body over {self.max_body} bytes")
                if message["type"] != "http.request" or not message.get("more_body"):
                    break
            replay = iter(messages)

            async def receive(_next=receive):
                return next(replay, None) or await _next()
        started = [False]

        async def watched_send(message):
            started[0] = started[0] or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception as e:  # the one place a bug surfaces: logged in a line, answered without details
            log.error("%s: 500 %s: %s", where, type(e).__name__, str(e).splitlines()[0] if str(e) else "")
            if not started[0]:
                await _send_error(send, 500, "internal error (logged on the server)")

    def _key_ok(self, headers) -> bool:
        given = headers.get(b"x-api-key") or headers.get(b"authorization", b"").removeprefix(b"Bearer ")
        return bool(given) and hmac.compare_digest(given, self.key)


async def _send_error(send, status: int, message: str):
    body = json.dumps({"error": {"status": status, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# --- running it ------------------------------------------------------------------------------------

def app_from_env():
    """uvicorn's factory in each worker process (`--workers N`): settings come through the environment."""
    return create_app(Settings(**json.loads(os.environ[SETTINGS_ENV])))


def serve(settings: Settings, host="127.0.0.1", port=8000, workers=1, access_log=True) -> None:
    import uvicorn
    from . import runtime
    from .classifier import locate
    locate(settings.run)  # a wrong path fails here, in one line, before any worker starts
    if host not in ("127.0.0.1", "localhost", "::1") and not settings.api_key:
        log.warning("serving on %s without an API key: anyone who reaches this address can use it "
                    "(set --api-key or KORNEWS_API_KEY)", host)
    logging.basicConfig(level=logging.INFO, format="kornews: %(message)s")
    if workers > 1:
        threads = settings.threads or runtime.threads_for(workers)
        os.environ[SETTINGS_ENV] = json.dumps(asdict(Settings(**{**asdict(settings), "threads": threads})))
        uvicorn.run("kornews.serve:app_from_env", factory=True, host=host, port=port, workers=workers,
                    access_log=access_log)
    else:
        uvicorn.run(create_app(settings), host=host, port=port, access_log=access_log)
