"""One name per exit reason across VT-x and AMD-V.

A result file's exits table names each reason as its vendor's manual does: VMX basic exit
reasons ("Exception or NMI", "EPT violation") and SVM exit codes ("EXCEPTION_14", "NPF"), and
splits shadow paging's #PF exits by how the hypervisor handled them ("... (#PF: hidden fault)").
common_reason(mode, code, name) gives the name figures and tables use for both vendors."""
from __future__ import annotations

import re

PAGE_FAULT = "page fault (#PF)"

# VMX basic exit reasons (Intel SDM vol. 3, appendix C) whose common name differs from the manual's.
_VMX = {
    0: "exception or NMI", 1: "external interrupt", 2: "triple fault", 3: "INIT signal", 4: "start-up IPI",
    5: "SMI", 6: "SMI", 7: "interrupt window", 8: "NMI window", 9: "task switch", 18: "hypercall",
    28: "control-register access", 29: "debug-register access", 30: "I/O instruction", 31: "MSR access",
    32: "MSR access", 33: "VM-entry failure", 34: "VM-entry failure", 37: "monitor trap flag",
    41: "VM-entry failure", 43: "TPR below threshold", 44: "APIC access", 45: "virtualized EOI",
    46: "descriptor-table access", 47: "descriptor-table access", 48: "nested page fault",
    49: "nested paging misconfiguration", 52: "preemption timer", 56: "APIC write",
    62: "page-modification log full",
}

# SVM exit codes (AMD APM vol. 2, appendix C) whose common name differs from the manual's.
_SVM = {
    0x060: "external interrupt", 0x061: "NMI", 0x062: "SMI", 0x063: "INIT signal", 0x064: "interrupt window",
    0x065: "control-register access", 0x074: "IRET", 0x075: "software interrupt", 0x07B: "I/O instruction",
    0x07C: "MSR access", 0x07D: "task switch", 0x07F: "triple fault", 0x081: "hypercall",
    0x08C: "MWAIT", 0x400: "nested page fault", -1: "VM-entry failure",
}
_SVM.update({code: "control-register access" for code in range(0x000, 0x020)})
_SVM.update({code: "debug-register access" for code in range(0x020, 0x040)})
_SVM.update({code: "descriptor-table access" for code in range(0x066, 0x06E)})

# Exception vectors by mnemonic (SDM vol. 3, table 6-1); an SVM exception exit's code is 0x40 + vector.
_VECTORS = {0: "#DE", 1: "#DB", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD", 7: "#NM", 8: "#DF", 10: "#TS",
            11: "#NP", 12: "#SS", 13: "#GP", 16: "#MF", 17: "#AC", 18: "#MC", 19: "#XM", 20: "#VE"}

# "<manual name> (#PF: <handling>)": a shadow-paging #PF exit by what the hypervisor did.
_HANDLING = re.compile(r" \(#PF: (?P<handling>[^)]+)\)$")


def common_reason(mode: str, code: int, name: str) -> str:
    """The vendor-neutral name of one exits row (mode 'vmx' or 'svm', its code and manual name)."""
    handled = _HANDLING.search(name)
    if handled:
        return f"#PF: {handled['handling']}"
    if mode == "svm":
        if 0x040 <= code < 0x060:
            vector = code - 0x040
            return PAGE_FAULT if vector == 14 else f"exception {_VECTORS.get(vector, f'vector {vector}')}"
        return _SVM.get(code, name)
    if mode == "vmx":
        return _VMX.get(code, name)
    return name


# The order reasons take in legends and stacks: the memory-virtualization ones first, then by kind.
REASON_ORDER = [
    "#PF: hidden fault", "#PF: guest fault reflected", "#PF: page-table write emulated",
    "#PF: page unprotected and instruction retried", PAGE_FAULT,
    "nested page fault", "nested paging misconfiguration", "control-register access", "INVLPG", "INVPCID",
    "exception or NMI", "external interrupt", "NMI", "interrupt window", "I/O instruction", "MSR access",
    "hypercall", "CPUID", "HLT", "PAUSE", "RDTSC", "RDTSCP", "XSETBV", "debug-register access",
    "descriptor-table access", "APIC access", "APIC write", "task switch", "triple fault", "VM-entry failure",
]


def reason_rank(reason: str) -> tuple[int, str]:
    """Sort key: REASON_ORDER, then any other reason alphabetically."""
    return (REASON_ORDER.index(reason), "") if reason in REASON_ORDER else (len(REASON_ORDER), reason)
