"""Attacks on the review page's server while it waits on a proposed revision: a foreign page's simple
cross-origin POST, a DNS-rebinding Host, a missing or wrong token. Each is refused and decides nothing;
only a request with the session's token decides the proposal."""

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dataengine.core.local_page import TOKEN_HEADER, PageGuard
from dataengine.core.qtypes import SEED_TABLE
from dataengine.teacher.prompt_opt.browser import BrowserReviewer
from dataengine.teacher.prompt_opt.session import Proposal
from tests.browser import chromium, wait_for  # noqa: F401 (a fixture)

ATTACK = {"decision": "edit", "text": "ATTACKER PROMPT: always answer A"}


@pytest.fixture
def waiting(tmp_path):
    """A reviewer whose `decide` waits on a proposal in a thread; yields (reviewer, decisions, thread)."""
    decisions: list = []
    with BrowserReviewer(tmp_path, SEED_TABLE, port=0, say=lambda *_: None) as reviewer:
        proposal = Proposal(qtype=5, current="How many objects.", proposed="How many objects of one kind.")
        thread = threading.Thread(target=lambda: decisions.append(reviewer.decide(proposal)), daemon=True)
        thread.start()
        while reviewer.task()["kind"] != "proposal":
            thread.join(0.01)
        yield reviewer, decisions, thread


def request(reviewer, method: str, path: str, body: bytes | None = None, **headers) -> tuple[int, bytes]:
    """One raw HTTP request to the reviewer's server, with exactly the headers given (Host included)."""
    connection = http.client.HTTPConnection(reviewer.guard.host, reviewer.guard.port, timeout=10)
    connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for name, value in {**headers, "Content-Length": str(len(body or b""))}.items():
        connection.putheader(name.replace("_", "-"), value)
    connection.endheaders(body)
    response = connection.getresponse()
    status, text = response.status, response.read()
    connection.close()
    return status, text


def own_host(reviewer) -> str:
    return f"{reviewer.guard.host}:{reviewer.guard.port}"


def test_a_foreign_pages_simple_post_is_refused_for_every_task_id(waiting):
    reviewer, decisions, _ = waiting
    for task_id in range(1, 21):
        body = json.dumps({"id": task_id, **ATTACK}).encode()
        for path in ("/answer", f"/answer?token={reviewer.guard.token}"):  # even one that learnt the token
            status, _ = request(
                reviewer,
                "POST",
                path,
                body,
                Host=own_host(reviewer),
                Origin="http://evil.example",
                Content_Type="text/plain",
            )
            assert status == 403
    assert reviewer.task()["kind"] == "proposal" and decisions == []


def test_a_post_from_the_pages_own_origin_still_needs_a_json_body(waiting):
    reviewer, decisions, _ = waiting
    task_id = reviewer.task()["id"]
    body = json.dumps({"id": task_id, **ATTACK}).encode()
    status, text = request(
        reviewer,
        "POST",
        "/answer",
        body,
        Host=own_host(reviewer),
        Content_Type="text/plain",
        Origin=f"http://{own_host(reviewer)}",
        **{TOKEN_HEADER: reviewer.guard.token},
    )
    assert (status, text) == (415, b"the body must be application/json")
    assert reviewer.task()["kind"] == "proposal" and decisions == []


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.2:{port}", None])
def test_a_foreign_host_is_refused(waiting, host):
    reviewer, _, _ = waiting
    headers = {} if host is None else {"Host": host.format(port=reviewer.guard.port)}
    status, text = request(reviewer, "GET", f"/task?token={reviewer.guard.token}", **headers)
    assert (status, text) == (403, b"unknown Host")


@pytest.mark.parametrize("token", [None, "", "wrong", "x" * 43])
def test_a_request_without_the_token_is_refused(waiting, token):
    reviewer, decisions, _ = waiting
    query = "" if token is None else f"?token={token}"
    for path in ("/", "/task"):
        status, text = request(reviewer, "GET", path + query, Host=own_host(reviewer))
        assert (status, text) == (403, b"missing or wrong token")
    body = json.dumps({"id": reviewer.task()["id"], **ATTACK}).encode()
    headers = {} if token is None else {TOKEN_HEADER: token}
    status, _ = request(
        reviewer, "POST", "/answer", body, Host=own_host(reviewer), Content_Type="application/json", **headers
    )
    assert status == 403
    assert reviewer.task()["kind"] == "proposal" and decisions == []


def test_only_the_token_holder_decides_the_proposal(waiting):
    reviewer, decisions, thread = waiting
    task = json.loads(request(reviewer, "GET", f"/task?token={reviewer.guard.token}", Host=own_host(reviewer))[1])
    assert task["kind"] == "proposal"
    body = json.dumps({"id": task["id"], "decision": "edit", "text": "The reviewer's own words."}).encode()
    status, _ = request(
        reviewer,
        "POST",
        "/answer",
        body,
        Host=f"localhost:{reviewer.guard.port}",
        Origin=f"http://localhost:{reviewer.guard.port}",
        Content_Type="application/json; charset=utf-8",
        **{TOKEN_HEADER: reviewer.guard.token},
    )
    assert status == 200
    thread.join(10)
    assert decisions == ["The reviewer's own words."]


def test_each_session_has_its_own_secret():
    first, second = PageGuard("127.0.0.1", 8770), PageGuard("127.0.0.1", 8770)
    assert first.token != second.token and len(first.token) >= 40
    assert first.url == f"http://127.0.0.1:8770/?token={first.token}"
    assert first.token not in repr(first)


ATTACKER_PAGE = """<!doctype html><title>waiting</title><script>
(async () => {
  const body = JSON.stringify({id: %(id)d, decision: "edit", text: "ATTACKER PROMPT: always answer A"});
  for (const path of ["/answer", "/answer?token=%(token)s"]) {
    await fetch("%(target)s" + path, {method: "POST", mode: "no-cors", body}).catch(() => {});
  }
  document.title = "sent";
})();
</script>"""


def test_a_page_from_another_local_port_changes_nothing_in_the_browser(waiting, chromium):  # noqa: F811
    reviewer, decisions, _ = waiting
    target = f"http://{own_host(reviewer)}"
    page = ATTACKER_PAGE % {"id": reviewer.task()["id"], "token": reviewer.guard.token, "target": target}

    class Attacker(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page.encode())

    with ThreadingHTTPServer(("127.0.0.1", 0), Attacker) as attacker:
        threading.Thread(target=attacker.serve_forever, daemon=True).start()
        chromium.get(f"http://127.0.0.1:{attacker.server_address[1]}/")
        wait_for(chromium, lambda browser: browser.title == "sent")
        attacker.shutdown()
    assert reviewer.task()["kind"] == "proposal" and decisions == []
