"""Words for the keys and values figures show: parameters, modes, workloads, presets, sizes
and metrics, in place of the config keys (unknown ones are shown as they are)."""
from __future__ import annotations

import re

PARAMETERS = {
    "memory_virtualization": "memory virtualization",
    "workload.kind": "workload",
    "machine.preset": "machine",
    "system.nested.page_size": "nested page size",
    "system.shadow.host_page_size": "host page size",
    "run_id": "run",
    "seed": "seed",
}

MODES = {
    "native": "native", "shadow": "shadow paging", "shadow_2m": "shadow paging, 2 MiB host pages",
    "nested": "nested paging", "nested_2m": "nested paging, 2 MiB pages", "nested_1g": "nested paging, 1 GiB pages",
    "paravirt": "paravirtual MMU", "bt": "binary translation",
    "selective": "selective (shadow or nested at run time)",
    "agile": "agile paging",
    "trap_emulate": "trap-and-emulate",
    "nested_ept": "L2 guest, nested EPT", "nested_ept_trap_vmcs": "L2 guest, nested EPT, no VMCS shadowing",
    "shadow_on_ept": "L2 guest, shadow-on-EPT", "shadow_on_ept_trap_vmcs": "L2 guest, shadow-on-EPT, no VMCS shadowing",
}

WORKLOADS = {
    "gups": "GUPS", "stream": "STREAM", "pointer_chase": "pointer chase", "fork_and_wait": "fork and wait",
    "syscall_loop": "system-call loop", "pt_update": "page-table updates", "io_loop": "I/O loop",
    "kernel_build": "kernel build", "idle": "idle", "mix": "mix", "timeshare": "time sharing",
}

PRESETS = {
    "prescott": "Prescott", "merom": "Merom", "penryn": "Penryn", "nehalem": "Nehalem", "westmere": "Westmere",
    "sandybridge": "Sandy Bridge", "skylake": "Skylake", "skylake-sp": "Skylake-SP", "barcelona": "Barcelona",
    "shanghai": "Shanghai", "zen2": "Zen 2", "bhargava2008": "Bhargava et al. 2008",
}

METRICS = {
    "sim.cycles": "simulated cycles", "sim.instructions": "instructions", "sim.seconds": "simulated time",
    "exits.total": "VM exits", "exits.cycles": "cycles in VM exits", "walk.cycles_per_walk": "cycles per walk",
    "walk.refs_per_walk": "references per walk", "tlb.l1d.misses": "L1 DTLB misses",
    "cache.llc.misses": "LLC misses",
}

_SIZE = re.compile(r"^(\d+)([kmg])$")
_UNITS = {"k": "KiB", "m": "MiB", "g": "GiB"}


def parameter(name: str) -> str:
    return PARAMETERS.get(name, name)


def metric(name: str) -> str:
    return METRICS.get(name, name)


def value(name: str, value: object) -> str:
    """A swept value in words: 'gups' -> 'GUPS', '2m' -> '2 MiB', 'zen2' -> 'Zen 2'."""
    text = str(value)
    if name == "memory_virtualization":
        return MODES.get(text, text)
    if name == "workload.kind":
        return WORKLOADS.get(text, text)
    if name == "machine.preset":
        return PRESETS.get(text, text)
    size = _SIZE.match(text)
    if size and name.endswith("page_size"):
        return f"{size[1]} {_UNITS[size[2]]}"
    return text


def setting(names, values) -> str:
    """Several columns' values in words, joined; page sizes that agree (zipped nested and host
    page sizes both 4 KiB) are shown once, as '4 KiB pages'."""
    words, sizes = [], []
    for name, item in zip(names, values):
        (sizes if name.endswith("page_size") else words).append(value(name, item))
    sizes = list(dict.fromkeys(sizes))
    if len(sizes) == 1:
        words.append(f"{sizes[0]} pages")
    else:
        words += sizes
    return ", ".join(dict.fromkeys(words))


def dimension(names) -> str:
    """A title for columns shown together ('nested page size' and 'host page size' -> 'page size')."""
    names = list(names)
    if names and all(n.endswith("page_size") for n in names) and len(names) > 1:
        return "page size"
    return ", ".join(parameter(n) for n in names)
