"""One command line: `bnnflow` covers every command, and every make target but setup/test runs it."""
from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli import BENCHES, DELEGATED, main

REPO = Path(__file__).resolve().parent.parent
TARGETS = ("build", "rtlsim", "validate", "train", "bench", "bench-resources", "bench-sim", "bench-train", "fuzz",
           "list")


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for command in ("build", "list", "validate", "bench", *DELEGATED):
        assert f"    {command}" in out


@pytest.mark.parametrize("argv,prog", [(["train", "--help"], "bnnflow train"), (["fuzz", "--help"], "bnnflow fuzz"),
                                       *[(["bench", b, "--help"], f"bnnflow bench {b}") for b in BENCHES]])
def test_delegated_commands_take_their_modules_options(capsys, argv, prog):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {prog} ")


@pytest.mark.parametrize("target", TARGETS)
def test_make_targets_run_bnnflow(make_n, target):
    r = make_n(target)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(".venv/bin/bnnflow "), r.stdout


def test_validate_names_a_folder_that_is_no_deploy_package(tmp_path, capsys):
    assert main(["validate", str(tmp_path), "--virtual"]) == 2
    assert f"{tmp_path} is not a deploy package" in capsys.readouterr().err


def test_ctrl_c_in_a_command_that_writes_no_build_folder_says_only_interrupted(monkeypatch, capsys):
    from flows.testing import fuzz

    def interrupted(argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(fuzz, "main", interrupted)
    assert main(["fuzz", "--n", "3"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_main_leaves_the_callers_interrupt_handler_alone(capsys):
    """Only the program ignores a late Ctrl-C (flows.cli.run): a SIGINT ignored by main() would be
    inherited by every build a test or a caller starts afterwards, which could then not be stopped."""
    import signal

    before = signal.getsignal(signal.SIGINT)
    assert main(["list"]) == 0
    assert signal.getsignal(signal.SIGINT) is before
