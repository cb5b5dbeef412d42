"""The openai teacher's Batch API mode, for large runs at half the price: upload the requests the
cache cannot answer, poll, collect the replies by custom_id (the cache key), and resubmit only the
failures. Submitted batches are recorded in the cache, so a job killed while one runs collects it on
the next start instead of paying for it again, and a job sharing the cache collects another's batch
holding its requests. The cache is looked at again right before each submission; two jobs that
submit the same requests at the same moment can still both pay (online mode claims each request).
"""

from __future__ import annotations

import json
import logging
import threading

from dataengine.endpoint.cache import ResponseCache
from dataengine.endpoint.ledger import Ledger
from dataengine.teacher.llm.runner import RESPONSE_FORMATS, Outcome, Request, TeacherMode, estimate_tokens
from dataengine.teacher.llm.settings import OpenAISettings

log = logging.getLogger("dataengine")
ENDPOINT = "/v1/chat/completions"
DONE = ("completed", "failed", "expired", "cancelled")


class BatchTeacher(TeacherMode):
    def __init__(
        self, settings: OpenAISettings, cache: ResponseCache, ledger: Ledger, seed: int, stop: threading.Event
    ):
        super().__init__(settings, cache, ledger, seed, stop)
        # Batch management is a handful of calls: the SDK's own retries are enough here.
        self.client = self._client(max_retries=settings.max_retries)

    def run(self, requests: list[Request]) -> dict[str, Outcome]:
        pending = {r.key: r for r in requests}
        outcomes: dict[str, Outcome] = {}
        collected: set[str] = set()
        for round_no in range(self.settings.batch_rounds):
            self._collect_others(pending, outcomes, collected)
            todo = []
            for key, request in pending.items():
                if not outcomes.get(key, Outcome(None, "new")).failure:
                    continue
                if (hit := self.cache.get(key)) is not None:  # another job cached it since this one started
                    outcomes[key] = Outcome(hit.content, cached=True)
                else:
                    todo.append(request)
            if not todo or self.stop.is_set():
                break
            reserved = {}
            for request in todo:
                worst = self.settings.cost(estimate_tokens(request.messages), self.settings.max_tokens, batch=True)
                if not self.budget.reserve(worst):
                    outcomes[request.key] = Outcome(None, "budget")
                    continue
                reserved[request.key] = worst
            if not reserved:
                break
            batch_id = self._submit([pending[k] for k in reserved])
            log.info("batch round %d: %s with %d requests", round_no + 1, batch_id, len(reserved))
            self._collect(batch_id, pending, outcomes, reserved)
        return outcomes

    def _collect_others(self, pending: dict, outcomes: dict, collected: set[str]) -> None:
        """Collect the open batches (left by a killed job, or submitted by a job sharing the cache)
        that hold requests of this job."""
        for batch_id, keys in self.cache.open_batches().items():
            if batch_id not in collected and pending.keys() & set(keys):
                log.info("collecting batch %s submitted by another or an earlier job", batch_id)
                collected.add(batch_id)
                self._collect(batch_id, pending, outcomes, reserved={})

    def _submit(self, requests: list[Request]) -> str:
        lines = [
            json.dumps(
                {
                    "custom_id": r.key,
                    "method": "POST",
                    "url": ENDPOINT,
                    "body": {
                        "model": self.settings.model,
                        "messages": r.messages,
                        "response_format": RESPONSE_FORMATS[self.format],
                        **self.sampling,
                    },
                }
            )
            for r in requests
        ]
        upload = self.client.files.create(file=("requests.jsonl", "\n".join(lines).encode()), purpose="batch")
        batch = self.client.batches.create(input_file_id=upload.id, endpoint=ENDPOINT, completion_window="24h")
        self.cache.add_batch(batch.id, [r.key for r in requests])
        self.tally.add(calls=len(requests))
        return batch.id

    def _collect(self, batch_id: str, pending: dict, outcomes: dict, reserved: dict[str, float]) -> None:
        """Wait for the batch, then record each line's outcome; a stop leaves it for the next job."""
        batch = self.client.batches.retrieve(batch_id)
        while batch.status not in DONE:
            if self.stop.wait(self.settings.batch_poll_s):
                return
            batch = self.client.batches.retrieve(batch_id)
        lines = []
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                lines += [
                    json.loads(line) for line in self.client.files.content(file_id).text.splitlines() if line.strip()
                ]
        for line in lines:
            key = line.get("custom_id")
            if key in pending and (key not in outcomes or outcomes[key].failure):
                outcomes[key] = self._outcome(line, pending[key], reserved.pop(key, 0.0), batch_id)
        for key, worst in reserved.items():  # neither replied nor failed: the batch expired or failed
            self.budget.settle(worst, 0.0)
            outcomes[key] = Outcome(None, f"batch_{batch.status}")
        self.cache.close_batch(batch_id)

    def _outcome(self, line: dict, request: Request, worst: float, batch_id: str) -> Outcome:
        response = line.get("response") or {}
        if response.get("status_code") != 200:
            self.budget.settle(worst, 0.0)
            self.tally.add(retries=f"http_{response.get('status_code', 'error')}")
            return Outcome(None, f"http_{response.get('status_code', 'error')}")
        body = response["body"]
        choice = (body.get("choices") or [{}])[0]
        content = (choice.get("message") or {}).get("content")
        usage = body.get("usage") or {}
        prompt = usage.get("prompt_tokens", estimate_tokens(request.messages))
        output = usage.get("completion_tokens", len(content or "") // 4)
        cost = self.settings.cost(prompt, output, batch=True)
        self.budget.settle(worst, cost)
        self.tally.add(replies=1, prompt_tokens=prompt, completion_tokens=output, cost_usd=cost)
        self.tally.fingerprint(body.get("system_fingerprint"))
        return self._paid(request, content, choice.get("finish_reason"), prompt, output, cost, batch=batch_id)
