"""Logging for pipeline jobs: one log file per job (the rule's `log:`), and progress that a person can
follow: a bar on a terminal, and without one (a Snakemake job's log, a SLURM log) a line every
LOG_EVERY_S seconds with the count, the rate and the time left, so a long step is never silent."""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

LOG_EVERY_S = 30.0


@contextmanager
def job_logging(log_path: str | Path):
    """Send log records to `log_path` and stderr; record any exception in the log before it escapes."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handlers = [logging.FileHandler(log_path, mode="w"), logging.StreamHandler(sys.stderr)]
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        handlers=handlers,
        force=True,
    )
    try:
        yield logging.getLogger("dataengine")
    except Exception:
        logging.getLogger("dataengine").exception("job failed")
        raise
    finally:
        for handler in handlers:
            handler.close()


def progress(iterable, desc: str, total: int | None = None, unit: str = "it", initial: int = 0) -> tqdm:
    """`iterable` with progress shown: a tqdm bar on a terminal, else tqdm's line in the job's log
    every LOG_EVERY_S seconds (its postfix, e.g. the training loss, included)."""
    options = {"desc": desc, "total": total, "unit": unit, "initial": initial}
    if sys.stderr.isatty():
        return tqdm(iterable, **options)
    # miniters=1: a line whenever LOG_EVERY_S have passed, never an extra one from tqdm's monitor thread
    return tqdm(iterable, **options, file=_LogLines(), mininterval=LOG_EVERY_S, miniters=1, ascii=True, ncols=110)


class _LogLines:
    """A file for tqdm that logs each state it draws as one line."""

    def write(self, text: str) -> None:
        line = text.strip("\r\n ")
        if line:
            logging.getLogger("dataengine").info(line)

    def flush(self) -> None:
        pass
