"""The colours every figure uses: one per memory-virtualization mode and one per exit reason
(the common names of exit_reasons.py), the same in every figure; and the paper sizes figures
are drawn at."""
from __future__ import annotations

import zlib

# Paper sizes (inches) and resolution: a single-column and a double-column figure of a
# two-column paper, saved at 300 dpi.
SINGLE_COLUMN = 3.5
DOUBLE_COLUMN = 7.0
DPI = 300
FONT_SIZE = 7.0  # points; the size of a paper's figure text

# Okabe and Ito's colour-blind-safe palette for the modes: nested paging in blues, shadow
# paging in oranges, native in grey.
MODE_COLOURS = {
    "native": "#666666",
    "shadow": "#E69F00",
    "shadow_2m": "#D55E00",
    "nested": "#0072B2",
    "nested_2m": "#56B4E9",
    "nested_1g": "#009E73",
    "paravirt": "#CC79A7",
    "bt": "#8C6D31",
    "selective": "#332288",
    "agile": "#882255",  # Paul Tol's wine: shadow and nested in one walk
    "trap_emulate": "#F0E442",
    # Paul Tol's dark blues and browns for the L2 guests (nested EPT, shadow-on-EPT).
    "nested_ept": "#004488",
    "nested_ept_trap_vmcs": "#6699CC",
    "shadow_on_ept": "#994455",
    "shadow_on_ept_trap_vmcs": "#EE99AA",
}

# Paul Tol's muted and bright schemes, one colour per reason; the #PF handlings in warm tones.
REASON_COLOURS = {
    "#PF: hidden fault": "#CC3311",
    "#PF: guest fault reflected": "#EE7733",
    "#PF: page-table write emulated": "#DDAA33",
    "#PF: page unprotected and instruction retried": "#EE8866",
    "page fault (#PF)": "#CC6677",
    "nested page fault": "#0077BB",
    "nested paging misconfiguration": "#33BBEE",
    "control-register access": "#009988",
    "INVLPG": "#117733",
    "INVPCID": "#44AA99",
    "exception or NMI": "#882255",
    "external interrupt": "#999933",
    "NMI": "#AA4499",
    "interrupt window": "#DDCC77",
    "I/O instruction": "#332288",
    "MSR access": "#EE3377",
    "hypercall": "#88CCEE",
    "CPUID": "#661100",
    "HLT": "#6699CC",
    "PAUSE": "#AA4466",
    "RDTSC": "#BBBBBB",
}

# Colours for modes and reasons not listed above, picked by a checksum of the name so that a
# name gets the same one in every figure and every session.
_SPARE = ["#4477AA", "#228833", "#CCBB44", "#AA3377", "#66CCEE", "#BB5566", "#004488", "#997700", "#994455",
          "#6699CC", "#EE99AA", "#555555"]

# Line styles and bar hatches for a second dimension drawn in the same colour (e.g. page sizes).
LINE_STYLES = ["-", "--", ":", "-."]
HATCHES = ["", "////", "....", "xxxx"]


def _spare(name: str) -> str:
    return _SPARE[zlib.crc32(name.encode()) % len(_SPARE)]


def mode_colour(mode: str) -> str:
    return MODE_COLOURS.get(mode) or _spare(mode)


def reason_colour(reason: str) -> str:
    return REASON_COLOURS.get(reason) or _spare(reason)


def style() -> dict:
    """matplotlib rc settings for paper-sized figures (use with matplotlib.rc_context)."""
    return {"font.size": FONT_SIZE, "axes.titlesize": FONT_SIZE, "axes.labelsize": FONT_SIZE,
            "xtick.labelsize": FONT_SIZE - 0.5, "ytick.labelsize": FONT_SIZE - 0.5, "legend.fontsize": FONT_SIZE - 0.5,
            "legend.title_fontsize": FONT_SIZE, "figure.titlesize": FONT_SIZE + 1, "axes.linewidth": 0.6,
            "xtick.major.width": 0.6, "ytick.major.width": 0.6, "lines.linewidth": 1.2, "lines.markersize": 3.5,
            "hatch.linewidth": 0.6, "savefig.dpi": DPI, "svg.fonttype": "none", "pdf.fonttype": 42,
            "svg.hashsalt": "virtsim"}  # fixed ids in SVG files: the same figure, the same bytes
