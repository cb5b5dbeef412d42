"""Logging for pipeline jobs: one log file per job (the rule's `log:`), progress on the terminal."""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from pathlib import Path


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
