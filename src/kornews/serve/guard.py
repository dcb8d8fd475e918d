"""The ASGI guard around every route: the API key, the body-size limit, and the last word on any exception."""
import hmac
import json
import logging

log = logging.getLogger("kornews.serve")  # the server's one logger, whichever module writes
# reachable without the API key: liveness, and the page's static files (no data in them)
PUBLIC = ("/health", "/", "/font.ttf", "/favicon.ico")


class Guard:
    """Plain ASGI middleware: a missing or wrong key is a 401, a body over `max_body` a 413, and an exception one
    log line and a JSON 500 (no traceback to the client)."""

    def __init__(self, app, api_key=None, max_body=32 << 20):
        self.app, self.key, self.max_body = app, (api_key or "").encode() or None, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        where = f"{scope.get('method')} {scope.get('path')}"
        if self.key and scope.get("path") not in PUBLIC and not self._key_ok(headers):
            log.warning("%s: 401 missing or wrong API key", where)
            return await send_error(send, 401, "missing or wrong API key (header X-API-Key)")
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_body:
            log.warning("%s: 413 body of %s bytes", where, length.decode())
            return await send_error(send, 413, f"request body of {int(length)} bytes; at most {self.max_body}")
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
                    return await send_error(send, 413, f"request body over {self.max_body} bytes")
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
                await send_error(send, 500, "internal error (logged on the server)")

    def _key_ok(self, headers) -> bool:
        given = headers.get(b"x-api-key") or headers.get(b"authorization", b"").removeprefix(b"Bearer ")
        return bool(given) and hmac.compare_digest(given, self.key)


async def send_error(send, status: int, message: str):
    """The error body every route answers with, {"error": {"status", "message"}}, sent as raw ASGI messages."""
    body = json.dumps({"error": {"status": status, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
