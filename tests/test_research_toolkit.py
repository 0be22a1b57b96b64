"""The research toolkit (experiments/common): the statistics every RESULTS file rests on, the
CSV format that keeps regenerated tables byte-identical, run discovery over the layout
`orbjax.sweep` writes, and the rule that research code imports it instead of copying it."""

import ast
import json
import math
from pathlib import Path

import numpy as np
import pytest

from experiments.common import runs, stats, tables

ROOT = Path(__file__).resolve().parents[1]
RESEARCH = [p for top in ("experiments", "benchmarks") for p in sorted((ROOT / top).rglob("*.py"))]


# ----------------------------------------------------------------------------- statistics


def test_t_interval_is_the_student_t_interval_of_the_mean():
    lo, hi = stats.t_interval(np.array([1.0, 2.0, 3.0]))
    half = 4.302652729749462 / math.sqrt(3)  # t(0.975, 2 dof) · s / √n with s = 1
    assert (lo, hi) == pytest.approx((2 - half, 2 + half), rel=1e-12)
    assert all(math.isnan(x) for x in stats.t_interval(np.array([1.0])))


def test_paired_log_ratios_pair_only_the_seeds_both_arms_ran():
    seeds, logs = stats.paired_log_ratios({0: 1.0, 1: 2.0, 3: 9.0}, {1: 4.0, 0: 2.0, 2: 5.0})
    assert seeds == [0, 1]
    np.testing.assert_allclose(logs, np.log([0.5, 0.5]))


def test_log_ratio_summary_counts_seeds_below_one():
    s = stats.log_ratio_summary(np.log([0.8, 1.25, 0.9]), better="seeds_better")
    assert s["ratio"] == pytest.approx((0.8 * 1.25 * 0.9) ** (1 / 3))
    assert s["seeds_better"] == 2 and s["per_seed"] == "0.800 1.250 0.900"
    assert s["t_ci_low"] < s["ratio"] < s["t_ci_high"]


def test_bootstrap_interval_is_reproducible_and_degenerate_for_constant_values():
    values = np.log([0.9, 1.1, 0.8, 1.0])
    a = stats.bootstrap_ci(values, np.mean, stats.cell_rng("x", 1))
    assert a == stats.bootstrap_ci(values, np.mean, stats.cell_rng("x", 1))
    assert a[0] < np.mean(values) < a[1]
    assert stats.bootstrap_ci(np.full(5, 0.3), np.mean, stats.cell_rng("y")) == pytest.approx(
        (0.3, 0.3)
    )
    assert all(math.isnan(x) for x in stats.bootstrap_ci(values[:1], np.mean, stats.cell_rng("z")))


def test_efficiency_factor_reads_the_data_saving_off_two_power_laws():
    sizes = [50, 100, 200, 400]
    base = [10 * n**-0.3 for n in sizes]
    other = [10 * (2 * n) ** -0.3 for n in sizes]  # the variant at n errs like the baseline at 2n
    assert stats.power_law(np.array(sizes, float), np.array(base)) == pytest.approx(
        (math.log(10), -0.3)
    )
    for at in sizes:
        assert stats.efficiency_factor(sizes, base, other, at) == pytest.approx(2.0)
    assert stats.efficiency_factor(sizes, base, base, 400) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- tables


def test_write_csv_rounds_floats_and_keeps_every_column(tmp_path):
    path = tmp_path / "sub" / "t.csv"
    tables.write_csv(
        path, [{"a": 1.23456789, "b": "x"}, {"a": 2.0, "c": None, "d": float("nan")}], digits=3
    )
    assert path.read_bytes() == b"a,b,c,d\r\n1.23,x,,\r\n2,,,nan\r\n"
    assert tables.read_rows(path) == [
        {"a": "1.23", "b": "x", "c": "", "d": ""},
        {"a": "2", "b": "", "c": "", "d": "nan"},
    ]
    # full precision, own order
    tables.write_csv(path, [{"a": 0.1 + 0.2, "b": 1}], digits=None, fields=["b", "a"])
    assert path.read_bytes() == b"b,a\r\n1,0.30000000000000004\r\n"
    tables.write_csv(tmp_path / "none.csv", [])
    assert not (tmp_path / "none.csv").exists() and tables.read_rows(tmp_path / "none.csv") == []


def test_md_table_is_a_titled_table_or_nothing():
    assert tables.md_table("T", ["a", "b"], []) == []
    assert tables.md_table("T", ["a", "b"], ["| 1 | 2 |"]) == [
        "",
        "## T",
        "",
        "| a | b |",
        "|---|---|",
        "| 1 | 2 |",
    ]


# ----------------------------------------------------------------------------- runs


def test_sweep_runs_read_the_layout_orbjax_sweep_writes(tmp_path):
    from orbjax.sweep import FINAL_FILE, prepare

    specs = [
        dict(
            name=f"seed={s},config={c}",
            workdir=str(tmp_path / f"seed={s},config={c}"),
            config_path=f"/somewhere/configs/{c}.py",
            overrides={"seed": s, "data.n_train": 25},
        )
        for s, c in ((0, "energy_only"), (0, "orbital"), (1, "energy_only"))
    ]
    prepare(specs)  # run.json, as a launch writes it
    (tmp_path / "not_a_run").mkdir()
    done = tmp_path / specs[1]["name"]
    (done / FINAL_FILE).write_text(json.dumps({"test_energy_mae": 1.5}))
    (done / "metrics.csv").write_text(
        "step,split,metric,value\n250,val,energy_mae,2.0\n250,time,process_cpu_s,9.5\n"
    )
    (done / "attempts.jsonl").write_text(
        '{"time": "2026-01-01T00:00:00"}\n{"time": "2026-01-01T01:00:00"}\n'
    )

    (run,) = runs.sweep_runs(tmp_path)
    assert (run.name, run.config, run.overrides["seed"]) == ("seed=0,config=orbital", "orbital", 0)
    assert run.final_metrics() == {"test_energy_mae": 1.5} and len(run.attempts()) == 2
    assert [r["metric"] for r in run.metric_rows()] == ["energy_mae", "process_cpu_s"]
    everything = runs.sweep_runs(tmp_path, finished=False)
    assert [r.name for r in everything] == sorted(s["name"] for s in specs)
    assert [r.finished for r in everything] == [False, True, False]
    assert runs.sweep_runs(tmp_path / "absent") == []


# ----------------------------------------------------------------------------- one copy of each


def _functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def test_research_code_does_not_edit_the_import_path():
    """Scripts run as `python -m experiments...` / `benchmarks...` from the repository root."""
    offenders = [
        f"{p.relative_to(ROOT)}:{n.lineno}"
        for p in RESEARCH
        for n in ast.walk(ast.parse(p.read_text()))
        if (
            isinstance(n, ast.Attribute)
            and n.attr == "path"
            and getattr(n.value, "id", "") == "sys"
        )
        or (isinstance(n, ast.Attribute) and n.attr == "spec_from_file_location")
    ]
    assert not offenders, offenders


def test_toolkit_functions_are_defined_once():
    """The statistics, CSV and run-discovery helpers live in experiments/common only."""
    toolkit = {
        n.name
        for p in (ROOT / "experiments" / "common").glob("*.py")
        for n in _functions(p)
        if not n.name.startswith("_")
    }
    assert {
        "t_interval",
        "bootstrap_ci",
        "log_ratio_summary",
        "efficiency_factor",
        "write_csv",
        "sweep_runs",
    } <= toolkit
    copies = [
        f"{p.relative_to(ROOT)}:{n.lineno} {n.name}"
        for p in RESEARCH
        if "common" not in p.parts
        for n in _functions(p)
        if n.name in toolkit
    ]
    assert not copies, copies


class _Renamed(ast.NodeTransformer):
    """Parameters renamed by position, so a copy with renamed arguments is still a copy."""

    def __init__(self, names: dict):
        self.names = names

    def visit_Name(self, node):
        return ast.copy_location(ast.Name(self.names.get(node.id, node.id), node.ctx), node)


def test_no_function_body_is_copied_between_research_scripts():
    """Two functions of three or more statements with the same code (function and parameter
    names, docstrings and comments aside) are one function written twice."""
    seen: dict[str, str] = {}
    copies = []
    for path in RESEARCH:
        for fn in _functions(path):
            body = [
                s
                for s in fn.body
                if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
            ]
            if sum(1 for b in body for _ in ast.walk(b) if isinstance(_, ast.stmt)) < 3:
                continue
            params = {
                a.arg: f"_arg{i}"
                for i, a in enumerate(fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs)
            }
            key = ast.dump(_Renamed(params).visit(ast.Module(body=body, type_ignores=[])))
            where = f"{path.relative_to(ROOT)}:{fn.lineno} {fn.name}"
            if key in seen:
                copies.append(f"{where} copies {seen[key]}")
            seen.setdefault(key, where)
    assert not copies, copies
