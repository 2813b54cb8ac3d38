"""The layout rules hold: no import cycles, no module over 400 lines, no private names across modules."""

from tools.check_layout import MAX_LINES, cycles, problems


def test_the_code_base_keeps_its_layout_rules():
    assert problems() == []


def test_the_cycle_finder_finds_a_cycle_and_only_it():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_checker_sees_each_kind_of_problem(tmp_path):
    package = tmp_path / "edge_sim"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "one.py").write_text("def f():\n    from .two import g\n")  # a function-level import counts
    (package / "two.py").write_text("from .one import f\nfrom .one import _hidden\n" + "x = 1\n" * MAX_LINES)
    found = problems(tmp_path)
    assert any(line.startswith("import cycle: edge_sim.one → edge_sim.two") for line in found)
    assert any("edge_sim.two:" in line and f"lines (over {MAX_LINES})" in line for line in found)
    assert any("imports the private name _hidden" in line for line in found)
