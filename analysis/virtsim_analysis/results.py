"""Loading result files. The layout is docs/results-schema.md; this module is its reader."""
from __future__ import annotations

import json
import re
import zlib
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

SCHEMA_VERSION = 1


class SchemaError(ValueError):
    """The file is missing, corrupted, not HDF5, or not a virtsim result file of a version we read."""


USERBLOCK_BYTES = 512
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_USERBLOCK = re.compile(rb"virtsim result file\nlength (\d+)\ncrc32 ([0-9a-f]{8})\n")


def verify(path: str | Path) -> None:
    """SchemaError "<path>: corrupted result file (...)" when the length or CRC-32 that virtsim
    wrote in the file's first 512 bytes (the HDF5 userblock) no longer match its bytes: checked
    before libhdf5 reads it, which a damaged file can crash. Files from before the checksum
    (the HDF5 signature at byte 0) and files that are not result files at all pass unchecked."""
    path = Path(path)
    with path.open("rb") as f:
        block = f.read(USERBLOCK_BYTES)
        if block.startswith(_HDF5_SIGNATURE):
            return
        match = _USERBLOCK.match(block)
        if not match:
            if f.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE:
                raise SchemaError(f"{path}: corrupted result file (its first 512 bytes, the checksum header, "
                                  "are damaged)")
            return
        length, crc = int(match.group(1)), int(match.group(2), 16)
        header = f"virtsim result file\nlength {length}\ncrc32 {crc:08x}\n".encode()
        if len(block) != USERBLOCK_BYTES or block != header.ljust(USERBLOCK_BYTES, b"\0"):
            raise SchemaError(f"{path}: corrupted result file (its first 512 bytes, the checksum header, are damaged)")
        found, found_crc = 0, 0
        while chunk := f.read(1 << 20):
            found += len(chunk)
            found_crc = zlib.crc32(chunk, found_crc)
    if found != length:
        what = "truncated" if found < length else "extended"
        raise SchemaError(f"{path}: corrupted result file ({USERBLOCK_BYTES + found} bytes where it was written "
                          f"with {USERBLOCK_BYTES + length}: {what})")
    if found_crc != crc:
        raise SchemaError(f"{path}: corrupted result file (CRC-32 {found_crc:08x} where it was written with {crc:08x})")


def _text(value: Any) -> Any:
    """h5py hands variable-length strings back as bytes inside compound rows."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.dtype == object:
        return [_text(v) for v in value]
    return value


class ResultFile:
    """One open result file. Use as a context manager, or call close()."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise SchemaError(f"{self.path}: result file not found")
        if not self.path.is_file():
            raise SchemaError(f"{self.path}: not a file (expected a virtsim result file)")
        try:
            verify(self.path)
            if not h5py.is_hdf5(self.path):
                raise SchemaError(f"{self.path}: not an HDF5 file (expected a virtsim result file)")
            self._file = h5py.File(self.path, "r")
        except OSError as error:  # unreadable, or an HDF5 file cut short
            raise SchemaError(f"{self.path}: cannot read result file: {error}") from None
        try:
            version = self._file.attrs.get("schema_version")
            if version is None:
                raise SchemaError(f"{self.path}: no 'schema_version' attribute on '/'; not a virtsim result file")
            if not np.issubdtype(np.asarray(version).dtype, np.integer) or np.asarray(version).size != 1:
                raise SchemaError(f"{self.path}: 'schema_version' is {version!r}, expected an integer")
            if int(version) != SCHEMA_VERSION:
                raise SchemaError(f"{self.path}: schema version {int(version)}, this package reads version "
                                  f"{SCHEMA_VERSION}")
            if not isinstance(self._file.get("runs"), h5py.Group):
                raise SchemaError(f"{self.path}: no '/runs' group; not a virtsim result file")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "ResultFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- attributes ----------------------------------------------------------------------

    @property
    def attrs(self) -> dict[str, Any]:
        return {k: _text(v) for k, v in self._file.attrs.items()}

    @property
    def run_ids(self) -> list[str]:
        return sorted(self._file["runs"].keys())

    def _run(self, run_id: str) -> h5py.Group:
        if run_id not in self._file["runs"]:
            raise KeyError(f"{self.path}: no run '{run_id}' (runs: {', '.join(self.run_ids)})")
        return self._file["runs"][run_id]

    def run_attrs(self, run_id: str) -> dict[str, Any]:
        attrs = {k: _text(v) for k, v in self._run(run_id).attrs.items()}
        attrs["parameters"] = json.loads(attrs["parameters"])
        return attrs

    # ---- the sweep table -------------------------------------------------------------------

    @property
    def has_sweep(self) -> bool:
        return "sweep" in self._file

    def _sweep_dataset(self) -> h5py.Dataset:
        if not self.has_sweep:
            raise KeyError(f"{self.path}: no '/sweep' dataset: not a sweep result (virtsim sweep writes one)")
        return self._file["sweep"]

    @property
    def sweep_parameters(self) -> list[str]:
        """The swept fields of /sweep, in order (seed not among them)."""
        return [str(_text(p)) for p in self._sweep_dataset().attrs["parameters"]]

    def sweep(self) -> pd.DataFrame:
        """/sweep as a frame: point, run_id, status, error, seed, one column per swept parameter.
        A point that failed before simulating has run_id ''. .attrs: parameters, points, config."""
        dataset = self._sweep_dataset()
        rows = dataset[()]
        frame = pd.DataFrame({name: [_text(v) for v in rows[name]] if rows.dtype[name].kind in "OSU"
                              else rows[name] for name in rows.dtype.names})
        # Seeds are uint64 on disk but always fit int64; one integer type keeps joins simple.
        frame["point"] = frame["point"].astype(np.int64)
        frame["seed"] = frame["seed"].astype(np.int64)
        frame.attrs = {"parameters": self.sweep_parameters, "points": int(dataset.attrs.get("points", len(frame))),
                       "config": _text(dataset.attrs.get("config", ""))}
        return frame

    # ---- tables ---------------------------------------------------------------------------

    def metrics(self) -> pd.DataFrame:
        """Tidy: one row per metric per run (run_id, name, value, unit, kind)."""
        frames = []
        for run_id in self.run_ids:
            rows = self._run(run_id)["metrics"][()]
            frame = pd.DataFrame({
                "run_id": run_id,
                "name": [_text(n) for n in rows["name"]],
                "value": rows["value"].astype(float),
                "unit": [_text(u) for u in rows["unit"]],
                "kind": [_text(k) for k in rows["kind"]],
            })
            frames.append(frame)
        if not frames:
            return pd.DataFrame(columns=["run_id", "name", "value", "unit", "kind"])
        return pd.concat(frames, ignore_index=True)

    def metrics_wide(self) -> pd.DataFrame:
        """One row per run, one column per metric."""
        tidy = self.metrics()
        wide = tidy.pivot(index="run_id", columns="name", values="value")
        wide.columns.name = None
        return wide

    def vms(self) -> pd.DataFrame:
        """Tidy, per VM of runs with several (or time-shared CPUs): one row per statistic of each
        VM (run_id, vm, memory_virtualization, name, value, unit, kind), from vms/vmK; names
        are relative to the VM (cycles, shadow.hidden_faults). Runs without vms/ add no rows."""
        columns = ["run_id", "vm", "memory_virtualization", "name", "value", "unit", "kind"]
        frames = []
        for run_id in self.run_ids:
            run = self._run(run_id)
            if "vms" not in run:
                continue
            for key, group in run["vms"].items():
                rows = group["metrics"][()]
                frames.append(pd.DataFrame({
                    "run_id": run_id,
                    "vm": int(key[len("vm"):]),
                    "memory_virtualization": _text(group.attrs["memory_virtualization"]),
                    "name": [_text(n) for n in rows["name"]],
                    "value": rows["value"].astype(float),
                    "unit": [_text(u) for u in rows["unit"]],
                    "kind": [_text(k) for k in rows["kind"]],
                }))
        if not frames:
            return pd.DataFrame(columns=columns)
        return pd.concat(frames, ignore_index=True).sort_values(["run_id", "vm"], kind="stable",
                                                                ignore_index=True)

    def exits(self) -> pd.DataFrame:
        columns = ["run_id", "mode", "code", "name", "count", "cycles"]
        frames = []
        for run_id in self.run_ids:
            rows = self._run(run_id)["exits"][()]
            if len(rows) == 0:
                continue
            frames.append(pd.DataFrame({
                "run_id": run_id,
                "mode": [_text(m) for m in rows["mode"]],
                "code": rows["code"].astype(np.int64),
                "name": [_text(n) for n in rows["name"]],
                "count": rows["count"].astype(np.uint64),
                "cycles": rows["cycles"].astype(np.uint64),
            }))
        if not frames:
            return pd.DataFrame({c: pd.Series(dtype=t) for c, t in
                                 zip(columns, [str, str, np.int64, str, np.uint64, np.uint64])})
        return pd.concat(frames, ignore_index=True)[columns]

    def timeline(self, run_id: str | None = None) -> pd.DataFrame:
        """Periodic dumps: run_id, cycle, then one column per statistic."""
        frames = []
        for rid in [run_id] if run_id else self.run_ids:
            run = self._run(rid)
            dataset = run["timeline"]
            # The names are the dataset's "columns" attribute, or past 4000 columns (HDF5 caps an
            # attribute at 64 KiB) the timeline_columns dataset beside it.
            names = dataset.attrs["columns"] if "columns" in dataset.attrs else run["timeline_columns"][()]
            frame = pd.DataFrame(dataset[()], columns=_text(names))
            frame.insert(0, "run_id", rid)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    # ---- distributions ------------------------------------------------------------------

    def _stat(self, run_id: str, name: str, kind: str) -> h5py.Dataset:
        stats = self._run(run_id)["stats"]
        if name not in stats:
            raise KeyError(f"{self.path}: run '{run_id}' has no statistic '{name}'")
        dataset = stats[name]
        if _text(dataset.attrs["kind"]) != kind:
            raise KeyError(f"{self.path}: statistic '{name}' is a {_text(dataset.attrs['kind'])}, not a {kind}")
        return dataset

    @staticmethod
    def _histogram_frame(dataset: h5py.Dataset) -> pd.DataFrame:
        counts = dataset[()]
        low, width = float(dataset.attrs["low"]), float(dataset.attrs["width"])
        edges = low + width * np.arange(len(counts) + 1)
        frame = pd.DataFrame({"bucket_low": edges[:-1], "bucket_high": edges[1:], "count": counts})
        frame.attrs = {k: _text(v) for k, v in dataset.attrs.items()}
        return frame

    def histogram(self, run_id: str, name: str) -> pd.DataFrame:
        """Buckets as rows; under/overflow, samples, mean... in the frame's .attrs."""
        return self._histogram_frame(self._stat(run_id, name, "histogram"))

    def vector(self, run_id: str, name: str) -> pd.Series:
        dataset = self._stat(run_id, name, "vector")
        return pd.Series(dataset[()], index=_text(dataset.attrs["labels"]), name=name)

    def matrix(self, run_id: str, name: str) -> pd.DataFrame:
        dataset = self._stat(run_id, name, "matrix")
        return pd.DataFrame(dataset[()], index=_text(dataset.attrs["row_labels"]),
                            columns=_text(dataset.attrs["column_labels"]))

    def walk(self, run_id: str, which: str) -> pd.DataFrame:
        """The well-known walk statistics behind the walks/ links: refs_per_walk, walk_cycles, ref_grid."""
        walks = self._run(run_id).get("walks")
        if walks is None or which not in walks:
            raise KeyError(f"{self.path}: run '{run_id}' has no walks/{which}")
        dataset = walks[which]
        if _text(dataset.attrs["kind"]) == "matrix":
            return pd.DataFrame(dataset[()], index=_text(dataset.attrs["row_labels"]),
                                columns=_text(dataset.attrs["column_labels"]))
        return self._histogram_frame(dataset)


def load(path: str | Path) -> ResultFile:
    """Open a result file, checking that it is one this package can read."""
    return ResultFile(path)
