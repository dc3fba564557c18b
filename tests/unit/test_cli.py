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
    ("argv", "out", "problem"),
    [
        (["-f", "submit", "-alg", "svm"], "json", "argument -alg: invalid choice: 'svm'"),
        (["-f", "submit", "-m", "2"], "json", "argument -m: invalid choice: 2 (choose from 0, 1)"),
        (["-f", "upload", "-gp", "1"], "upload failure.\n", "argument -gp: expected 2 arguments"),
        (["-f", "deploy", "--bogus"], "deploy failure.\n", "unrecognized arguments: --bogus"),
        (["--function=load_bind", "-mid"], "load_bind failure.\n", "argument -mid: expected one argument"),
        (["-f", "query", "-jid"], "", "argument -jid: expected one argument"),
    ],
)
def test_bad_flags_print_the_failure_result(argv, out, problem, tmp_path, monkeypatch, capsys):
    import json

    monkeypatch.setenv("FATEOPS_HOME", str(tmp_path / "ws"))
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    if out == "json":
        assert json.loads(captured.out)["retcode"] == 1
    else:
        assert captured.out == out
    assert captured.err.count("\n") == 1 and problem in captured.err and "script.py -h" in captured.err
    assert not (tmp_path / "ws").exists()


@pytest.mark.parametrize(
    ("argv", "problem"),
    [(["-f", "train"], "-f 'train' is not a function"), ([], "no function given"), (["-id", "1"], "no function")],
)
def test_no_function_exits_2_with_one_line(argv, problem, capsys):
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and problem in captured.err and "pass -f one of deploy" in captured.err


def test_parser_refuses_with_an_error_not_an_exit():
    with pytest.raises(cli.ArgumentError, match="invalid choice"):
        parse("-f", "submit", "-alg", "svm")


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
        ("migrate", {"job_parameters": {"federated_mode": "MULTIPLE"}, "role": {"guest": ["x"]}}, "is not a party id"),
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
