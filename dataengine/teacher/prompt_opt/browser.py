"""A prompt-optimisation reviewer in the browser: a page on 127.0.0.1 shows each sample with its image,
annotation, question, options and answer, takes correct / wrong / skip (keys c, w, s) with a note, and
shows a proposed revision as a diff to accept, edit or reject (a, e, r). The session resumes like any
other: every verdict is in the session file the moment it is given.

The page asks the server for the task at hand (GET /task) and answers it (POST /answer); the session,
in the main thread, waits in `review` or `decide` until the answer comes. Only the holder of the URL
with its session token gets in (`dataengine.core.local_page`).
"""

from __future__ import annotations

import base64
import json
import mimetypes
import queue
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from dataengine.core.formats import LETTERS
from dataengine.core.local_page import GuardedHandler, PageGuard
from dataengine.core.qtypes import TypeTable
from dataengine.teacher.prompt_opt.session import VERDICTS, Proposal, Verdict

PAGE = Path(__file__).with_name("review.html")


class BrowserReviewer:
    """`with BrowserReviewer(pool_dir, types, port) as reviewer:` serves the page at `reviewer.url` (which
    carries the session's token) until closed; `types` name the samples' types."""

    def __init__(self, image_root: Path, types: TypeTable, port: int = 8770, host: str = "127.0.0.1", say=print):
        self.image_root, self.types = Path(image_root).resolve(), types
        self._answers: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._task: dict = {"id": 0, "kind": "wait"}
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self.guard = PageGuard(*self._server.server_address[:2])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        say(f"review the samples at {self.url}")

    @property
    def url(self) -> str:
        return self.guard.url

    def __enter__(self) -> BrowserReviewer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._show({"kind": "done"})
        self._server.shutdown()
        self._server.server_close()

    def review(self, sample: dict, position: tuple[int, int] | None = None) -> Verdict | None:
        reply = sample["reply"]
        answer = self._ask(
            {
                "kind": "sample",
                "sample_id": sample["sample_id"],
                "qtype": int(sample["qtype"]),
                "type_name": self.types.name(sample["qtype"]),
                "position": list(position or (1, 1)),
                "image": self._image(sample["image"]),
                "annotation": sample["annotation"],
                "question": reply["instruction"],
                "options": list(zip(LETTERS, reply["options"])),
                "choice": reply["choice_answer"],
                "answer": reply["answer"],
            }
        )
        if answer.get("quit"):
            return None
        return Verdict(str(answer["verdict"]), str(answer.get("note") or ""))

    def decide(self, proposal: Proposal) -> str | None:
        answer = self._ask(
            {
                "kind": "proposal",
                "qtype": proposal.qtype,
                "type_name": self.types.name(proposal.qtype),
                "diff": proposal.diff,
                "proposed": proposal.proposed,
            }
        )
        if answer.get("decision") == "reject":
            return None
        return str(answer.get("text") or proposal.proposed) if answer.get("decision") == "edit" else proposal.proposed

    def _ask(self, task: dict) -> dict:
        """Show `task` and wait for the page's answer to it."""
        task_id = self._show(task)
        while True:
            answer = self._answers.get()
            if answer.get("id") == task_id:
                self._show({"kind": "wait"})
                return answer

    def _show(self, task: dict) -> int:
        with self._lock:
            self._task = {**task, "id": self._task["id"] + 1}
            return self._task["id"]

    def task(self) -> dict:
        with self._lock:
            return self._task

    def answer(self, answer: dict) -> bool:
        """Take the page's answer; False when it is no answer to the task shown."""
        task = self.task()
        valid = (
            answer.get("quit") is True
            or (task["kind"] == "sample" and answer.get("verdict") in VERDICTS)
            or (task["kind"] == "proposal" and answer.get("decision") in ("accept", "edit", "reject"))
        )
        if answer.get("id") != task["id"] or not valid:
            return False
        self._answers.put(answer)
        return True

    def _image(self, image: str) -> str | None:
        """The image as a data URI, if it lies inside the image folder."""
        path = (self.image_root / image).resolve()
        if not path.is_relative_to(self.image_root) or not path.is_file():
            return None
        kind = mimetypes.guess_type(path.name)[0] or "image/png"
        return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _handler(reviewer: BrowserReviewer) -> type[GuardedHandler]:
    class Handler(GuardedHandler):
        @property
        def guard(self) -> PageGuard:
            return reviewer.guard

        def do_GET(self):
            if not self.admitted():
                return
            if self.route == "/":
                self.send(200, PAGE.read_bytes(), "text/html; charset=utf-8")
            elif self.route == "/task":
                self.send(200, json.dumps(reviewer.task()).encode(), "application/json")
            else:
                self.send(404, b"not found", "text/plain")

        def do_POST(self):
            if not self.admitted():
                return
            if self.route != "/answer":
                self.send(404, b"not found", "text/plain")
                return
            try:
                answer = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            except (ValueError, json.JSONDecodeError):
                self.send(400, b"not JSON", "text/plain")
                return
            taken = isinstance(answer, dict) and reviewer.answer(answer)
            self.send(200 if taken else 409, b"{}", "application/json")

    return Handler
