"""The data dir's modes: every directory 0700 (DIR_MODE; made so by private_dirs whatever the umask, and the
data dir itself, which earlier versions made 0755, by private_data_dir), every file 0600 (FILE_MODE, in
jvp/store/locks.py)."""
from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700   # every directory of the data dir
# FILE_MODE (0600): every file of the data dir, lock files included (jvp/store/locks.py)


def private_dirs(path: Path | str) -> Path:
    """Create the directory `path` and its missing parents, each 0700 (mkdir gives parents the umask's mode
    whatever `mode` says); an existing directory is left as it is."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            pass
    return path


def private_data_dir(path: Path | str) -> bool:
    """Create the data dir 0700, or make an existing one 0700 (earlier versions made it 0755); True when its
    mode was changed. Its files are tightened by `jvp doctor --fix` (new files are 0600 anyway)."""
    path = private_dirs(path)
    mode = path.stat().st_mode & 0o7777
    if mode == DIR_MODE:
        return False
    try:
        os.chmod(path, DIR_MODE)
    except PermissionError:
        return False  # another user's directory: `jvp doctor` reports it
    return True
