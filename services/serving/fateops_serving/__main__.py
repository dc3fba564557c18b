"""Entry point: python -m fateops_serving --config serving.yaml (what supervisord runs on each party host)."""

from __future__ import annotations

import argparse
import logging
import sys

from . import __version__
from .config import ConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fateops_serving",
        description="Serve FATE 2.x hetero LR/LinR models over FATE-Serving's HTTP API.",
    )
    parser.add_argument("--config", required=True, help="the service's YAML or JSON configuration file")
    parser.add_argument("--version", action="version", version=f"fateops_serving {__version__}")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"fateops_serving: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, config.log_level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # Imported here so that a configuration error is reported even where the HTTP stack is missing.
    from .app import run

    run(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
