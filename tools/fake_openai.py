"""A local OpenAI-compatible server for tests and offline demos (standard library only).

It answers chat completions from the annotation in the prompt, with the oracle's question semantics
(dataengine.data.synthetic via teacher.oracle_reply), so the loop with `teacher.kind: openai` runs offline
and yields the oracle's quality. Latency and faults can be injected: 429 with retry-after, 500, a hang
past the client's timeout, malformed JSON, schema-invalid JSON, a wrong answer, HTML markup in the
texts, a truncated or empty reply. Faults are drawn per attempt of each distinct request (seeded), so
a retry can recover, and the server counts the successful replies it served per request: a repeated
one is a call paid twice. Every reply says so in its `system_fingerprint` (FakeSettings.fingerprint:
"fake_openai injected_faults=<kinds or none> rate=<share or scripted>"), which the teacher keeps in
generation.json, so a run's report can tell injected faults from a teacher's own.
It also serves the Batch endpoints (files, batches), answers a prompt revision request
(dataengine.teacher.prompt_opt) with a scripted revision: the prompt plus a rule per reviewer note, and a
choice extraction request (dataengine.eval.extractor) with the letter of the one option whose text the
reply contains, even inside a word ("reddish" -> red), else Z. The content faults apply to the
extraction's letter too: malformed and schema_invalid answer prose, wrong_answer the next letter.

    python -m tools.fake_openai --port 8765 --latency 0.2 --fault-rate 0.2
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import json
import os
import random
import re
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tools.fake_replies import answer, inject

FAULTS = (
    "rate_limit",
    "server_error",
    "hang",
    "malformed",
    "schema_invalid",
    "wrong_answer",
    "markup",
    "truncated",
    "empty",
)
FINGERPRINT = "fake_openai"  # how every reply's system_fingerprint begins (dataengine.report.rejections)
# With dozens of handler threads, the default 5 ms GIL switch interval adds tens of ms per reply.
SWITCH_INTERVAL_S = 0.0005


@dataclass(frozen=True)
class FakeSettings:
    latency_s: float = 0.0
    fault_rate: float = 0.0  # share of attempts that get a fault drawn from `faults`
    faults: tuple[str, ...] = FAULTS
    script: tuple[str, ...] = ()  # outcome of attempt n of every request ("ok" or a fault); then ok
    retry_after_s: float = 0.05
    hang_s: float = 5.0
    json_schema: bool = True  # False: reject json_schema output like servers without it
    api_key: str | None = None  # when set, a request without this bearer key gets 401
    seed: int = 0

    def __post_init__(self):
        unknown = sorted((set(self.faults) | set(self.script)) - {"ok", *FAULTS})
        if unknown:
            raise ValueError(f"fake server: unknown fault kinds {unknown}; known: {list(FAULTS)}")

    @property
    def fingerprint(self) -> str:
        """Every reply's `system_fingerprint`: this server, the faults it injects and how often."""
        if self.script:
            kinds, rate = sorted(set(self.script) - {"ok"}), "scripted"
        else:
            kinds, rate = (list(self.faults) if self.fault_rate > 0 else []), f"{self.fault_rate:g}"
        return f"{FINGERPRINT} injected_faults={','.join(kinds) or 'none'} rate={rate}"


class FakeOpenAI:
    """The server and its counters; `with FakeOpenAI(FakeSettings(...)) as server: server.base_url`."""

    def __init__(self, settings: FakeSettings = FakeSettings(), host: str = "127.0.0.1", port: int = 0):
        self.settings = settings
        self._lock = threading.Lock()
        self.requests = 0  # chat completions asked, batch lines included
        self.refused = 0  # requests without the right key
        self.faults: Counter = Counter()
        self.served: Counter = Counter()  # good replies served, per distinct request
        self._attempts: Counter = Counter()
        self._files: dict[str, bytes] = {}
        self._batches: dict[str, dict] = {}
        self._httpd = _Server((host, port), _Handler)
        self._httpd.fake = self
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeOpenAI:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def stats(self) -> dict:
        with self._lock:
            return {
                "requests": self.requests,
                "refused": self.refused,
                "ok": sum(self.served.values()),
                "repeated_ok": sum(n - 1 for n in self.served.values() if n > 1),
                "faults": dict(self.faults),
            }

    # ---- what the handler calls

    def _outcome(self, body: dict) -> tuple[str, str]:
        """(request hash, "ok" or a fault) for this attempt of this request."""
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with self._lock:
            attempt = self._attempts[digest]
            self._attempts[digest] += 1
            self.requests += 1
        s = self.settings
        if s.script:
            outcome = s.script[attempt] if attempt < len(s.script) else "ok"
        else:
            rng = random.Random(f"{s.seed}:{digest}:{attempt}")
            outcome = rng.choice(s.faults) if s.faults and rng.random() < s.fault_rate else "ok"
        if outcome != "ok":
            with self._lock:
                self.faults[outcome] += 1
        return digest, outcome

    def complete(self, body: dict) -> tuple[int, dict, dict]:
        """(status, JSON body, headers) for one chat completion request."""
        fmt = (body.get("response_format") or {}).get("type")
        if fmt == "json_schema" and not self.settings.json_schema:
            return (
                400,
                _error("response_format json_schema is not supported by this server", "invalid_request_error"),
                {},
            )
        digest, outcome = self._outcome(body)
        if outcome == "rate_limit":
            wait = self.settings.retry_after_s
            headers = {"retry-after-ms": str(int(wait * 1000)), "retry-after": str(max(1, round(wait)))}
            return 429, _error("Rate limit reached for requests", "requests"), headers
        if outcome == "server_error":
            return 500, _error("The server had an error while processing your request", "server_error"), {}
        if outcome == "hang":
            time.sleep(self.settings.hang_s)
        content, finish = inject(outcome, answer(body.get("messages") or [], body.get("seed", self.settings.seed)))
        if outcome in ("ok", "hang"):
            with self._lock:
                self.served[digest] += 1
        prompt_chars = sum(len(m.get("content") or "") for m in body.get("messages") or [])
        return (
            200,
            {
                "id": f"chatcmpl-{digest[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "system_fingerprint": self.settings.fingerprint,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}
                ],
                "usage": {
                    "prompt_tokens": prompt_chars // 4,
                    "completion_tokens": len(content) // 4,
                    "total_tokens": prompt_chars // 4 + len(content) // 4,
                },
            },
            {},
        )

    def add_file(self, data: bytes, purpose: str) -> dict:
        with self._lock:
            file_id = f"file-{len(self._files):06d}"
            self._files[file_id] = data
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": "upload.jsonl",
            "purpose": purpose,
            "status": "processed",
        }

    def file(self, file_id: str) -> bytes | None:
        return self._files.get(file_id)

    def create_batch(self, body: dict) -> tuple[int, dict]:
        data = self.file(body.get("input_file_id", ""))
        if data is None:
            return 404, _error(f"no file {body.get('input_file_id')!r}", "invalid_request_error")
        output, errors = [], []
        for line in data.decode().splitlines():
            request = json.loads(line)
            status, reply, _ = self.complete(request["body"])
            record = {"id": f"req-{len(output) + len(errors)}", "custom_id": request["custom_id"]}
            if status == 200:
                output.append({**record, "response": {"status_code": 200, "body": reply}, "error": None})
            else:
                errors.append({**record, "response": {"status_code": status, "body": reply}, "error": None})
        batch = {
            "id": f"batch-{len(self._batches):06d}",
            "object": "batch",
            "endpoint": body.get("endpoint"),
            "completion_window": body.get("completion_window", "24h"),
            "input_file_id": body["input_file_id"],
            "created_at": int(time.time()),
            "status": "in_progress",
            "output_file_id": None,
            "error_file_id": None,
            "request_counts": {"total": len(output) + len(errors), "completed": len(output), "failed": len(errors)},
        }
        done = {
            "status": "completed",
            "output_file_id": self.add_file("\n".join(map(json.dumps, output)).encode(), "batch_output")["id"],
            "error_file_id": self.add_file("\n".join(map(json.dumps, errors)).encode(), "batch_output")["id"]
            if errors
            else None,
        }
        with self._lock:
            self._batches[batch["id"]] = {"batch": batch, "done": done}
        return 200, batch

    def batch(self, batch_id: str) -> dict | None:
        """The batch: in progress when first looked at, completed after (so clients poll once)."""
        with self._lock:
            entry = self._batches.get(batch_id)
            if entry is None:
                return None
            current = dict(entry["batch"])
            entry["batch"].update(entry["done"])
            return current


def _error(message: str, kind: str) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the default 5 drops connections in a burst (measured)

    def handle_error(self, request, client_address):
        """A client that timed out and left during a hang is expected, not an error to print."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # else ~48 ms per request instead of ~2 ms (measured)

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass

    def _send(self, status: int, body: dict | bytes, headers: dict | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream" if isinstance(body, bytes) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        key = self.server.fake.settings.api_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        with self.server.fake._lock:
            self.server.fake.refused += 1
        self._send(401, _error("Incorrect API key provided", "invalid_request_error"))
        return False

    def do_GET(self):
        fake = self.server.fake
        if self.path == "/_stats":
            return self._send(200, fake.stats())
        if not self._authorised():
            return None
        if m := re.fullmatch(r"/v1/files/([\w-]+)/content", self.path):
            data = fake.file(m[1])
            return self._send(200, data) if data is not None else self._send(404, _error("no such file", "not_found"))
        if m := re.fullmatch(r"/v1/batches/([\w-]+)", self.path):
            batch = fake.batch(m[1])
            return self._send(200, batch) if batch else self._send(404, _error("no such batch", "not_found"))
        return self._send(404, _error(f"no route {self.path}", "not_found"))

    def do_POST(self):
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not self._authorised():
            return None
        if self.path == "/v1/files":
            parts = email.parser.BytesParser().parsebytes(
                f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + raw
            )
            fields = {
                p.get_param("name", header="content-disposition"): p.get_payload(decode=True)
                for p in parts.get_payload()
            }
            return self._send(200, fake.add_file(fields["file"], fields.get("purpose", b"batch").decode()))
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            return self._send(400, _error("request body is not JSON", "invalid_request_error"))
        if self.path == "/v1/chat/completions":
            if fake.settings.latency_s:
                time.sleep(fake.settings.latency_s)
            return self._send(*fake.complete(body))
        if self.path == "/v1/batches":
            return self._send(*fake.create_batch(body))
        return self._send(404, _error(f"no route {self.path}", "not_found"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local OpenAI-compatible server for tests and offline demos.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (printed)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per chat completion")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated, of {','.join(FAULTS)}")
    parser.add_argument("--retry-after", type=float, default=0.05)
    parser.add_argument("--hang", type=float, default=5.0, help="seconds a hang lasts")
    parser.add_argument("--no-json-schema", action="store_true", help="reject json_schema output")
    parser.add_argument("--api-key-env", help="require the key held by this environment variable")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = FakeSettings(
        latency_s=args.latency,
        fault_rate=args.fault_rate,
        faults=tuple(f for f in args.faults.split(",") if f),
        retry_after_s=args.retry_after,
        hang_s=args.hang,
        json_schema=not args.no_json_schema,
        api_key=os.environ[args.api_key_env] if args.api_key_env else None,
        seed=args.seed,
    )
    server = FakeOpenAI(settings, args.host, args.port)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # shutdown() from this thread would deadlock
    print(f"fake OpenAI server on {server.base_url}", flush=True)
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._httpd.server_close()


if __name__ == "__main__":
    main()
