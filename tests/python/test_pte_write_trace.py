"""A trace's pte_write records drive shadow paging's write traps directly: each rewrites a guest
page-table entry in place, a write into a write-protected guest table that the hypervisor sees."""
from __future__ import annotations

import json
import subprocess
import zlib
from pathlib import Path

from test_cli import SINGLE, virtsim

HEAP = 0x10000000
PAGES = 4


def varint(v: int) -> bytes:
    out = bytearray()
    while True:
        byte = v & 0x7F
        v >>= 7
        out.append(byte | (0x80 if v else 0))
        if not v:
            return bytes(out)


def trace_v4(path: Path, records: bytes, count: int) -> Path:
    """One block and the trailer, with their checksums, as docs/trace-format.md lays them out."""
    raw = path.with_suffix(".raw")
    raw.write_bytes(records)
    frame = subprocess.run(["zstd", "-q", "-c", str(raw)], capture_output=True, check=True).stdout
    header = b"VSTRACE\0" + (4).to_bytes(2, "little") + bytes(6)
    sizes = len(frame).to_bytes(4, "little") + len(records).to_bytes(4, "little") + count.to_bytes(4, "little")
    block_crc = zlib.crc32(frame, zlib.crc32(sizes)).to_bytes(4, "little")
    trailer = bytes(4) + count.to_bytes(8, "little") + (1).to_bytes(8, "little")
    trailer += zlib.crc32(trailer, zlib.crc32(block_crc, zlib.crc32(header))).to_bytes(4, "little")
    path.write_bytes(header + sizes + block_crc + frame + trailer)
    return path


def program(pte_writes: int) -> tuple[bytes, int]:
    """Process 1 maps and writes PAGES pages, then the kernel clears the accessed bits of the
    first `pte_writes` of them."""
    records = [bytes([0x16]) + varint(1), bytes([0x06]),
               bytes([0x13]) + varint(1) + varint(HEAP) + varint(PAGES * 4096) + varint(3) + varint(0)]
    previous = 0
    for i in range(PAGES):
        address = HEAP + i * 4096
        records.append(bytes([0x03, 8]) + varint((address - previous) << 1))  # zigzag of a positive delta
        previous = address
    records += [bytes([0x19]) + varint(1) + varint(HEAP + i * 4096) + varint(0) + varint(0x20) for i in range(pte_writes)]
    records.append(bytes([0x07]))
    return b"".join(records), len(records)


def shadow_metrics(binary, tmp_path: Path, name: str, pte_writes: int) -> dict:
    trace = trace_v4(tmp_path / f"{name}.vst", *program(pte_writes))
    out = tmp_path / f"{name}.h5"
    run = virtsim(binary, "run", *SINGLE, "-o", str(out), "-q", "--set", 'workload.kind="trace"',
                  "--set", f'workload.trace.path="{trace}"', "--set", 'system.vmx.mode="vmx"',
                  "--set", "system.shadow.enabled=true", "--set", "system.shadow.check=true")
    assert run.returncode == 0, run.stderr
    return json.loads(virtsim(binary, "stats", str(out), "--json", "--all").stdout)["run0000"]["metrics"]


def test_each_pte_write_record_is_a_trapped_guest_page_table_write(virtsim_binary, tmp_path):
    without = shadow_metrics(virtsim_binary, tmp_path, "plain", 0)
    with_writes = shadow_metrics(virtsim_binary, tmp_path, "aged", 2)
    for stat in ("system.shadow.guest_writes_seen", "system.shadow.writes_emulated", "system.virt0.page_fault_exits"):
        assert with_writes[stat] - without[stat] == 2, stat
    cat = virtsim(virtsim_binary, "trace", "cat", str(tmp_path / "aged.vst"))
    assert cat.returncode == 0, cat.stderr
    assert f"pte_write pid 1 {HEAP:#x} set 0x0 clear 0x20" in cat.stdout


def test_a_run_of_pte_writes_floods_the_shadow_page(virtsim_binary, tmp_path):
    """Writes in a row to one shadowed table page, none of its entries used between them: the
    hypervisor zaps the shadow page (KVM's write-flooding detection, here at the second record's
    write) and the later writes are no longer trapped."""
    flooded = shadow_metrics(virtsim_binary, tmp_path, "flooded", PAGES)
    two = shadow_metrics(virtsim_binary, tmp_path, "two", 2)
    assert flooded["system.shadow.flood_zaps"] == two["system.shadow.flood_zaps"] == 1
    assert flooded["system.shadow.writes_emulated"] == two["system.shadow.writes_emulated"]
    assert flooded["system.shadow.guest_writes_seen"] == two["system.shadow.guest_writes_seen"]
