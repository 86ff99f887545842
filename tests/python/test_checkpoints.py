"""Checkpoints (docs/checkpoints.md): a run that starts from a checkpoint saved at the region of
interest reports every statistic of the run that warmed up itself (the warmed TLBs, walk caches
and caches restored with the guest state); with its microarchitectural state cold, or under other
TLB and cache sizes, it reaches the same guest state (page tables, guest memory, kernel counters,
references) and only timing moves; a bad,
truncated, other-version or other-configuration checkpoint is one error line and exit status 2,
with no result written; a sweep shares one checkpoint across its points."""
from __future__ import annotations

import json
import re
import os
import subprocess
from pathlib import Path

import pytest

ENV = dict(os.environ, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")


REPO = Path(__file__).resolve().parents[2]
TRACE = REPO / "workloads" / "samples" / "gcc.vst"


def settings_of(kind: str, mode: str) -> list[str]:
    s = ['experiment.compare=""', f'workload.kind="{kind}"', f'workload.trace.path="{TRACE}"', "workload.warmup_accesses=20000",
         "workload.accesses=20000", "workload.footprint_kib=8192", "workload.operations=40",
         "system.kernel.state_digest=true"]
    if mode.startswith("nested"):
        s += ['system.vmx.mode="vmx"', 'system.nested.paging="ept4"']
    if mode == "nested, reclaim and preemption timer":  # the hypervisor's deadlines in guest time
        s += ["system.hypervisor.reclaim_interval_cycles=200000", "system.vmx.preemption_timer_cycles=300000"]
    if mode.startswith("agile"):  # shadow tables switching to the nested dimension, a periodic look
        s += ['system.vmx.mode="vmx"', "system.shadow.enabled=true", "system.agile.enabled=true",
              'system.nested.paging="ept4"']
    if mode.startswith("shadow"):
        s += ['system.vmx.mode="svm"' if "AMD-V" in mode else 'system.vmx.mode="vmx"', "system.shadow.enabled=true"]
    if mode.startswith("paravirtual MMU"):  # the guest's tables, updated by hypercalls
        s += ['system.vmx.mode="vmx"', "system.kernel.paravirt_mmu=true"]
    if mode.startswith("binary translation"):  # shadow tables and the sites translated so far
        s += ['system.vmx.mode="none"', "system.bt.enabled=true"]
    if mode.startswith("trap-and-emulate"):  # shadow tables, the guest kernel in ring 1
        s += ['system.vmx.mode="none"', "system.trap_emulate.enabled=true"]
    if mode == "shadow, out of sync":  # guest writes to leaf tables noted, synchronized at CR3 loads
        s += ["system.shadow.out_of_sync=true"]
    if mode == "shadow, 2 MiB host pages":
        s += ['system.shadow.host_page_size="2m"', "system.kernel.transparent_huge_pages=true"]
    if mode == "native, data kept":  # every data byte in memory, so the checkpoint holds them too
        s += ["system.memory.byte_exact_data=true"]
    if ", 2 vCPUs" in mode:
        s += ["system.cpus=2"]
    if mode.endswith(", 2 vCPUs, threads"):  # threads of one process: shootdowns between the vCPUs
        s += ["workload.threads=true"]
    return s


def run(binary: Path, settings: list[str], out: Path, quiet: bool = True) -> subprocess.CompletedProcess:
    args = [str(binary), "run", "--force", "-o", str(out)] + (["-q"] if quiet else [])
    for s in settings:
        args += ["--set", s]
    return subprocess.run(args, capture_output=True, text=True, env=ENV, timeout=600)


def metrics(binary: Path, result: Path) -> dict:
    out = subprocess.run([str(binary), "stats", "--json", "--all", str(result)], capture_output=True, text=True,
                         env=ENV, check=True)
    return next(iter(json.loads(out.stdout).values()))["metrics"]


def functional(m: dict) -> dict:
    """What the guest did, which no TLB or cache decides: kernel counters and the state digest,
    the vCPU's instructions, references and page faults."""
    keep = ("instructions", "loads", "stores", "fetches", "page_faults", "kernel_instructions")
    return {k: v for k, v in m.items()
            if k.startswith("system.kernel.") or (re.match(r"system\.cpu\d+\.", k) and k.split(".")[-1] in keep)}


# A generator under native and nested paging, one with processes forking and exiting (with data
# bytes dropped and kept), one that shares a vCPU among processes by the timer, a captured
# program's trace, and two vCPUs (threads of one process updating its tables, and processes of
# their own).
CASES = [("gups", "native"), ("gups", "nested"), ("fork_and_wait", "native"), ("fork_and_wait", "native, data kept"),
         ("timeshare", "native"), ("trace", "native"), ("trace", "nested"), ("pt_update", "native, 2 vCPUs, threads"),
         ("fork_and_wait", "native, 2 vCPUs"),
         # Shadow paging: the hypervisor's shadow tables, the guest pages they follow and the
         # shadow leaves by guest page are restored with guest memory.
         ("gups", "shadow"), ("fork_and_wait", "shadow"), ("trace", "shadow"), ("fork_and_wait", "shadow, 2 vCPUs"),
         ("pt_update", "shadow, 2 vCPUs, threads"), ("fork_and_wait", "shadow, out of sync"),
         ("fork_and_wait", "shadow, 2 MiB host pages"), ("timeshare", "shadow"),
         ("fork_and_wait", "shadow, AMD-V, 2 vCPUs"),
         # The other memory virtualizations checkpoints hold: a paravirtual MMU, and the software
         # VMMs over shadow tables.
         ("fork_and_wait", "paravirtual MMU"), ("pt_update", "paravirtual MMU, 2 vCPUs, threads"),
         ("fork_and_wait", "binary translation"), ("fork_and_wait", "binary translation, 2 vCPUs"),
         ("trace", "binary translation"), ("fork_and_wait", "trap-and-emulate"),
         ("pt_update", "trap-and-emulate, 2 vCPUs, threads"),
         ("gups", "nested, reclaim and preemption timer"), ("fork_and_wait", "agile"),
         ("pt_update", "agile, 2 vCPUs, threads")]


@pytest.fixture(scope="module")
def saved(virtsim_binary, tmp_path_factory):
    """Per (workload, mode): the uninterrupted run A, the saving run B and its checkpoint."""
    d = tmp_path_factory.mktemp("ckpt")
    cases = {}
    for kind, mode in CASES:
        s = settings_of(kind, mode)
        a, b, ck = d / f"{kind}-{mode}-a.h5", d / f"{kind}-{mode}-b.h5", d / f"{kind}-{mode}.ckpt"
        assert run(virtsim_binary, s, a).returncode == 0
        r = run(virtsim_binary, s + [f'checkpoint.save="{ck}"'], b)
        assert r.returncode == 0, r.stderr
        cases[(kind, mode)] = (s, metrics(virtsim_binary, a), metrics(virtsim_binary, b), ck)
    return d, cases


@pytest.mark.parametrize("kind,mode", CASES)
def test_restored_run_reports_the_uninterrupted_runs_statistics(virtsim_binary, saved, kind, mode):
    """With the microarchitectural state saved (the default), run C from B's checkpoint reports
    every statistic of the uninterrupted run A's region of interest: nothing in them depends on
    the host's clock, so the whole set is compared."""
    d, cases = saved
    s, a, b, ck = cases[(kind, mode)]
    assert a == b, "saving a checkpoint changed the run"
    assert a["system.kernel.state_digest"] != 0
    c = d / f"{kind}-{mode}-c.h5"
    r = run(virtsim_binary, s + [f'checkpoint.load="{ck}"'], c, quiet=False)
    assert r.returncode == 0, r.stderr
    assert "virtsim: note:" not in r.stderr  # every structure restored
    mc = metrics(virtsim_binary, c)
    assert {k: (a.get(k), mc.get(k)) for k in a.keys() | mc.keys() if a.get(k) != mc.get(k)} == {}
    referenced = a["system.cpu0.loads"] + a["system.cpu0.stores"] + a["system.cpu0.fetches"]
    assert referenced > 20000
    if mode.startswith(("shadow", "binary translation", "trap-and-emulate", "agile")):
        # The region of interest builds on the restored shadow and changes it.
        assert a["system.shadow.hidden_faults"] > 0
        assert a["system.shadow.entries_zapped"] > 0 or kind in ("gups", "timeshare")  # no process ends
    if mode == "shadow, out of sync":
        assert a["system.shadow.syncs"] > 0
    if mode == "nested, reclaim and preemption timer":  # deadlines restored fall in the region as they did
        assert a["system.virt0.nested_reclaims"] > 0 and a["system.virt0.preemption_timer_exits"] > 0
    if mode.startswith("agile"):
        assert a["system.agile.switches_to_nested"] > 0
    if mode == "agile":  # the periodic look fell in the region
        assert a["system.agile.switches_to_shadow"] > 0
    if mode.startswith("binary translation"):  # (the sites the warm-up translated are not translated again)
        assert a["system.bt0.callouts"] > 0
    # The restored run ran the region of interest only: the references it reports are those of
    # the region (the kernel's beside the program's), not the warm-up's too.
    ran = int(re.search(r"\((\d+) references, warm-up included", r.stdout).group(1))
    assert ran <= referenced + a.get("system.kernel.kernel_references", 0)


@pytest.mark.parametrize("kind,mode", [("gups", "native"), ("gups", "nested"), ("fork_and_wait", "native, 2 vCPUs"),
                                       ("fork_and_wait", "shadow"), ("fork_and_wait", "binary translation, 2 vCPUs")])
def test_cold_restored_run_reaches_the_uninterrupted_runs_guest_state(virtsim_binary, saved, kind, mode):
    """checkpoint.microarchitecture = false when loading: the TLBs, walk caches and caches start
    cold; the guest does the same, only its timing moves."""
    d, cases = saved
    s, a, _, ck = cases[(kind, mode)]
    c = d / f"{kind}-{mode}-cold.h5"
    r = run(virtsim_binary, s + [f'checkpoint.load="{ck}"', "checkpoint.microarchitecture=false"], c)
    assert r.returncode == 0, r.stderr
    mc = metrics(virtsim_binary, c)
    assert functional(mc) == functional(a)
    assert mc["sim.cycles"] != a["sim.cycles"]
    assert mc["cache.llc.misses"] > a["cache.llc.misses"]


def test_checkpoint_without_microarchitecture_starts_cold(virtsim_binary, saved):
    """Saved with checkpoint.microarchitecture = false: the file holds none, so a loading run
    starts cold whatever it asks."""
    d, cases = saved
    s, a, _, _ = cases[("gups", "native")]
    ck = d / "gups-functional.ckpt"
    assert run(virtsim_binary, s + [f'checkpoint.save="{ck}"', "checkpoint.microarchitecture=false",
                                    "checkpoint.stop=true"], d / "gups-functional-b.h5").returncode == 0
    assert ck.stat().st_size < cases[("gups", "native")][3].stat().st_size
    c = d / "gups-functional-c.h5"
    r = run(virtsim_binary, s + [f'checkpoint.load="{ck}"'], c)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == (f'virtsim: note: checkpoint.load = "{ck}": saved without its TLBs, walk caches and '
                                "caches (checkpoint.microarchitecture = false): they start cold")
    mc = metrics(virtsim_binary, c)
    assert functional(mc) == functional(a) and mc["sim.cycles"] != a["sim.cycles"]


def test_other_tlb_size_starts_that_structure_cold(virtsim_binary, saved):
    """A loading run whose DTLB and LLC have other sizes: those two start cold, each with a note
    naming it, the rest is restored; the guest does the same, the timing moves."""
    d, cases = saved
    s, a, _, ck = cases[("gups", "native")]
    bigger = ["system.cpu0.dtlb.entries_4k=128", "system.llc.size_kib=4096"]
    full = d / "gups-big-a.h5"
    assert run(virtsim_binary, s + bigger, full).returncode == 0
    c = d / "gups-big-c.h5"
    r = run(virtsim_binary, s + bigger + [f'checkpoint.load="{ck}"'], c)
    assert r.returncode == 0, r.stderr
    notes = [l for l in r.stderr.splitlines() if l.startswith("virtsim: note:")]
    assert len(notes) == 2, r.stderr
    assert notes[0].startswith(f'virtsim: note: checkpoint.load = "{ck}": system.cpu0.dtlb starts cold: '
                               "the checkpoint's has 4 KiB 16x4 lru (stamps)")
    assert "this run's 4 KiB 32x4 lru (stamps)" in notes[0]
    assert "2 MiB" not in notes[0]  # only the array that differs
    assert notes[1].startswith(f'virtsim: note: checkpoint.load = "{ck}": system.llc starts cold: ')
    mc = metrics(virtsim_binary, c)
    assert functional(mc) == functional(metrics(virtsim_binary, full)) == functional(a)
    assert mc["sim.cycles"] != a["sim.cycles"]
    # The STLB and the L1 and L2 caches were restored: the STLB's first lookups hit as in run A.
    assert mc["system.cpu0.stlb.hits"] > 0


def error_of(virtsim_binary, settings, out: Path) -> str:
    r = run(virtsim_binary, settings, out)
    assert r.returncode == 2, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.startswith("virtsim: error:")]
    assert len(lines) == 1, r.stderr
    assert not out.exists()
    return lines[0]


def test_truncated_checkpoint(virtsim_binary, saved, tmp_path):
    _, cases = saved
    s, _, _, ck = cases[("gups", "native")]
    bad = tmp_path / "cut.ckpt"
    data = ck.read_bytes()
    bad.write_bytes(data[:-100])  # the header whole, the state cut short
    line = error_of(virtsim_binary, s + [f'checkpoint.load="{bad}"'], tmp_path / "r.h5")
    assert line.startswith(f'virtsim: error: checkpoint.load = "{bad}": byte ')
    assert "(compressed state): expected" in line and "truncated?" in line
    bad.write_bytes(data[:30])  # cut in the header
    line = error_of(virtsim_binary, s + [f'checkpoint.load="{bad}"'], tmp_path / "r.h5")
    assert "more bytes, the data ends after" in line and "a truncated checkpoint?" in line


def test_wrong_magic_and_version(virtsim_binary, saved, tmp_path):
    _, cases = saved
    s, _, _, ck = cases[("gups", "native")]
    data = bytearray(ck.read_bytes())
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"NOTACKPT" + data[8:])
    line = error_of(virtsim_binary, s + [f'checkpoint.load="{bad}"'], tmp_path / "r.h5")
    assert line == (f'virtsim: error: checkpoint.load = "{bad}": byte 0 (magic): expected "VSIMCKPT" '
                    "(is this a virtsim checkpoint?)")
    data[8:12] = (99).to_bytes(4, "little")
    bad.write_bytes(bytes(data))
    line = error_of(virtsim_binary, s + [f'checkpoint.load="{bad}"'], tmp_path / "r.h5")
    assert "byte 8 (format version): expected 3, found 99" in line


def test_damaged_state_is_caught_by_its_digest(virtsim_binary, saved, tmp_path):
    _, cases = saved
    s, _, _, ck = cases[("gups", "native")]
    data = bytearray(ck.read_bytes())
    data[-5] ^= 0xFF
    bad = tmp_path / "flip.ckpt"
    bad.write_bytes(bytes(data))
    line = error_of(virtsim_binary, s + [f'checkpoint.load="{bad}"'], tmp_path / "r.h5")
    assert "(compressed state)" in line or "(state digest)" in line


def test_functional_mismatch_names_the_key(virtsim_binary, saved, tmp_path):
    _, cases = saved
    s, _, _, ck = cases[("gups", "native")]
    line = error_of(virtsim_binary, s + ["system.guest_memory_mib=2048", f'checkpoint.load="{ck}"'],
                    tmp_path / "r.h5")
    assert line == (f'virtsim: error: checkpoint.load = "{ck}" was saved with system.guest_memory_mib = 1024, and '
                    "this run has 2048: a functional parameter must be the saving run's (only timing parameters "
                    "may differ)")
    line = error_of(virtsim_binary, s + ["run.seed=7", f'checkpoint.load="{ck}"'], tmp_path / "r.h5")
    assert "run.seed = 1, and this run has 7" in line


def test_shadow_checkpoint_in_a_run_of_another_memory_virtualization(virtsim_binary, saved, tmp_path):
    """A shadow-paging checkpoint loaded by a run under nested paging, or natively: refused naming
    the first functional key that differs."""
    _, cases = saved
    s, _, _, ck = cases[("fork_and_wait", "shadow")]
    nested = [x for x in s if not x.startswith("system.shadow.")] + ['system.nested.paging="ept4"']
    line = error_of(virtsim_binary, nested + [f'checkpoint.load="{ck}"'], tmp_path / "r.h5")
    assert line.startswith(f'virtsim: error: checkpoint.load = "{ck}" was saved with ')
    assert "a functional parameter must be the saving run's" in line
    _, _, _, native = cases[("fork_and_wait", "native")]
    line = error_of(virtsim_binary, s + [f'checkpoint.load="{native}"'], tmp_path / "r.h5")
    assert "was saved with system.shadow.enabled = false, and this run has true" in line \
        or "was saved with system.vmx.mode" in line


def test_unsupported_configurations_are_refused(virtsim_binary, tmp_path):
    s = settings_of("gups", "native")
    line = error_of(virtsim_binary, s + ["system.pcpus=1", f'checkpoint.save="{tmp_path / "x.ckpt"}"'],
                    tmp_path / "r.h5")
    assert "checkpoint.save: checkpoints hold no vCPU scheduler; this run has system.pcpus = 1" in line
    line = error_of(virtsim_binary, s + ["sampling.fast_forward=1000", f'checkpoint.save="{tmp_path / "x.ckpt"}"'],
                    tmp_path / "r.h5")
    assert "a detailed run, not a sampled one" in line
    shadow = ['system.vmx.mode="vmx"', "system.shadow.enabled=true"]
    line = error_of(virtsim_binary, s + shadow + ["system.hypervisor.cr3_targets=4",
                                                  f'checkpoint.save="{tmp_path / "x.ckpt"}"'], tmp_path / "r.h5")
    assert ("checkpoint.save: checkpoints hold shadow paging without a CR3-target list; this run has "
            "system.hypervisor.cr3_targets = 4") in line
    line = error_of(virtsim_binary, s + ['system.vmx.mode="vmx"', 'system.nested.paging="ept4"',
                                         "system.selective.enabled=true", f'checkpoint.save="{tmp_path / "x.ckpt"}"'],
                    tmp_path / "r.h5")
    assert ("checkpoints hold native, nested, shadow or agile paging, a paravirtual MMU, binary translation or "
            "trap-and-emulate (the others keep state of their own); this run has memory virtualization selective") in line
    assert not (tmp_path / "x.ckpt").exists()


SWEEP = """
[workload]
kind = "gups"
footprint_kib = 8192
warmup_accesses = 20000
accesses = 20000

[system.kernel]
state_digest = true
{virtualization}
[experiment]
compare = ""

[sweep]
checkpoint = {shared}
seeds = [1, 2]

[sweep.grid]
system.cpu0.dtlb.entries_4k = [32, 128]
"""


# The memory virtualization of a sweep: natively, or under shadow paging.
VIRTUALIZATIONS = {"native": "", "shadow": '\n[system.vmx]\nmode = "vmx"\n\n[system.shadow]\nenabled = true\n'}


def sweep_runs(binary: Path, tmp: Path, shared: bool, virtualization: str = "native") -> dict:
    import h5py

    config = tmp / f"sweep-{shared}.toml"
    config.write_text(SWEEP.format(shared="true" if shared else "false", virtualization=VIRTUALIZATIONS[virtualization]))
    out = tmp / f"sweep-{shared}.h5"
    r = subprocess.run([str(binary), "sweep", str(config), "-j", "1", "-q", "-o", str(out)], capture_output=True,
                       text=True, env=ENV, timeout=600)
    assert r.returncode == 0, r.stderr
    with h5py.File(out) as h:
        return {rid: {(n.decode() if isinstance(n, bytes) else n): float(v) for n, v in
                      ((row["name"], row["value"]) for row in h["runs"][rid]["metrics"][:])}
                for rid in sorted(h["runs"])}


@pytest.mark.parametrize("virtualization", VIRTUALIZATIONS)
def test_sweep_shares_one_checkpoint_per_seed(virtsim_binary, tmp_path, virtualization):
    """Two seeds by two DTLB sizes: two warm-ups (one per seed; the DTLB is timing only, and
    each warm-up runs the seed's first point, 32 entries), each point starts from its seed's
    checkpoint and does what the same point without sharing does. The 32-entry points report
    every statistic of theirs; the 128-entry ones start their DTLB cold, so it misses more (the
    cycles need not move: the interval core hides an STLB hit's latency)."""
    plain = sweep_runs(virtsim_binary, tmp_path, False, virtualization)
    shared = sweep_runs(virtsim_binary, tmp_path, True, virtualization)
    checkpoints = sorted((tmp_path / "sweep-True.h5.points").glob("checkpoint-*.ckpt"))
    assert len(checkpoints) == 2
    assert not list((tmp_path / "sweep-True.h5.points").glob("checkpoint-*.h5"))
    assert plain.keys() == shared.keys() and len(plain) == 4
    for rid in plain:
        assert functional(plain[rid]) == functional(shared[rid]), rid
        assert plain[rid]["system.cpu0.loads"] > 0
        assert (plain[rid].get("system.shadow.live_shadow_tables", 0) > 0) == (virtualization == "shadow")
    same = [rid for rid in plain if plain[rid] == shared[rid]]
    assert len(same) == 2, same
    assert all(shared[rid]["system.cpu0.dtlb.misses"] > plain[rid]["system.cpu0.dtlb.misses"]
               for rid in plain if rid not in same)
    digests = {plain[rid]["system.kernel.state_digest"] for rid in plain}
    assert len(digests) == 2  # one guest state per seed


def test_unwritable_save_path_is_refused_before_the_run(virtsim_binary, tmp_path):
    line = error_of(virtsim_binary, settings_of("gups", "native") + ['checkpoint.save="/nonexistent/dir/x.ckpt"'],
                    tmp_path / "r.h5")
    assert line.startswith('virtsim: error: checkpoint.save = "/nonexistent/dir/x.ckpt": ')
