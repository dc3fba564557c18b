"""The facade's command line: the seed's flags and outputs, exactly; the work happens elsewhere in fateops."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import NoReturn

from fateops import credentials
from fateops.errors import FateopsError, UsageError
from fateops.workspace import Workspace

FUNCTIONS = ("deploy", "submit", "delete", "upload", "query", "load_bind", "predict", "migrate", "import")
ALGORITHMS = ("hetero_lr", "hetero_linr", "example")
# Functions whose result is one line "<function> success." / "<function> failure.".
LINE_RESULT = ("deploy", "delete", "upload", "load_bind")
# Functions whose result is one JSON object with a retcode, in FATE-Flow's shape.
JSON_RESULT = ("submit", "migrate", "import")


class ArgumentError(UsageError):
    """A flag argparse refused (unknown, missing its value, not one of its choices)."""


class _Parser(argparse.ArgumentParser):
    # argparse prints usage and exits 2; the facade prints the function's failure result instead (see main).
    def error(self, message: str) -> NoReturn:
        raise ArgumentError(f"{' '.join(message.split())}; see python3 script.py -h for the flags")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="script.py",
        description=(
            "Stand up FATE parties on many hosts and run the model life cycle on them. "
            "Results go to stdout; progress and diagnostics go to stderr."
        ),
    )
    parser.add_argument("-f", "--function", required=True, choices=FUNCTIONS, help="what to do")
    parser.add_argument("-u", "--users", nargs="+", metavar="USER", help="ssh user per host (default root)")
    parser.add_argument(
        "-pw",
        "--password",
        nargs="+",
        metavar="PW",
        help="ssh password per host, used once to install a key; `-pw -` reads them from stdin, one per line",
    )
    parser.add_argument("-id", "--id", nargs="+", metavar="ID", help="party ids, one per -ip")
    parser.add_argument("-ip", "--ip", nargs="+", metavar="IP", help="host address of each party id")
    parser.add_argument("-gp", nargs=2, metavar=("ID", "PATH"), help="guest party id and its data file")
    parser.add_argument(
        "-hp", nargs="+", metavar="ID PATH", help="host party ids and their data files, as pairs: ID PATH [ID PATH ...]"
    )
    parser.add_argument("-proj", "--project", help="project name: the namespace of the uploaded tables")
    parser.add_argument("-alg", choices=ALGORITHMS, help="algorithm to train")
    parser.add_argument("-m", type=int, choices=(0, 1), help="work mode: 1 spans the deployed parties, 0 standalone")
    parser.add_argument("-mid", help="model id")
    parser.add_argument("-mver", help="model version")
    parser.add_argument("-mname", help="service name a model is bound to")
    parser.add_argument(
        "-params", nargs="+", metavar="VALUE", help="features to predict: values in header order, or name=value"
    )
    parser.add_argument("-jid", help="job id")
    parser.add_argument(
        "-conf", metavar="PATH", help="migrate / import: the seed's migrate_model.json or import_model.json"
    )
    return parser


def _deploy(workspace: Workspace, args: argparse.Namespace) -> None:
    from fateops.lifecycle import deploy

    deploy(workspace, args.id, args.ip, args.password, args.users)


def _delete(workspace: Workspace, args: argparse.Namespace) -> None:
    from fateops.lifecycle import delete

    delete(workspace, args.id, args.ip, args.password, args.users)


def _upload(workspace: Workspace, args: argparse.Namespace) -> None:
    from fateops.training import upload

    upload(workspace, args.gp, args.hp, args.project)


def _submit(workspace: Workspace, args: argparse.Namespace) -> dict:
    from fateops.training import submit

    return submit(workspace, args.alg, args.project, args.m)


def _query(workspace: Workspace, args: argparse.Namespace) -> str:
    from fateops.training import query

    return query(workspace, args.jid)


def _load_bind(workspace: Workspace, args: argparse.Namespace) -> None:
    from fateops.serving import load_bind

    load_bind(workspace, args.mid, args.mver, args.mname)


def _predict(workspace: Workspace, args: argparse.Namespace) -> dict:
    from fateops.serving import predict

    return predict(workspace, args.mname, args.params)


def _migrate(workspace: Workspace, args: argparse.Namespace) -> dict:
    from fateops.migration import migrate

    return migrate(workspace, args.conf)


def _import(workspace: Workspace, args: argparse.Namespace) -> dict:
    from fateops.migration import import_model

    return import_model(workspace, args.conf)


HANDLERS: dict[str, Callable[[Workspace, argparse.Namespace], object]] = {
    "deploy": _deploy,
    "delete": _delete,
    "upload": _upload,
    "submit": _submit,
    "query": _query,
    "load_bind": _load_bind,
    "predict": _predict,
    "migrate": _migrate,
    "import": _import,
}


def _failure_output(function: str, message: str, retcode: int = 1) -> str:
    if function in LINE_RESULT:
        return f"{function} failure."
    if function == "predict":
        return json.dumps({"prob": None, "retmsg": message, "retcode": retcode})
    if function in JSON_RESULT:
        return json.dumps({"retcode": 1, "retmsg": message})
    return ""


def _fail(function: str, exc: FateopsError) -> int:
    failure = _failure_output(function, str(exc), getattr(exc, "retcode", 1))
    if failure:
        print(failure)
    kind = "usage" if isinstance(exc, UsageError) else "error"
    sys.stderr.write(f"fateops {function}: {kind}: {exc}\n")
    return getattr(exc, "exit_status", 1)


def _function_of(argv: list[str]) -> str | None:
    """The -f of a command line that is wrong elsewhere, so that its mistake gets that function's result."""
    finder = _Parser(add_help=False)
    finder.add_argument("-f", "--function")
    try:
        found, _ = finder.parse_known_args(argv)
    except ArgumentError:
        return None
    return found.function


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)
    except ArgumentError as exc:
        function = _function_of(argv)
        if function in FUNCTIONS:
            return _fail(function, exc)
        # No function, so no result shape to print: argparse's own status for a bad command line.
        problem = f"-f {function!r} is not a function" if function else "no function given"
        sys.stderr.write(f"fateops: usage: {problem}; pass -f one of {', '.join(FUNCTIONS)}\n")
        return 2
    function = args.function
    handler = HANDLERS[function]
    workspace = Workspace()
    try:
        # The secrets are read (and removed from the environment) before anything else runs.
        args.password = credentials.passwords(args.password, args.id, sys.stdin)
        output = handler(workspace, args)
    except FateopsError as exc:
        return _fail(function, exc)
    except KeyboardInterrupt:
        print(_failure_output(function, "interrupted") or "")
        sys.stderr.write(f"fateops {function}: interrupted\n")
        return 130
    if function in LINE_RESULT:
        print(f"{function} success.")
    elif output is not None:
        print(output if isinstance(output, str) else json.dumps(output))
    return 0
