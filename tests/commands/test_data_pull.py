"""`kornews data pull`: datasets built from archives a local HTTP server serves in the sources' layouts, and every
way a pull can fail leaving no half-written dataset folder behind."""
import dataclasses
import io
import json
import re
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from kornews import cli
from kornews.commands import demo
from kornews.commands.data import pull_dataset
from kornews.core.errors import KornewsError
from kornews.data import articles, datasets
from kornews.data.tables import read_table

KNEWS8 = "/Moog303/Korean_News_Classification/archive/refs/heads/master.zip"
YNAT = "/KLUE-benchmark/KLUE/main/klue_benchmark/ynat-v1.1/ynat-v1.1_{}.json"
NUMBERS = (0, 1, 160)  # two train articles and one test article per topic


def knews8_zip(body="본문 첫 문장.\n\n둘째   문장 {id}.") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("Korean_News_Classification-master/README.md", "readme")
        zf.writestr("Korean_News_Classification-master/newsData/.DS_Store", b"\x00\x01")
        for topic in range(8):
            for n in NUMBERS:
                id_ = f"{topic}{n:03d}"
                title = f"제목 {id_}\t" if id_ == "1001" else f" 제목  {id_} \n"  # the README's title TAB body too
                zf.writestr(f"Korean_News_Classification-master/newsData/{topic}/{id_}NewsData.txt",
                            title + body.format(id=id_))
    return out.getvalue()


def ynat_json(split: str, n: int) -> bytes:
    labels = datasets.YNAT_LABELS
    records = [{"guid": f"ynat-v1_{split}_{i:05d}", "title": f"헤드라인 {i}" + ("\t탭\n줄" if i == 0 else ""),
                "label": labels[i % len(labels)], "url": "https://example.org"} for i in range(n)]
    return json.dumps(records, ensure_ascii=False).encode()


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.files, self.cut, self.seen, self.ranges = {}, {}, [], True  # cut: path -> bytes sent before closing

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        server, asked = self.server, self.headers.get("Range")
        server.seen.append((self.path, asked))
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = int(re.fullmatch(r"bytes=(\d+)-", asked).group(1)) if asked and server.ranges else 0
        if start >= len(body):
            self.send_error(416)
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:server.cut.get(self.path)])  # HTTP/1.0: the connection closes after

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch, tmp_path):
    """A local mirror of both sources, with tiny archives; KORNEWS_DATA and KORNEWS_HOME in tmp_path."""
    srv = Server()
    srv.files = {KNEWS8: knews8_zip(), YNAT.format("train"): ynat_json("train", 14),
                 YNAT.format("dev"): ynat_json("dev", 7)}
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("KORNEWS_PULL_BASE", srv.base)
    monkeypatch.setenv("KORNEWS_HOME", str(tmp_path / "kornews-home"))
    monkeypatch.setenv("KORNEWS_DATA", str(tmp_path / "data"))
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def tiny(monkeypatch):
    """The named datasets expecting the tiny archives' counts."""
    knews8, ynat = datasets.DATASETS["knews8"], datasets.DATASETS["ynat"]
    monkeypatch.setitem(datasets.DATASETS, "knews8", dataclasses.replace(
        knews8, rows={"train": (16, 16), "test": (8, 8)}, per_label={"train": 2, "test": 1}))
    monkeypatch.setitem(datasets.DATASETS, "ynat", dataclasses.replace(ynat, rows={"train": (7, None), "dev": (7, 7)}))


def names(home) -> list:
    return sorted(p.name for p in home.iterdir()) if home.exists() else []


def test_pull_knews8(server, tiny, tmp_path):
    summary = pull_dataset("knews8", to=tmp_path / "home", progress=False, log=lambda _: None)
    home = tmp_path / "home"
    assert summary == f"knews8: wrote {home / 'knews8'} (train 16 rows, test 8 rows)"
    assert names(home) == ["knews8"] and names(home / "knews8") == ["test.csv", "train.csv"]
    train, test = (read_table(home / "knews8" / f"{s}.csv") for s in ("train", "test"))
    assert list(train.columns) == ["id", "title", "cleanBody", "category"]
    assert train.id.tolist()[:3] == ["0000", "0001", "1000"] and test.id.tolist()[:2] == ["0160", "1160"]
    first = train.iloc[0].to_dict()
    assert first == {"id": "0000", "title": "제목 0000", "cleanBody": "본문 첫 문장. 둘째 문장 0000.",
                     "category": "politics"}
    assert train.set_index("id").loc["1001", ["title", "category"]].tolist() == ["제목 1001", "economy"]
    assert test.category.tolist() == list(datasets.KNEWS8_TOPICS)
    reading = articles.read(home / "knews8" / "train.csv", mode=3)
    assert len(reading.frame) == 16 and reading.frame.label.value_counts().eq(2).all()


def test_pull_ynat(server, tiny):
    summary = pull_dataset("ynat", progress=True, log=lambda _: None)  # into $KORNEWS_DATA, with a progress bar
    home = datasets.pulled_home()
    assert summary == f"ynat: wrote {home / 'ynat'} (train 14 rows, dev 7 rows)"
    train = (home / "ynat" / "train.tsv").read_text(encoding="utf-8").split("\n")
    assert train[:2] == ["title\tlabel", "헤드라인 0 탭 줄\tIT과학"] and len(train) == 16  # header, 14, ""
    dev = read_table(home / "ynat" / "dev.tsv")
    assert list(dev.columns) == ["guid", "title", "label"] and dev.guid[6] == "ynat-v1_dev_00006"
    reading = articles.read("ynat:dev", mode=2)
    assert len(reading.frame) == 7 and set(reading.frame.label) == set(datasets.YNAT_LABELS)


def test_already_present_is_a_noop_and_a_broken_copy_is_replaced(server, tiny):
    pull_dataset("knews8", progress=False, log=lambda _: None)
    target = datasets.pulled_home() / "knews8"
    requests = len(server.seen)
    assert pull_dataset("knews8", progress=False) == (f"knews8: already in {target} (train 16 rows, test 8 rows); "
                                                      "--force pulls it again")
    assert len(server.seen) == requests
    (target / "test.csv").write_text("id,title,cleanBody,category\n0160,t,b,politics\n", encoding="utf-8")
    said = []
    assert pull_dataset("knews8", progress=False, log=said.append).startswith("knews8: wrote")
    assert said[0].startswith(f"kornews: {target} is not a valid knews8 (knews8 is not as expected: test.csv: 1 rows")
    assert len(read_table(target / "test.csv")) == 8


def test_force_pulls_again(server, tiny):
    pull_dataset("knews8", progress=False, log=lambda _: None)
    server.files[KNEWS8] = knews8_zip(body="새 본문 {id}")
    assert pull_dataset("knews8", force=True, progress=False, log=lambda _: None).startswith("knews8: wrote")
    assert read_table(datasets.pulled_home() / "knews8" / "train.csv").cleanBody[0] == "새 본문 0000"
    assert names(datasets.pulled_home()) == ["knews8"]


def fails(name, match, **kw):
    with pytest.raises(KornewsError) as info:
        pull_dataset(name, progress=False, log=lambda _: None, **kw)
    message = str(info.value)
    assert "\n" not in message and re.search(match, message), message
    return message


def test_http_error_leaves_nothing(server, tiny):
    del server.files[YNAT.format("dev")]
    fails("ynat", rf"^cannot download {server.base}{re.escape(YNAT.format('dev'))}: HTTP 404 Not Found$")
    assert names(datasets.pulled_home()) == []  # the train file it had fetched is gone too


def test_unreachable_host_leaves_nothing(server, tiny, tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv("KORNEWS_PULL_BASE", f"http://127.0.0.1:{port}")
    fails("knews8", rf"^cannot reach 127\.0\.0\.1:{port} for http://127\.0\.0\.1:{port}/Moog303/.*: .*refused")
    assert names(datasets.pulled_home()) == []


def test_truncated_download_is_resumed_with_range(server, tiny):
    size = len(server.files[KNEWS8])
    server.cut[KNEWS8] = 1000
    part = datasets.pulled_home() / ".knews8-master.zip.part"
    fails("knews8", rf"^truncated download of .*master\.zip: 1,000 of {size:,} bytes; "
                    rf"the part is kept in {re.escape(str(part))}: pull again to resume$")
    assert names(datasets.pulled_home()) == [part.name] and part.stat().st_size == 1000
    del server.cut[KNEWS8]
    said = []
    assert pull_dataset("knews8", progress=False, log=said.append).startswith("knews8: wrote")
    assert said == [f"kornews: downloading {server.base}{KNEWS8} (resuming after 1,000 bytes)"]
    assert server.seen[-1] == (KNEWS8, "bytes=1000-")
    assert names(datasets.pulled_home()) == ["knews8"] and len(read_table(part.parent / "knews8" / "train.csv")) == 16


def test_server_without_range_starts_over(server, tiny):
    server.ranges = False
    part = datasets.pulled_home() / ".knews8-master.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale bytes of another download")
    assert pull_dataset("knews8", progress=False, log=lambda _: None).startswith("knews8: wrote")
    assert server.seen[-1] == (KNEWS8, "bytes=31-") and names(part.parent) == ["knews8"]


def test_a_part_longer_than_the_file_is_dropped(server, tiny):
    part = datasets.pulled_home() / ".knews8-master.zip.part"
    part.parent.mkdir(parents=True)
    stale = len(server.files[KNEWS8]) + 10
    part.write_bytes(b"x" * stale)
    assert pull_dataset("knews8", progress=False, log=lambda _: None).startswith("knews8: wrote")
    assert server.seen == [(KNEWS8, f"bytes={stale}-"), (KNEWS8, None)] and names(part.parent) == ["knews8"]


def test_force_discards_a_part(server, tiny):
    part = datasets.pulled_home() / ".knews8-master.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale")
    pull_dataset("knews8", force=True, progress=False, log=lambda _: None)
    assert server.seen[-1] == (KNEWS8, None) and names(part.parent) == ["knews8"]


def test_corrupt_archive_leaves_nothing(server, tiny):
    server.files[KNEWS8] = b"PK\x03\x04 this is no zip archive"
    fails("knews8", r"^https://github\.com/.*master\.zip: not a readable zip archive \(File is not a zip file\); "
                    rf"nothing was written to {re.escape(str(datasets.pulled_home() / 'knews8'))}$")
    assert names(datasets.pulled_home()) == []


def test_corrupt_json_leaves_nothing(server, tiny):
    server.files[YNAT.format("train")] = b'[{"title": "cut here'
    fails("ynat", r"^https://raw\.githubusercontent\.com/.*_train\.json: not valid JSON \(Unterminated string .*\); "
                  "nothing was written to ")
    assert names(datasets.pulled_home()) == []


def test_real_counts_reject_a_tiny_archive(server):
    fails("knews8", r"^knews8 is not as expected: train\.csv: 16 rows, expected 1,280; train\.csv: 160 rows of each "
                    r"label expected: politics 2, .*; test\.csv: 8 rows, expected 320; .*; nothing was written to ")
    assert names(datasets.pulled_home()) == []


def test_unknown_name(server):
    fails("knews9", r"^cannot pull 'knews9': the named datasets are knews8, ynat$")


def test_a_pulled_dataset_is_found_after_the_shared_homes(server, tiny, monkeypatch):
    monkeypatch.delenv("KORNEWS_DATA")
    knews8 = datasets.DATASETS["knews8"]  # file names the shared home has not: found only where the pull wrote
    monkeypatch.setitem(datasets.DATASETS, "knews8", dataclasses.replace(
        knews8, files={"train": "pulled-train.csv", "test": "pulled-test.csv"}))
    pull_dataset("knews8", progress=False, log=lambda _: None)
    home = datasets.files.home() / "data"
    assert datasets.locate("knews8:test")[0] == home / "knews8" / "pulled-test.csv"


def test_demo_pulls_knews8_when_missing(server, tiny):
    said = []
    demo._pull_missing(progress=False, log=said.append)
    assert said[0] == "kornews: knews8 not found in any data home; pulling it" and said[-1].startswith("knews8: wrote")
    assert datasets.locate("knews8:train")[0] == datasets.pulled_home() / "knews8" / "train.csv"


def test_cli(server, tiny, tmp_path, capsys):
    assert cli.main(["data", "pull", "knews8", "--to", str(tmp_path / "cli"), "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"knews8: wrote {tmp_path / 'cli' / 'knews8'}")
    del server.files[KNEWS8]
    assert cli.main(["data", "pull", "knews8", "--to", str(tmp_path / "cli2"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(r"kornews: error: cannot download \S+master\.zip: HTTP 404 Not Found\n", err), err
    assert names(tmp_path / "cli2") == []
    assert pd.read_csv(tmp_path / "cli" / "knews8" / "test.csv", dtype=str).id.tolist()[-1] == "7160"
