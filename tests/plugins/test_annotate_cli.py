"""`farmannot annotate`: labelme's own options pass through, farmannot's window is the one labelme builds."""

from __future__ import annotations

import functools
import sys

from click.testing import CliRunner

from farmannot.cli.main import cli


def test_launch_runs_labelmes_main_with_our_window(monkeypatch, tiny_checkpoint, tmp_path):
    import labelme.__main__ as labelme_main

    from farmannot_labelme.window import FarmannotMainWindow

    seen = {}

    def fake_main():
        seen["argv"] = list(sys.argv)
        seen["window"] = labelme_main.MainWindow

    monkeypatch.setattr(labelme_main, "main", fake_main)
    monkeypatch.setattr(labelme_main, "MainWindow", labelme_main.MainWindow)  # restored after the test
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    res = CliRunner().invoke(cli, ["annotate", str(tmp_path), "--labels", "farmland,water", "--sam-checkpoint",
                                   str(tiny_checkpoint), "--cache-dir", str(tmp_path / "c"), "--no-log-times"],
                             obj={})
    assert res.exit_code == 0, res.output
    assert seen["argv"][1:] == [str(tmp_path), "--labels", "farmland,water"]  # labelme's own options
    factory = seen["window"]
    assert isinstance(factory, functools.partial) and factory.func is FarmannotMainWindow
    opts = factory.keywords["farmannot"]
    assert opts.session is not None and opts.session.config.name == "tiny"
    assert opts.log_times is False and opts.install_excepthook


def test_bad_checkpoint_is_one_line_error(tmp_path):
    bad = tmp_path / "x.pth"
    bad.write_bytes(b"nope")
    res = CliRunner().invoke(cli, ["annotate", "--sam-checkpoint", str(bad)], obj={})
    assert res.exit_code != 0
    assert "x.pth" in res.output and "Traceback" not in res.output


def test_report_times_empty_folder(tmp_path):
    res = CliRunner().invoke(cli, ["annotate", "--report-times", str(tmp_path)], obj={})
    assert res.exit_code == 0 and "no annotation times" in res.output
