"""The teacher's API key through a whole Snakemake run with the openai teacher: it reaches the server
and nothing else, neither a file of the run nor Snakemake's own (.snakemake/ metadata and logs) nor
the `--report` HTML, which embeds files base64-encoded."""

from __future__ import annotations

import base64

import pytest
import yaml

from tests.conftest import CONFIGS, snakemake
from tools.fake_openai import FakeOpenAI, FakeSettings

SECRET = b"sk-leak-check-5f0c2b7e9a61d84c3e"
KEY_ENV = yaml.safe_load((CONFIGS / "openai.yaml").read_text())["teacher"]["api_key_env"]


def forms(secret: bytes) -> list[bytes]:
    """The secret as it would appear in a file: as is, or base64-encoded anywhere inside a longer
    encoded stream (at one of three alignments, each leaving a run of whole 3-byte groups)."""
    aligned = [secret[offset:][: (len(secret) - offset) // 3 * 3] for offset in range(3)]
    return [secret, *(base64.b64encode(part) for part in aligned)]


def leaks(data: bytes) -> bool:
    return any(form in data for form in forms(SECRET))


def test_the_scan_finds_the_key_plain_or_inside_a_base64_stream():
    for prefix in (b"", b"x", b"xy", b"xyz"):
        assert leaks(prefix + SECRET) and leaks(base64.b64encode(prefix + SECRET + b"tail"))
    assert not leaks(SECRET[:12] + base64.b64encode(SECRET[:12]))  # its prefix is no leak


@pytest.mark.slow
def test_the_teacher_key_reaches_the_server_and_no_file_snakemake_or_its_report_writes(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET.decode())
    workdir = tmp_path / "work"
    # Faults too, so that retries and rejected replies are logged on the way.
    settings = FakeSettings(api_key=SECRET.decode(), fault_rate=0.3, faults=("rate_limit", "server_error", "truncated"))
    with FakeOpenAI(settings) as server:
        overlay = tmp_path / "server.yaml"
        overlay.write_text(yaml.safe_dump({"iterations": 1, "teacher": {"base_url": server.base_url}}))
        configs = [CONFIGS / "small.yaml", CONFIGS / "openai.yaml", overlay]
        run = snakemake(workdir, "--cores", "2", configfiles=configs)
        assert run.returncode == 0, run.stderr[-4000:]
        report = snakemake(workdir, "--report", "report.html", configfiles=configs)
        assert report.returncode == 0, report.stderr[-4000:]
        stats = server.stats()
    assert stats["ok"] > 0 and stats["refused"] == 0  # every request carried the key
    assert set(stats["faults"]) == {"rate_limit", "server_error", "truncated"}
    files = [path for path in workdir.rglob("*") if path.is_file()]
    written = {path.relative_to(workdir).parts[0] for path in files}
    assert written == {"results", ".snakemake", "report.html"}
    assert any(path.parts[-2] == "logs" for path in files) and any("metadata" in path.parts for path in files)
    assert [str(path) for path in files if leaks(path.read_bytes())] == []
    assert not leaks((run.stdout + run.stderr + report.stdout + report.stderr).encode())
