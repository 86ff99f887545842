"""Remakes the damaged traces of this folder from one good one (run from this folder, with
VIRTSIM_BIN naming the virtsim binary): each is good.vst with one defect, as the cases in
tests/bad_input/trace.toml describe. The layout is docs/trace-format.md's."""
import os
import subprocess
import zlib

virtsim = os.environ.get("VIRTSIM_BIN", "../../../../build/apps/virtsim")
subprocess.run([virtsim, "trace", "gen", "-o", "good.vst", "--force", "--pattern", "stream", "--accesses", "40000",
                "--footprint-kib", "64"], check=True, stdout=subprocess.DEVNULL)
good = open("good.vst", "rb").read()


def u32(data, at):
    return int.from_bytes(data[at:at + 4], "little")


def blocks(data):
    """Offsets of the block headers, then of the trailer."""
    offsets, at = [], 16
    while True:
        offsets.append(at)
        if u32(data, at) == 0:
            return offsets
        at += 16 + u32(data, at)


def fix_checksums(data):
    """The blocks' and the trailer's checksums as a writer sets them."""
    data = bytearray(data)
    offsets = blocks(data)
    trailer = zlib.crc32(data[:16])
    for at in offsets[:-1]:
        crc = zlib.crc32(data[at + 16:at + 16 + u32(data, at)], zlib.crc32(data[at:at + 12]))
        data[at + 12:at + 16] = crc.to_bytes(4, "little")
        trailer = zlib.crc32(data[at + 12:at + 16], trailer)
    end = offsets[-1]
    data[end + 20:end + 24] = zlib.crc32(data[end:end + 20], trailer).to_bytes(4, "little")
    return bytes(data)


offsets = blocks(good)
assert len(offsets) == 5, offsets  # four blocks and the trailer
files = {
    "cut.vst": good[:offsets[2]],                      # a killed writer: cut at a block boundary
    "flipped.vst": good[:offsets[1] + 50] + bytes([good[offsets[1] + 50] ^ 0x08]) + good[offsets[1] + 51:],
    "no-trailer-end.vst": good[:-10],                  # cut inside the trailer
    "appended.vst": good + b"junk",                    # data after the trailer
    "bad-magic.vst": b"PK\x03\x04" + good[4:],
    "version-7.vst": good[:8] + (7).to_bytes(2, "little") + good[10:],
    "short-header.vst": good[:10],
}
empty = bytearray(good)
empty[offsets[1] + 8:offsets[1] + 12] = bytes(4)       # a block whose header says 0 records
files["empty-block.vst"] = fix_checksums(empty)
counted = bytearray(good)
counted[offsets[-1] + 4:offsets[-1] + 12] = (84003).to_bytes(8, "little")  # one record more than there are
files["miscounted.vst"] = fix_checksums(counted)
# Version 1: a 12-byte block header (no checksum), no trailer, and a block of no records.
frame = subprocess.run(["zstd", "-q", "-c", "--no-check"], input=bytes([0x06, 0x07]), capture_output=True,
                       check=True).stdout
v1 = b"VSTRACE\0" + (1).to_bytes(2, "little") + bytes(6)
files["v1-empty-block.vst"] = v1 + len(frame).to_bytes(4, "little") + (2).to_bytes(4, "little") + bytes(4) + frame
for name, data in files.items():
    with open(name, "wb") as f:
        f.write(data)


def varints(*values):
    out = bytearray()
    for v in values:
        while v >= 0x80:
            out.append(v & 0x7f | 0x80)
            v >>= 7
        out.append(v)
    return bytes(out)


def one_block_trace(version, records, count):
    """A trace of one block holding `records` (`count` of them), its checksums right."""
    frame = subprocess.run(["zstd", "-q", "-c", "--no-check", f"--stream-size={len(records)}"], input=records,
                           capture_output=True, check=True).stdout
    head = b"VSTRACE\0" + version.to_bytes(2, "little") + bytes(6)
    block = len(frame).to_bytes(4, "little") + len(records).to_bytes(4, "little") + count.to_bytes(4, "little")
    trailer = bytes(4) + count.to_bytes(8, "little") + (1).to_bytes(8, "little") + bytes(4)
    return fix_checksums(head + block + bytes(4) + frame + trailer)


# Version 3's records: `switch 1`, then one bad or cut record (docs/trace-format.md, "Records").
switch = bytes([0x16]) + varints(1)
mmap = bytes([0x13]) + varints(1, 0x10000000, 8192, 1)  # pid, address, length, prot
new_records = {
    "mmap-unknown-flags.vst": (3, switch + mmap + varints(4), 2),
    "mmap-file-zero.vst": (3, switch + mmap + varints(1, 0, 0), 2),
    "mmap-unaligned-offset.vst": (3, switch + mmap + varints(1, 2, 100), 2),
    "mprotect-in-version-2.vst": (2, switch + bytes([0x17]) + varints(1, 0x10000000, 4096, 1), 2),
    "mremap-cut-short.vst": (3, switch + bytes([0x18]) + varints(1, 0x10000000, 4096), 2),
    "pte-write-in-version-3.vst": (3, switch + bytes([0x19]) + varints(1, 0x10000000, 0, 0x20), 2),
    "pte-write-cut-short.vst": (4, switch + bytes([0x19]) + varints(1, 0x10000000), 2),
    # Version 5's syscall record: number, bytes, object (a byte), flags, buffer.
    "syscall-unknown-object.vst": (5, switch + bytes([0x08]) + varints(0, 64) + bytes([7]) + varints(0, 0x1000), 2),
    "syscall-unknown-flags.vst": (5, switch + bytes([0x08]) + varints(232, 0) + bytes([4]) + varints(6, 0), 2),
    "syscall-cut-short.vst": (5, switch + bytes([0x08]) + varints(0, 64), 2),
}
for name, (version, records, count) in new_records.items():
    with open(name, "wb") as f:
        f.write(one_block_trace(version, records, count))

