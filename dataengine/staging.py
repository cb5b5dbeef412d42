"""Bringing source images (a dataset on disk) into a run folder.

Images are hard-linked where the dataset and the run share a filesystem (no second copy of COCO's
19 GB, and the run folder stays self-contained: unlike a symlink, a hard link survives the dataset
being moved or the run folder being copied elsewhere) and copied otherwise.
"""

import errno
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

MAX_LISTED = 50  # missing files named in one error; the count is always given


def check_sources(sources: Sequence[Path], what: str) -> None:
    """Raise one FileNotFoundError listing every missing source file, not just the first."""
    missing = [str(path) for path in sources if not Path(path).is_file()]
    if missing:
        shown = ", ".join(missing[:MAX_LISTED]) + (" ..." if len(missing) > MAX_LISTED else "")
        raise FileNotFoundError(f"{what}: {len(missing)} images missing: {shown}")


def link_or_copy(source: Path, destination: Path) -> None:
    """Hard-link `source` to `destination`, copying when a link is impossible (another filesystem,
    or a filesystem without hard links); an existing destination is replaced."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.unlink(missing_ok=True)
    try:
        os.link(source, destination)
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copyfile(source, destination)
