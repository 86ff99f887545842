"""scripts/measure-kvm-code: the statement counter, the disassembly parser, the inlining rule, its
refusal of a missing source tree, and the committed measurement the handler docs quote."""
from __future__ import annotations

import json
import subprocess
import importlib.util
from importlib.machinery import SourceFileLoader
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "measure-kvm-code"
_loader = SourceFileLoader("measure_kvm_code", str(SCRIPT))
measure = importlib.util.module_from_spec(importlib.util.spec_from_loader("measure_kvm_code", _loader))
_loader.exec_module(measure)

SOURCE = """
/* a comment; with semicolons; */
static inline int helper(int a)
{
	if (a)
		return 1;
	return 0;
}

int outer(int n)
{
	int i, s = 0;
	for (i = 0; i < n; i++)
		s += helper(i);
	called(s);
	return s;
}
"""

# objdump -dr text: outer calls `called` through a relocation and inlined helper.
DISASSEMBLY = """
0000000000000000 <outer>:
   0:	push   %rbx
   1:	call   6 <outer+0x6>
			2: R_X86_64_PLT32	called-0x4
   6:	pop    %rbx
   7:	jmp    c <outer.cold>
0000000000000010 <called>:
  10:	ret
"""


def test_function_bodies_and_statements():
    bodies = measure.function_bodies(SOURCE)
    assert set(bodies) == {"helper", "outer"}
    assert measure.count_statements(bodies["helper"]) == 3  # if, return, return
    # declaration, for (its header's two ';' not counted), the loop body, the call, the return
    assert measure.count_statements(bodies["outer"]) == 5


def test_disassembly_counts_instructions_and_targets():
    counts, targets = measure.parse_disassembly(DISASSEMBLY.splitlines())
    assert counts == {"outer": 4, "called": 1}
    assert targets["outer"] == {"called", "outer"}


def test_inlined_callees_add_their_statements():
    bodies = measure.function_bodies(SOURCE + "\nvoid called(int s)\n{\n\tuse(s);\n}\n")
    _, targets = measure.parse_disassembly(DISASSEMBLY.splitlines())
    statements, inlined = measure.statements_with_inlined("outer", bodies, targets["outer"], {"outer"})
    assert inlined == ["helper"]  # `called` is called, not inlined
    assert statements == 5 + 3


def test_missing_source_tree_is_one_error_line(tmp_path):
    result = subprocess.run(["/usr/bin/python3", str(SCRIPT), "--source", str(tmp_path), "--output",
                             str(tmp_path / "out.json")], capture_output=True, text=True)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("measure-kvm-code: error:") and "x86.c" in lines[0]


def test_committed_measurement_is_consistent():
    data = json.loads((REPO / "experiments" / "calibration" / "kvm-6.1-code.json").read_text())
    rows = data["functions"]
    assert len(rows) == len(measure.FUNCTIONS)
    assert data["instructions"] == sum(r["instructions"] for r in rows)
    assert data["statements"] == sum(r["statements"] for r in rows)
    assert data["instructions_per_statement"] == round(data["instructions"] / data["statements"], 2)
