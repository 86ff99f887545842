"""The guest OS model and the generators through the whole simulator: every generator runs
natively and as a guest with every page walk checked against the functional reference walk,
is deterministic for a seed, and does what its name says to the kernel's statistics."""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest

from test_cli import REPO, SINGLE, expect_error, virtsim, write

KINDS = ["gups", "stream", "pointer_chase", "fork_and_wait", "syscall_loop", "pt_update", "io_loop",
         "kernel_build", "idle", "mix", "timeshare"]
# 16 MiB: 4096 pages, beyond the reach of Skylake's 1536-entry STLB.
SMALL = ["--set", "workload.footprint_kib=16384", "--set", "workload.accesses=5000", "--set", "workload.operations=20",
         "--set", "system.mmu*.check=true"]


def run(binary: Path, out: Path, kind: str, *extra: str) -> dict:
    result = virtsim(binary, "run", *SINGLE, "-o", str(out), "-q", "--set", f'workload.kind="{kind}"', *SMALL, *extra)
    assert result.returncode == 0, result.stderr
    stats = virtsim(binary, "stats", str(out), "--json", "--all")
    assert stats.returncode == 0, stats.stderr
    return json.loads(stats.stdout)["run0000"]["metrics"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_generator_runs_natively_with_every_walk_checked(virtsim_binary, tmp_path, kind):
    m = run(virtsim_binary, tmp_path / "n.h5", kind)
    # A walk that disagreed with the reference would have stopped the run with an error.
    assert m["system.mmu0.checked"] == m["walk.count"]
    assert m["sim.instructions"] > 0
    if kind not in ("io_loop", "idle", "syscall_loop"):  # those touch a few warm pages only
        assert m["walk.count"] > 0


@pytest.mark.parametrize("kind", ["fork_and_wait", "pt_update", "kernel_build", "mix"])
@pytest.mark.parametrize("nested", ["ept4", "npt4"])
def test_process_heavy_generators_run_as_guests_under_nested_paging(virtsim_binary, tmp_path, kind, nested):
    mode = "vmx" if nested.startswith("ept") else "svm"
    m = run(virtsim_binary, tmp_path / "g.h5", kind, "--set", f'system.nested.paging="{nested}"',
            "--set", f'system.vmx.mode="{mode}"')
    assert m["walk.two_dimensional"] == m["walk.count"] == m["system.mmu0.checked"] > 0


@pytest.mark.parametrize("paging", ["32bit", "pae", "5level"])
def test_the_mix_runs_under_every_guest_paging_mode(virtsim_binary, tmp_path, paging):
    m = run(virtsim_binary, tmp_path / "p.h5", "mix", "--set", f'system.kernel.paging="{paging}"')
    assert m["system.mmu0.checked"] == m["walk.count"] > 0
    assert m["system.kernel.forks"] >= 20  # the fork-and-wait children, the build jobs, the mix's own


def test_generators_are_deterministic_for_a_seed(virtsim_binary, tmp_path):
    a = run(virtsim_binary, tmp_path / "a.h5", "mix", "--set", "run.seed=3")
    b = run(virtsim_binary, tmp_path / "b.h5", "mix", "--set", "run.seed=3")
    c = run(virtsim_binary, tmp_path / "c.h5", "mix", "--set", "run.seed=4")
    assert a == b
    assert a["tlb.l1d.misses"] != c["tlb.l1d.misses"]


def test_fork_and_wait_forks_copies_on_write_and_tears_down(virtsim_binary, tmp_path):
    m = run(virtsim_binary, tmp_path / "f.h5", "fork_and_wait", "--set", "workload.fork.child_writes=8")
    children = 20
    assert m["system.kernel.forks"] == children
    assert m["system.kernel.exits"] == children
    # Every child write hits a copy-on-write page still shared with the parent: a copy each
    # (a child writing the same page twice copies once, hence at most).
    assert 0 < m["system.kernel.cow_copies"] <= children * 8
    assert m["system.kernel.tables_freed"] >= children  # each child's tables go at exit
    # Every fork ends by flushing the parent's TLB (Linux's dup_mmap: flush_tlb_mm), whether or
    # not it write-protected anything; a child's exit only switches away from its tables.
    assert m["system.kernel.tlb_flushes"] == children


def test_exec_children_start_from_a_fresh_address_space(virtsim_binary, tmp_path):
    m = run(virtsim_binary, tmp_path / "e.h5", "fork_and_wait", "--set", "workload.fork.exec=true")
    assert m["system.kernel.execs"] == 20
    assert m["system.kernel.cow_copies"] == 0  # nothing shared is written after exec
    assert m["system.kernel.demand_faults"] >= 20 * 16  # each child faults in its own pages


def test_pt_update_invalidates_each_page_then_flushes_above_the_ceiling(virtsim_binary, tmp_path):
    few = run(virtsim_binary, tmp_path / "few.h5", "pt_update", "--set", "workload.pt_update.pages=16")
    assert few["system.kernel.invlpgs"] == 20 * 16 and few["system.kernel.tlb_flushes"] == 0
    many = run(virtsim_binary, tmp_path / "many.h5", "pt_update", "--set", "workload.pt_update.pages=64")
    assert many["system.kernel.invlpgs"] == 0 and many["system.kernel.tlb_flushes"] == 20


@pytest.mark.parametrize("posted", [False, True])
def test_threads_shoot_down_each_others_entries_by_ipi(virtsim_binary, tmp_path, posted):
    out = tmp_path / "t.h5"
    m = run(virtsim_binary, out, "pt_update", "--set", "system.cpus=2", "--set", "workload.threads=true",
            "--set", 'system.vmx.mode="vmx"', "--set", 'system.nested.paging="ept4"',
            "--set", f"system.vmx.posted_interrupts={'true' if posted else 'false'}",
            # No timer: every interrupt taken is a shootdown IPI (the preset's measured kernel
            # costs make the loop long enough for ticks).
            "--set", "system.kernel.timer_interval=0")
    ipis = m["system.kernel.shootdown_ipis"]
    # Each vCPU's munmap interrupts the other once per round, unless the other has already
    # stopped (it uses no TLB any more): at most the last round's IPIs are not sent.
    assert 2 * 20 - 2 <= ipis <= 2 * 20
    delivered = m["system.cpu0.interrupts"] + m["system.cpu1.interrupts"]
    assert delivered == ipis  # every IPI sent is taken
    with h5py.File(out) as f:
        exits = {row["name"].decode(): int(row["count"]) for row in f["runs/run0000/exits"][:]}
    # The ICR write exits either way; the interrupt and its EOI exit only when not posted.
    if posted:
        assert "External interrupt" not in exits
        assert exits["WRMSR"] == ipis
    else:
        assert exits["External interrupt"] == delivered
        assert exits["WRMSR"] == ipis + delivered  # ICR writes by the senders, EOIs by the receivers


def test_pcids_keep_entries_across_switches(virtsim_binary, tmp_path):
    # Four processes the timer switches between, 1 MiB each: with PCIDs each keeps one of the
    # vCPU's 6 ASIDs and its entries stay in the STLB; without, every switch flushes them.
    # (fork_and_wait would not show it: every fork flushes the parent's entries anyway.)
    shape = ("--set", "workload.footprint_kib=1024", "--set", "workload.accesses=50000",
             "--set", "system.kernel.timer_interval=20000")
    off = run(virtsim_binary, tmp_path / "off.h5", "timeshare", *shape)
    on = run(virtsim_binary, tmp_path / "on.h5", "timeshare", *shape, "--set", "system.cpu*.pcide=true")
    assert off["system.kernel.pcid_reuses"] == 0
    assert on["system.kernel.pcid_reuses"] > 0 and on["system.kernel.asid_evictions"] == 0
    assert on["walk.count"] < off["walk.count"]


def test_transparent_huge_pages_cut_the_walks(virtsim_binary, tmp_path):
    small = run(virtsim_binary, tmp_path / "s.h5", "gups")
    huge = run(virtsim_binary, tmp_path / "h.h5", "gups", "--set", "system.kernel.transparent_huge_pages=true")
    # 16 MiB of footprint, aligned: eight huge pages (faulted in before the region of
    # interest) that the TLBs hold; 4096 small pages they do not.
    assert huge["walk.count"] * 10 < small["walk.count"]


def test_a_segmentation_fault_names_the_process_and_the_record(virtsim_binary, tmp_path):
    # pointer_chase over a footprint the generator maps; a base outside the 3G/1G user space
    # under 32-bit paging is refused when the area is mapped.
    result = virtsim(virtsim_binary, "run", *SINGLE, "-o", str(tmp_path / "x.h5"), "--set", 'workload.kind="gups"',
                     "--set", 'system.kernel.paging="32bit"', "--set", "workload.base_address=3221225472", *SMALL)
    assert result.returncode == 1, result.stderr
    assert "outside the user address space of layout linux32" in result.stderr
    assert "gups generator, record 1" in result.stderr


def test_an_unknown_generator_in_the_mix_is_a_config_error(virtsim_binary, tmp_path):
    result = virtsim(virtsim_binary, "run", *SINGLE, "-o", str(tmp_path / "x.h5"), "--set", 'workload.kind="mix"',
                     "--set", 'workload.mix="gups,nope"')
    expect_error(result, "workload.mix", "unknown generator 'nope'")
    assert not (tmp_path / "x.h5").exists()


def test_two_vcpus_sharing_an_address_space_are_deterministic(virtsim_binary, tmp_path):
    args = ["--set", "system.cpus=2", "--set", "workload.threads=true"]
    a = run(virtsim_binary, tmp_path / "a.h5", "pt_update", *args)
    b = run(virtsim_binary, tmp_path / "b.h5", "pt_update", *args)
    assert a == b
    assert a["system.kernel.shootdown_ipis"] > 0


def test_the_timer_preempts_runnable_processes_and_pcids_keep_their_entries(virtsim_binary, tmp_path):
    # Four processes of 64 pages each: together within the STLB's reach, so what a switch
    # costs is what the CR3 write flushes.
    # On the model's default kernel costs (a config with no machine preset): the interval of
    # 50000 instructions is short next to a preset's measured context switch (tens of thousands
    # of dispatch slots), whose handler would overrun it.
    bare = tmp_path / "no-preset.toml"
    bare.write_text('[experiment]\ncompare = ""\n')
    args = ["--set", "workload.footprint_kib=256", "--set", "workload.accesses=50000",
            "--set", "system.kernel.timer_interval=50000", str(bare)]
    flush = run(virtsim_binary, tmp_path / "f.h5", "timeshare", *args)
    keep = run(virtsim_binary, tmp_path / "k.h5", "timeshare", *args, "--set", "system.cpu*.pcide=true")
    for m in (flush, keep):
        assert m["system.kernel.timer_interrupts"] > 4
        assert m["system.kernel.preemptions"] == m["system.kernel.timer_interrupts"]
        assert m["system.kernel.context_switches"] >= m["system.kernel.preemptions"]
    assert flush["system.kernel.pcid_reuses"] == 0 and flush["walk.count"] > 0
    assert keep["system.kernel.pcid_reuses"] == keep["system.kernel.context_switches"]
    assert keep["walk.count"] == 0


def test_timer_ticks_during_the_warm_up_do_not_preempt_before_every_process_is_set_up(virtsim_binary, tmp_path):
    # A tick every 5000 instructions falls inside the four processes' warm-up: the timer may
    # preempt only once the last one has mapped its footprint (this run used to end in a
    # segmentation fault of process 3).
    m = run(virtsim_binary, tmp_path / "t.h5", "timeshare", "--set", "system.kernel.timer_interval=5000")
    assert m["system.kernel.timer_interrupts"] > 4
    assert m["system.kernel.preemptions"] > 0
    assert m["system.kernel.context_switches"] >= m["system.kernel.preemptions"]


def test_a_vcpu_that_waits_for_each_walk_never_queues_for_a_walker(virtsim_binary, tmp_path):
    # Translation requests carry the vCPU's local time, so the MMU sees each walk start after
    # the one before it ended: nearly every access here walks, and under the blocking core,
    # which waits for each, none may wait for a walker (they all did, stamped at the start of
    # their quantum, before this was fixed). The out-of-order core (the default) overlaps
    # independent misses, so its walks may find both walkers busy.
    m = run(virtsim_binary, tmp_path / "w.h5", "gups", "--set", 'system.cpu0.core_model="blocking"')
    assert m["walk.count"] > 1000
    assert m["system.mmu0.queued_walks"] == 0
    assert m["system.mmu0.queue_cycles"] == 0
    overlapped = run(virtsim_binary, tmp_path / "o.h5", "gups")
    assert overlapped["walk.count"] == m["walk.count"]
    assert overlapped["system.mmu0.queued_walks"] > 0
