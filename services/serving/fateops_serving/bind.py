"""load_bind's step on one party, as a command: store the party's part of a model and bind it to a service.

    python -m fateops_serving.bind --data-dir DIR --party-id 10000 --role host --model-id M --model-version 0 \
        --service-id credit --fate-output answer.json --guest-party-id 9999 --host-csv train.csv [--id-column id]

--fate-output is FATE-Flow's answer to GET /v2/output/model/query for this party's LR/LinR task, saved as JSON;
an imported model (no training job on this FATE-Flow) comes instead from its archive: --model-archive ZIP
--task-name lr_0. Both end in the same conversion.
A host also needs --host-csv, the CSV it uploaded for training, from which its feature store is built.
Prints one JSON object, {"changed": bool, ...}, so a playbook can report changed from what really changed;
exit status 1 with one line on stderr on failure. Running it again with the same inputs changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import UnsupportedModelError
from .fate_output import model_from_fate_output
from .features import build_feature_store
from .model import LINKS
from .model_archive import output_from_archive
from .store import FEATURE_STORE_FILE, bind_service, feature_store_path, party_dir, write_model


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fateops_serving.bind", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--party-id", required=True)
    parser.add_argument("--role", required=True, choices=("guest", "host"))
    parser.add_argument("--model-id", required=True)
    parser.add_argument("--model-version", required=True)
    parser.add_argument("--service-id", required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--fate-output", type=Path, help="FATE-Flow's /output/model/query answer, as a file")
    source.add_argument("--model-archive", type=Path, help="the imported model's archive (export/migrate zip)")
    parser.add_argument("--task-name", help="with --model-archive: the LR/LinR task (lr_0, linr_0)")
    parser.add_argument("--guest-party-id", required=True)
    parser.add_argument("--host-party-id", action="append", default=[], help="a host of the model (guest side)")
    parser.add_argument("--host-address", action="append", default=[], metavar="PARTY=HOST:PORT")
    parser.add_argument("--algorithm", choices=sorted(LINKS), help="default: told from FATE's model meta")
    parser.add_argument("--host-csv", type=Path, help="host: the training CSV (id column + features)")
    parser.add_argument("--id-column", default="id", help="host: the CSV's id column, also the key looked up")
    return parser


def run(args: argparse.Namespace) -> dict[str, object]:
    if args.role == "host" and args.host_csv is None:
        raise ValueError("a host needs --host-csv to build its feature store")
    addresses = dict(item.split("=", 1) for item in args.host_address if "=" in item)
    if args.model_archive is not None:
        if not args.task_name:
            raise ValueError("--model-archive needs --task-name (lr_0 or linr_0)")
        response = output_from_archive(args.model_archive, args.role, args.party_id, args.task_name)
    else:
        response = json.loads(args.fate_output.read_text())
    model = model_from_fate_output(
        response,
        model_id=args.model_id,
        model_version=args.model_version,
        role=args.role,
        party_id=args.party_id,
        guest_party_id=args.guest_party_id,
        host_party_ids=args.host_party_id,
        algorithm=args.algorithm,
        host_addresses=addresses,
        match_id_name=args.id_column,
        feature_store=FEATURE_STORE_FILE if args.role == "host" else None,
    )
    directory = party_dir(args.data_dir, args.party_id)
    changed = write_model(directory, model)
    result: dict[str, object] = {"model_id": model.model_id, "model_version": model.model_version}
    if args.role == "host":
        summary = build_feature_store(
            args.host_csv,
            feature_store_path(directory, model.model_id, model.model_version),
            args.id_column,
            model.header,
        )
        changed |= summary.changed
        result["rows"] = summary.rows
    changed |= bind_service(directory, args.service_id, model.model_id, model.model_version)
    return {"changed": changed, **result}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result = run(args)
    except (OSError, ValueError, UnsupportedModelError) as error:
        print(f"fateops_serving.bind: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
