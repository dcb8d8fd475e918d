"""The `Batcher`: the articles of concurrent requests gathered into one model call, on one thread beside the loop."""
import asyncio
from concurrent.futures import ThreadPoolExecutor


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
