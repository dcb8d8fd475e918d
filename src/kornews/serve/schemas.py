"""What the API takes and answers, as pydantic models: the OpenAPI schema at /openapi.json comes from these."""
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from kornews.data.articles import EXAMPLE_ARTICLES, MAX_CHARS

REVIEW = ("mark results whose confidence is below this for review (default: the server's --min-confidence, else "
          "the run's threshold from `kornews calibrate`; 0: none)")
EXPLAIN = "also return the K words of each article that pushed its topic most (costs a backward pass per article)"


class Article(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_ARTICLES[0]]})
    title: str = Field("", description="the headline")
    body: str = Field("", description=f"the article text; texts over {MAX_CHARS} characters are cut")
    id: StrictStr | StrictInt | None = Field(None, description="echoed back (default: place in the batch)")
    min_confidence: StrictFloat | None = Field(None, ge=0, le=1, description=REVIEW)
    explain: StrictInt | None = Field(None, ge=1, le=20, description=EXPLAIN)


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # the limit is the server's setting, checked in the route (413), so one schema fits every server
    articles: list[Article] = Field(min_length=1, description="at most the server's max_articles (64 by default; "
                                                              "GET /v1/model lists its limits)")
    min_confidence: StrictFloat | None = Field(None, ge=0, le=1, description=REVIEW)
    explain: StrictInt | None = Field(None, ge=1, le=20, description=EXPLAIN)


class Explained(BaseModel):
    word: str
    weight: float


class Result(BaseModel):
    id: str | int
    topic: str
    probabilities: dict[str, float]
    cluster: int | None = Field(None, description="the article's cluster (modes 4 and 5), else null")
    truncated: bool = Field(description=f"a text was cut to {MAX_CHARS} characters")
    confidence: float = Field(description="the topic's probability (calibrated where the run is)")
    review: bool | None = Field(None, description="confidence below the review threshold in force; null: none is")
    explanation: list[Explained] | None = Field(None, description="with `explain`: the words that pushed the topic "
                                                                  "most, strongest first")


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


# the refusals every API route documents, and the file route's two answer types
ERRORS = {code: {"model": Error, "description": text} for code, text in (
    (400, "malformed JSON"), (401, "missing or wrong API key"), (413, "too many articles, or body too large"),
    (422, "wrong types, missing or unknown fields, or an article with no text for the model"))}
FILE_OK = {200: {"content": {"text/csv": {}, "application/x-ndjson": {}}, "description": "the predictions"}}
