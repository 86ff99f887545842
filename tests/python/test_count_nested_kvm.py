"""scripts/count-nested-kvm: its path-following counting rules (a dispatcher's switch, a copy
loop, an early return, a request block), its refusal of a missing source tree, the guest-page
mappings KVM 6.1 runs on every nested entry and exit, and the committed count the parameters carry."""
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


EARLY = """
	bool found;
	if (fast(addr, &pfn))
		return pfn;
	slow_a();
	slow_b();
	return pfn;
"""

REQUESTS = """
	int r;
	if (kvm_request_pending(vcpu)) {
		if (kvm_check_request(A, vcpu)) {
			a1();
			a2();
		}
		if (kvm_check_request(B, vcpu))
			b();
	}
	run();
"""


def test_a_function_that_returns_early_on_the_path_counts_up_to_that_return():
    assert count.statements("hva_to_pfn", EARLY) == 3  # the declaration, the if, its return
    assert count.statements("some_other_function", EARLY) == count.mkc.count_statements(EARLY)


def test_vcpu_enter_guest_counts_only_its_request_checks():
    # Two checks and B's one-line body (no braces); A's braced body and the rest are not counted.
    assert count.statements("vcpu_enter_guest", REQUESTS) == 3


def test_nested_entries_and_exits_map_and_unmap_l1s_pages():
    """Linux 6.1: every nested entry maps four L1 pages (APIC-access, virtual-APIC, posted-interrupt
    descriptor, MSR bitmap) and unmaps the bitmap; the emulated exit unmaps the other three, two of
    them dirty; L2's every exit marks those two dirty."""
    def times(path, function):
        return sum(k for f, k in count.PATHS[path] if f == function)
    assert times("resume", "kvm_vcpu_map") == 4 and times("resume", "kvm_vcpu_unmap") == 1
    assert times("reflect", "kvm_vcpu_map") == 0 and times("reflect", "kvm_vcpu_unmap") == 3
    assert times("reflect", "kvm_release_pfn_dirty") == 2
    assert times("decide", "kvm_vcpu_mark_page_dirty") == 2
    # Each lookup walks the host page tables (mm's lockless get_user_pages) and pins the page.
    for walk in ["gup_pgd_range", "gup_pmd_range", "try_grab_folio"]:
        assert times("resume", walk) == 4
    # Both L0 entries after a transition check the requests and load the new MMU root.
    for path in ["reflect", "resume"]:
        assert times(path, "vcpu_enter_guest") == 1 and times(path, "vmx_load_mmu_pgd") == 1


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


def test_the_ratio_check_counts_an_inlined_callee_at_each_call_site():
    bodies = {"outer": "\ta();\n\twrite_field(1);\n\twrite_field(2);\n\tcall_out();\n",
              "write_field": "\tif (slow)\n\t\tslow_write(x);\n\tfast_write(x);\n",
              "call_out": "\tb();\n"}
    # write_field is inlined (not called by the compiled code) at two sites; call_out is a call.
    assert count.statements_per_call_site("outer", bodies, called={"call_out"}) == 4 + 2 * 3
    once, _ = count.mkc.statements_with_inlined("outer", bodies, {"call_out"}, {"outer"})
    assert once == 4 + 3


def test_the_ratio_check_refuses_a_folder_without_the_modules(tmp_path):
    result = subprocess.run(["/usr/bin/python3", str(SCRIPT), "--output", str(tmp_path / "out.json"), "--modules",
                             str(tmp_path), "--ratio-output", str(tmp_path / "ratio.json")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("count-nested-kvm: error:") and "kvm-intel.ko" in lines[0]


def test_the_committed_ratio_check_brackets_the_ratio_the_count_uses():
    """On Debian's build the nested functions' instructions a statement, inlined callees counted
    once or at each call site, lie either side of the exit-path ratio the count multiplies by."""
    check = json.loads((REPO / "experiments" / "calibration" / "kvm-6.1-nested-code.json").read_text())
    ratio = json.loads((REPO / "experiments" / "calibration" / "kvm-6.1-nested.json").read_text())[
        "instructions_per_statement"]
    assert check["instructions_per_statement_inlined_per_call_site"] < ratio < check[
        "instructions_per_statement_inlined_once"]
    assert {r["function"] for r in check["functions"]} == {f for _, f in count.RATIO_FUNCTIONS}
