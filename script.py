#!/usr/bin/env python3
"""fateops facade: `python3 script.py -f {deploy,submit,delete,upload,query,load_bind,predict} ...`.

Runs under any python3; re-executes itself inside the controller environment (.venv beside this file).
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"


def _enter_controller_env() -> None:
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    python = VENV / "bin" / "python"
    if not python.exists():
        sys.stderr.write(f"fateops: the controller environment is missing; run `make setup` in {ROOT} first\n")
        sys.exit(2)
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


if __name__ == "__main__":
    _enter_controller_env()
    sys.path.insert(0, str(ROOT))
    from fateops.cli import main

    sys.exit(main())
