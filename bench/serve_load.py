"""Load on `kornews serve`: 32 concurrent clients for 60 seconds, batching server against one-request-per-call.

    python bench/serve_load.py [--run bench/runs/knews8-mode3] [--clients 32] [--seconds 60]

Each server is a `kornews serve` child process on 127.0.0.1 (access log off); the clients are asyncio tasks in
this process, each sending its next request as soon as its last one is answered, until the time is up (and never
more than `--max-requests` in all). Loads: single articles and batches of 16 drawn in turn from the knews8 test
split (title + body, up to the run's 384 tokens), and single YNAT dev headlines (short inputs). Servers: the
default (concurrent requests gathered into model calls of up to 32 articles, the monitoring window on), the same
with monitoring off (what watching costs), and a naive one (`--max-batch 1`: every request is its own model
call). The table goes to docs/benchmarks.md ("Serving under load").
"""
import argparse
import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, kornews, machine, publish, table  # noqa: E402

SERVERS = {"batching (default: --max-batch 32 --wait-ms 5)": ["--max-batch", "32", "--wait-ms", "5"],
           "batching, monitoring off (--monitor-window 0)": ["--max-batch", "32", "--wait-ms", "5",
                                                              "--monitor-window", "0"],
           "naive (--max-batch 1: one request per model call)": ["--max-batch", "1", "--wait-ms", "0"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(run, flags):
    import httpx
    port = free_port()
    proc = subprocess.Popen(kornews("serve", str(run), "--port", str(port), "--quiet", *flags),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url, deadline = f"http://127.0.0.1:{port}", time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("server did not start in 120 s")


async def load(url, articles, per_request, clients, seconds, max_requests):
    import httpx
    latencies, errors, sent = [], [], [0]
    deadline = time.perf_counter() + seconds

    async def client(k, http):
        i = k * per_request
        while time.perf_counter() < deadline and sent[0] < max_requests:
            sent[0] += 1
            batch = [articles[(i + j) % len(articles)] for j in range(per_request)]
            i += clients * per_request
            payload = batch[0] if per_request == 1 else {"articles": batch}
            t0 = time.perf_counter()
            try:
                r = await http.post(url + "/v1/classify", json=payload)
                ok = r.status_code == 200
            except httpx.HTTPError as e:
                ok, r = False, e
            (latencies if ok else errors).append(time.perf_counter() - t0 if ok else repr(r)[:200])

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        start_time = time.perf_counter()
        await asyncio.gather(*(client(k, http) for k in range(clients)))
        elapsed = time.perf_counter() - start_time
    return latencies, errors, elapsed


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def soak(run, headlines, total: int, clients: int) -> list[list[str]]:
    """`total` single-headline requests to the default server in ten legs; after each, the server's resident memory
    and its monitoring window: what serving for long costs in memory."""
    import httpx
    proc, url = start(run, SERVERS["batching (default: --max-batch 32 --wait-ms 5)"])
    rows = []
    try:
        asyncio.run(load(url, headlines, 1, clients, 3, 10**9))  # warm: the first calls allocate for good
        rows.append(["0 (warmed)", f"{rss_mib(proc.pid):.0f}", str(httpx.get(url + "/v1/monitor").json()["window"])])
        done = 0
        for _ in range(10):
            lat, errors, _ = asyncio.run(load(url, headlines, 1, clients, 10**9, total // 10))
            done += len(lat) + len(errors)
            rows.append([f"{done:,}", f"{rss_mib(proc.pid):.0f}", str(httpx.get(url + "/v1/monitor").json()["window"])
                         + (f" ({len(errors)} errors)" if errors else "")])
            print(" | ".join(rows[-1]), flush=True)
    finally:
        proc.terminate()
        proc.wait(30)
    return rows


def percentile(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default=str(ROOT / "bench" / "runs" / "knews8-mode3"))
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--max-requests", type=int, default=200_000)
    p.add_argument("--section", default="serve-load")
    p.add_argument("--soak", type=int, default=0, metavar="N",
                   help="only this: N single-headline requests to the default server, its memory every N/10")
    args = p.parse_args()
    import httpx

    from kornews.data import articles
    df = articles.read("knews8:test", mode=3).frame
    knews8_articles = [{"title": t, "body": b, "id": i} for t, b, i in zip(df.title, df.body, df.id)]
    # short inputs, where a model call's fixed cost dominates: YNAT dev headlines as titles with an empty body
    heads = articles.read("ynat:dev", mode=2).frame.head(2000)
    headlines = [{"title": t, "id": i} for t, i in zip(heads.title, heads.id)]
    if args.soak:
        rows = soak(args.run, headlines, args.soak, args.clients)
        command = f"python bench/serve_load.py --run {args.run} --soak {args.soak}"
        publish("serve-soak", f"## Memory over {args.soak:,} requests\n\nCommand: `{command}` "
                f"({time.strftime('%Y-%m-%d')}; {machine()}; {args.clients} clients, single YNAT headlines)\n\n"
                + table(["requests served", "server RSS (MiB)", "monitoring window (articles)"], rows) + "\n")
        return
    loads = [("knews8 article (title + body)", knews8_articles, 1),
             ("knews8 article (title + body)", knews8_articles, 16),
             ("YNAT headline (title only)", headlines, 1)]

    rows = []
    for server, flags in SERVERS.items():
        proc, url = start(args.run, flags)
        try:
            engine = httpx.get(url + "/v1/model").json()["engine"]
            for kind, items, per_request in loads:
                before = httpx.get(url + "/health").json()
                lat, errors, elapsed = asyncio.run(load(url, items, per_request, args.clients, args.seconds,
                                                        args.max_requests))
                after = httpx.get(url + "/health").json()
                calls = after["model_calls"] - before["model_calls"]
                served = after["articles"] - before["articles"]
                row = [server, engine, kind, f"{per_request}", f"{len(lat) / elapsed:.2f}",
                       f"{len(lat) * per_request / elapsed:.1f}",
                       *(f"{1000 * percentile(lat, q):.0f}" for q in (50, 95, 99)),
                       f"{served / max(1, calls):.1f}", str(len(errors))]
                rows.append(row)
                print(" | ".join(row) + (f"  first error: {errors[0]}" if errors else ""), flush=True)
        finally:
            proc.terminate()
            proc.wait(30)

    header = ["server", "engine", "input", "articles per request", "requests/s", "articles/s", "p50 ms", "p95 ms",
              "p99 ms", "articles per model call", "errors"]
    command = f"python bench/serve_load.py --clients {args.clients} --seconds {args.seconds:g}"
    text = (f"## Load: {args.clients} concurrent clients, {args.seconds:g} s per row\n\n"
            f"Command: `{command}` (run: `{Path(args.run).name}`, {time.strftime('%Y-%m-%d')}; {machine()}; "
            "clients and server share the machine)\n\n" + table(header, rows) + "\n")
    publish(args.section, text)


if __name__ == "__main__":
    main()
