"""Bad input, faults and edge values (issue 18): a clean one-line error (exit 2), a warning, or an exact result;
never a traceback, a lost file or a silent wrong answer."""
import os
from pathlib import Path
import signal
import subprocess
import sys
import textwrap

import pytest

from ltcsn.args import ArgumentParser, cli, float_range, int_list, int_range
from ltcsn.errors import InputError
from ltcsn.files import atomic_output, check_output, check_output_dir, write_json

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable


# ---------------------------------------------------------------------------------------------- shared helpers
def _parser():
    p = ArgumentParser()
    p.add_argument("--n", type=int_range(1))
    p.add_argument("--x", type=float_range(0, 1, lo_open=True))
    p.add_argument("--h", type=int_list())
    return p


@pytest.mark.parametrize("argv", [["--n", "0"], ["--n", "-1"], ["--n", "1.5"], ["--x", "nan"], ["--x", "inf"],
                                  ["--x", "0"], ["--x", "1.01"], ["--h", "0"], ["--h", "4,x"], ["--h", ","],
                                  ["--nope"], ["--n"]])
def test_parser_errors_are_one_line_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        _parser().parse_args(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, err


def test_parser_types_accept_their_ranges():
    a = _parser().parse_args(["--n", "1", "--x", "1", "--h", "3,4"])
    assert (a.n, a.x, a.h) == (1, 1.0, [3, 4])


def test_cli_turns_input_errors_and_sigint_into_one_line(capsys):
    @cli
    def bad(argv=None):
        raise InputError("a\n  b")

    @cli
    def interrupted(argv=None):
        raise KeyboardInterrupt
    assert bad() == 2 and capsys.readouterr().err == "error: a b\n"
    assert interrupted() == 130 and capsys.readouterr().err.count("\n") == 1


def test_check_output(tmp_path):
    inp = tmp_path / "model.nir"
    inp.write_text("x")
    assert check_output(tmp_path / "r.json", [inp]) == tmp_path / "r.json"
    for bad in (tmp_path / "missing" / "r.json", inp / "r.json", tmp_path):
        with pytest.raises(InputError):
            check_output(bad, [inp])
    for same in (inp, tmp_path / "." / "model.nir"):
        with pytest.raises(InputError, match="input of this command"):
            check_output(same, [inp])
    os.link(inp, tmp_path / "hard.nir")
    with pytest.raises(InputError, match="input of this command"):
        check_output(tmp_path / "hard.nir", [inp])
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if not os.access(ro, os.W_OK):       # root writes anywhere
            with pytest.raises(InputError, match="not writable"):
                check_output(ro / "r.json")
            with pytest.raises(InputError, match="not writable"):
                check_output_dir(ro / "sub")
    finally:
        ro.chmod(0o700)


def test_check_output_dir(tmp_path):
    ckpt = tmp_path / "run" / "ckpt.pt"
    ckpt.parent.mkdir()
    ckpt.write_text("x")
    assert check_output_dir(tmp_path / "new" / "deeper", [ckpt], ["ckpt.pt"])
    with pytest.raises(InputError, match="input of this command"):
        check_output_dir(tmp_path / "run", [ckpt], ["ckpt.pt"])
    with pytest.raises(InputError, match="not a folder"):
        check_output_dir(ckpt, [], ["ckpt.pt"])
    with pytest.raises(InputError, match="is a file"):
        check_output_dir(ckpt / "sub", [], ["ckpt.pt"])


def test_atomic_output_keeps_the_old_file_on_error_and_says_when_it_replaces(tmp_path, capsys):
    path = tmp_path / "out.json"
    write_json(path, {"a": 1})
    assert capsys.readouterr().err == ""
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(path) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert path.read_text() == '{\n  "a": 1\n}\n' and os.listdir(tmp_path) == ["out.json"]
    write_json(path, {"a": 2})
    assert "replaced" in capsys.readouterr().err and '"a": 2' in path.read_text()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_a_signal_during_an_atomic_write_leaves_the_previous_file(tmp_path, sig):
    """A real process killed while it writes: the final path holds the previous complete file."""
    path = tmp_path / "big.bin"
    path.write_bytes(b"old")
    code = textwrap.dedent(f"""
        import sys, time
        from ltcsn.args import cli
        from ltcsn.files import atomic_output
        @cli
        def main(argv=None):
            with atomic_output({str(path)!r}) as tmp:
                with open(tmp, "wb") as f:
                    f.write(b"new" * 1000); f.flush()
                    print("writing", flush=True)
                    time.sleep(60)
            return 0
        sys.exit(main())
    """)
    proc = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "writing\n"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert path.read_bytes() == b"old"
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and err.count("\n") == 1 and "Traceback" not in err, err
        assert sorted(os.listdir(tmp_path)) == ["big.bin"]
    else:
        assert proc.returncode == -signal.SIGKILL
