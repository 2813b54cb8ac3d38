"""Every command a user types answers --help in plain text: no reST markup from docstrings (edge-convert's help
showed ``edge-convert``)."""

from __future__ import annotations

import importlib

import pytest

COMMANDS = [
    ("converters.cli.main", []), ("converters.cli.main", ["multi-exit"]), ("converters.cli.main", ["pruned"]),
    ("converters.cli.main", ["gated"]), ("converters.cli.main", ["edgetpu"]),
    ("edge_runtime.cli.main", []), ("edge_runtime.cli.main", ["run"]), ("edge_runtime.cli.main", ["eval"]),
    ("edge_runtime.cli.main", ["serve"]), ("edge_runtime.cli.capture", []),
    ("tools.bench_multi_exit", []), ("tools.bench_architectures", []), ("tools.make_dataset", []),
    ("tools.power_emulator", []), ("tools.bench_serve", []), ("tools.bench_energy", []), ("tools.bench_scale", []),
]


@pytest.mark.parametrize("module, words", COMMANDS)
def test_help_is_plain_text(module, words, capsys):
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as stop:
        main([*words, "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "usage:" in text and "``" not in text
