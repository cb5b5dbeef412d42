"""Bringing source images (a dataset on disk) into a run folder.

Images are hard-linked where the dataset and the run share a filesystem (no second copy of COCO's
19 GB, and the run folder stays self-contained: unlike a symlink, a hard link survives the dataset
being moved or the run folder being copied elsewhere) and copied otherwise.
"""

import errno
import os
import shutil
from pathlib import Path


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
