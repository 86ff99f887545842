"""scripts/count-nested-kvm: its path-following counting rules (a dispatcher's switch, a copy
loop), its refusal of a missing source tree, and the committed count the parameters carry."""
from __future__ import annotations

import json
import subprocess
import importlib.util
from importlib.machinery import SourceFileLoader
from pathlib import Path

from test_cli import virtsim

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "count-nested-kvm"
_loader = SourceFileLoader("count_nested_kvm", str(SCRIPT))
count = importlib.util.module_from_spec(importlib.util.spec_from_loader("count_nested_kvm", _loader))
_loader.exec_module(count)

DISPATCHER = """
	int x = 1;
	if (x)
		x++;
	switch (reason) {
	case 1:
		return true;
	case 2:
		a();
		b();
		return false;
	default:
		return c();
	}
"""

COPY = """
	load(a);
	for (q = 0; q < 2; q++) {
		for (i = 0; i < n[q]; i++) {
			f = fields[q][i];
			write(f);
		}
	}
	clear(a);
"""


def test_a_dispatcher_counts_its_switch_as_the_one_case_taken():
    whole = count.mkc.count_statements(DISPATCHER)
    assert whole == 9  # 2 before, the if, the switch, 5 in its cases
    assert count.statements("nested_vmx_l1_wants_exit", DISPATCHER) == 3 + 2
    assert count.statements("some_other_function", DISPATCHER) == whole


def test_a_copy_loop_counts_its_innermost_body_once_per_field():
    once = count.mkc.count_statements(COPY)
    per_field = 2
    assert count.statements("copy_vmcs12_to_shadow", COPY) == once + (count.SHADOWED_FIELDS - 1) * per_field


def test_missing_source_tree_is_one_error_line(tmp_path):
    result = subprocess.run(["/usr/bin/python3", str(SCRIPT), "--source", str(tmp_path), "--output",
                             str(tmp_path / "out.json")], capture_output=True, text=True)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("count-nested-kvm: error:") and "nested.c" in lines[0]


def test_the_parameters_carry_the_committed_count(virtsim_binary):
    data = json.loads((REPO / "experiments" / "calibration" / "kvm-6.1-nested.json").read_text())
    ratio = json.loads((REPO / "experiments" / "calibration" / "kvm-6.1-code.json").read_text())
    assert data["instructions_per_statement"] == ratio["instructions_per_statement"]
    assert set(data["paths"]) == set(count.PATHS)
    described = json.loads(virtsim(virtsim_binary, "describe", "--json").stdout)
    defaults = {p["name"]: p["default"] for p in described["parameters"]}
    for handler, path in data["paths"].items():
        assert path["statements"] == sum(r["statements"] * r["times"] for r in path["functions"])
        assert path["instructions"] == round(path["statements"] * data["instructions_per_statement"])
        assert defaults[f"system.nested_virt.{handler}_instructions"] == path["instructions"], handler
