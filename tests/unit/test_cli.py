"""The facade's command line: the seed's flags, choices and output contract."""

import pytest

from fateops import cli


def parse(*argv: str):
    return cli.build_parser().parse_args(list(argv))


def test_every_seed_flag_parses():
    args = parse(
        "-f", "submit", "-u", "root", "admin", "-pw", "a", "b", "-id", "9999", "10000", "-ip", "127.0.0.1",
        "127.0.0.2", "-gp", "9999", "g.csv", "-hp", "10000", "h.csv", "10001", "h2.csv", "-proj", "p",
        "-alg", "hetero_lr", "-m", "1", "-mid", "M", "-mver", "V", "-mname", "S", "-params", "1", "2",
        "-jid", "J",
    )  # fmt: skip
    assert args.function == "submit"
    assert args.users == ["root", "admin"]
    assert args.password == ["a", "b"]
    assert args.id == ["9999", "10000"]
    assert args.ip == ["127.0.0.1", "127.0.0.2"]
    assert args.gp == ["9999", "g.csv"]
    assert args.hp == ["10000", "h.csv", "10001", "h2.csv"]
    assert (args.project, args.alg, args.m) == ("p", "hetero_lr", 1)
    assert (args.mid, args.mver, args.mname, args.jid) == ("M", "V", "S", "J")
    assert args.params == ["1", "2"]


def test_long_spellings():
    args = parse("-f", "deploy", "--users", "u", "--password", "p", "--id", "1", "--ip", "127.0.0.1", "--project", "x")
    assert (args.users, args.password, args.id, args.ip, args.project) == (["u"], ["p"], ["1"], ["127.0.0.1"], "x")


@pytest.mark.parametrize(
    "argv",
    [
        ["-f", "train"],
        ["-f", "submit", "-alg", "svm"],
        ["-f", "submit", "-m", "2"],
        ["-f", "upload", "-gp", "1"],
        [],
    ],
)
def test_bad_flags_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse(*argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_help_is_english(capsys):
    with pytest.raises(SystemExit):
        parse("-h")
    out = capsys.readouterr().out
    for flag in ("-f", "-u", "-pw", "-id", "-ip", "-gp", "-hp", "-proj", "-alg", "-m", "-mid", "-mver", "-mname"):
        assert f" {flag}" in out
    assert "stdout" in out


def test_deploy_mismatch_prints_failure_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FATEOPS_HOME", str(tmp_path / "ws"))
    assert cli.main(["-f", "deploy", "-id", "1", "2", "-ip", "127.0.0.1"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "deploy failure.\n"
    assert captured.err.count("\n") == 1
    assert "-id has 2 values but -ip has 1" in captured.err
    assert not (tmp_path / "ws" / "state.json").exists()


def test_failure_shapes():
    assert cli._failure_output("delete", "x") == "delete failure."
    assert cli._failure_output("load_bind", "x") == "load_bind failure."
    import json

    predict = json.loads(cli._failure_output("predict", "boom"))
    assert predict["retcode"] != 0 and predict["retmsg"] == "boom"
    assert json.loads(cli._failure_output("submit", "boom"))["retcode"] == 1


def test_every_function_has_a_handler():
    assert set(cli.HANDLERS) == set(cli.FUNCTIONS)


@pytest.mark.parametrize(
    ("function", "config", "message"),
    [
        ("migrate", None, "no config given; pass -conf migrate_model.json"),
        ("migrate", "missing.json", "does not exist"),
        ("migrate", {"job_parameters": {"federated_mode": "MULTIPLE"}, "role": {"guest": ["x"]}}, "is not an integer"),
        ("import", {"role": "guest", "party_id": 99, "model_id": "m", "model_version": "v"}, "file is missing"),
        ("import", "[1]", "must hold one JSON object"),
    ],
)
def test_migrate_and_import_refuse_bad_configs(function, config, message, tmp_path, monkeypatch, capsys):
    import json

    monkeypatch.setenv("FATEOPS_HOME", str(tmp_path / "ws"))
    argv = ["-f", function]
    if isinstance(config, dict):
        (tmp_path / "c.json").write_text(json.dumps(config))
        argv += ["-conf", str(tmp_path / "c.json")]
    elif config == "[1]":
        (tmp_path / "c.json").write_text(config)
        argv += ["-conf", str(tmp_path / "c.json")]
    elif config:
        argv += ["-conf", str(tmp_path / config)]
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    answer = json.loads(captured.out)
    assert answer["retcode"] == 1 and message in answer["retmsg"]
    assert captured.err.count("\n") == 1 and "usage" in captured.err
    assert not (tmp_path / "ws" / "state.json").exists()
