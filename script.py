#!/usr/bin/env python3
"""fateops facade: `python3 script.py -f {deploy,submit,delete,upload,query,load_bind,predict} ...`.

Runs under any python3; re-executes itself inside the controller environment (.venv beside this file). The
re-exec carries no secret in its argv or environment: -pw values and FATEOPS_EXCHANGE_PASSWORD go through an
inherited pipe (fateops/credentials.py).
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
    from fateops.credentials import hand_over
    from fateops.errors import FateopsError

    try:
        argv, env, _ = hand_over(sys.argv[1:], os.environ)
    except FateopsError as exc:
        sys.stderr.write(f"fateops: usage: {exc}\n")
        sys.exit(2)
    os.execve(str(python), [str(python), str(Path(__file__).resolve()), *argv], env)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    _enter_controller_env()
    from fateops.cli import main

    sys.exit(main())
