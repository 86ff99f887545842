"""Against a real single-node Slurm cluster started on localhost (the session's `slurm_cluster`
fixture, scripts/slurm-local): first that the cluster runs a job array and a dependent job as any
Slurm does, then `virtsim sweep --backend slurm`, whose job array simulates the points and whose
dependent job merges them, giving the very result file that the local backend gives."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import h5py
import pytest

REPO = Path(__file__).resolve().parents[2]
SLURM_LOCAL = REPO / "scripts" / "slurm-local"
SWEEP = REPO / "tests" / "python" / "data" / "sweep-slurm.toml"
POINTS = 4  # sweep-slurm.toml: 2 memory virtualizations x 2 seeds


def run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out, err = (x.decode(errors="replace") if isinstance(x, bytes) else x or "" for x in (e.stdout, e.stderr))
        pytest.fail(f"{' '.join(args)} did not finish in {timeout} s\nstdout:\n{out}\nstderr:\n{err}")


def diagnose(result: subprocess.CompletedProcess, cluster: dict[str, str]) -> str:
    """The command's output and, to see why, the cluster's queue, node and daemon logs."""
    conf = Path(cluster["SLURM_CONF"])
    lines = [f"$ {' '.join(result.args)}  -> exit {result.returncode}", "stdout:", result.stdout,
             "stderr:", result.stderr]
    env = dict(os.environ, **cluster)
    for cmd in (["squeue"], ["sinfo", "-N", "-l"]):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=10)
            lines += [f"$ {' '.join(cmd)}", out.stdout + out.stderr]
        except subprocess.TimeoutExpired:
            lines.append(f"$ {' '.join(cmd)}: timed out")
    for log in ("slurmctld.log", "slurmd.log"):
        path = conf.parent / "log" / log
        if path.is_file():
            lines += [f"--- last lines of {path}"] + path.read_text(errors="replace").splitlines()[-15:]
    return "\n".join(lines)


def text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# Host timing, not simulation results: the only metrics that may differ between two runs.
def simulated_metrics(run: h5py.Group) -> dict[str, float]:
    return {text(row["name"]): float(row["value"]) for row in run["metrics"][:]
            if "wall" not in text(row["name"]) and "per_second" not in text(row["name"])}


def test_cluster_runs_a_job_array_and_a_dependent_merge_job(slurm_cluster, tmp_path):
    env = dict(os.environ, **slurm_cluster)
    array = run(["sbatch", "--parsable", "--array=0-3", "--wrap",
                 'echo "$SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_ID" > out.$SLURM_ARRAY_TASK_ID'], env, tmp_path, 30)
    assert array.returncode == 0, diagnose(array, slurm_cluster)
    array_id = array.stdout.strip().split(";")[0]
    assert array_id.isdigit(), array.stdout
    # The merge job may start only after every task ended; --wait returns its exit status.
    merge = run(["sbatch", "--parsable", "--wait", f"--dependency=afterany:{array_id}", "--wrap",
                 "cat out.0 out.1 out.2 out.3 > merged"], env, tmp_path, 90)
    assert merge.returncode == 0, diagnose(merge, slurm_cluster)
    assert merge.stdout.strip().split(";")[0] != array_id
    assert (tmp_path / "merged").read_text() == "".join(f"{array_id} {i}\n" for i in range(4))


@pytest.fixture(scope="module")
def slurm_and_local_sweeps(slurm_cluster, virtsim_binary, tmp_path_factory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("sweep-slurm")
    env = dict(os.environ, **slurm_cluster, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")
    out = work / "OUT.h5"
    result = run([str(virtsim_binary), "sweep", str(SWEEP), "--backend", "slurm", "--wait", "-o", str(out)],
                 env, work, 180)
    assert result.returncode == 0, diagnose(result, slurm_cluster)
    local = work / "LOCAL.h5"
    result = run([str(virtsim_binary), "sweep", str(SWEEP), "-j", "2", "-o", str(local)], env, work, 180)
    assert result.returncode == 0, f"local sweep failed:\n{result.stdout}\n{result.stderr}"
    return out, local


def test_slurm_sweep_writes_a_run_per_point(slurm_and_local_sweeps):
    out, _ = slurm_and_local_sweeps
    with h5py.File(out) as f:
        assert "/sweep" in f, f"{out} has no /sweep table: {list(f.keys())}"
        table = f["/sweep"][:]
        assert len(table) == POINTS
        assert [int(r["point"]) for r in table] == list(range(POINTS))
        assert [text(r["status"]) for r in table] == ["ok"] * POINTS, [text(r["error"]) for r in table]
        assert sorted(f["/runs"].keys()) == [f"run{i:04d}" for i in range(POINTS)]
        assert {text(r["run_id"]) for r in table} == set(f["/runs"].keys())


def test_slurm_sweep_equals_the_local_sweep(slurm_and_local_sweeps):
    out, local = slurm_and_local_sweeps
    with h5py.File(out) as s, h5py.File(local) as l:
        assert s["/sweep"].dtype.names == l["/sweep"].dtype.names
        columns = list(s["/sweep"].dtype.names)
        assert ([tuple(text(r[c]) for c in columns) for r in s["/sweep"][:]]
                == [tuple(text(r[c]) for c in columns) for r in l["/sweep"][:]])
        assert sorted(s["/runs"].keys()) == sorted(l["/runs"].keys())
        for name in s["/runs"]:
            slurm_metrics, local_metrics = simulated_metrics(s["/runs"][name]), simulated_metrics(l["/runs"][name])
            assert slurm_metrics, f"{name}: no metrics"
            assert slurm_metrics == local_metrics, (
                f"{name}: metrics differ: "
                f"{ {k: (v, local_metrics.get(k)) for k, v in slurm_metrics.items() if local_metrics.get(k) != v} }")


def test_slurm_sweep_keeps_the_jobs_logs_with_its_points(slurm_and_local_sweeps):
    """The batch scripts' #SBATCH --output puts each task's and the merge job's log in
    OUT.h5.points/, not in the directory it was submitted from."""
    out, _ = slurm_and_local_sweeps
    points = Path(f"{out}.points")
    stray = sorted(p.name for p in out.parent.glob("slurm-*.out"))
    assert not stray, f"job logs in {out.parent} instead of {points}: {stray}"
    logs = sorted(p.name for p in points.glob("*.out"))
    assert len(logs) == POINTS + 1, f"expected a log per task and the merge job's in {points}: {logs}"


def test_slurm_tasks_can_each_run_several_points(slurm_cluster, virtsim_binary, slurm_and_local_sweeps,
                                                 tmp_path):
    """--points-per-task 3: the 4 points in 2 array tasks (one runs 3, the other 1), merged into
    the same result as one point per task."""
    env = dict(os.environ, **slurm_cluster, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")
    out = tmp_path / "GROUPED.h5"
    result = run([str(virtsim_binary), "sweep", str(SWEEP), "--backend", "slurm", "--points-per-task", "3", "--wait",
                  "-o", str(out)], env, tmp_path, 180)
    assert result.returncode == 0, diagnose(result, slurm_cluster)
    assert "4 points in 2 tasks" in result.stdout
    points = Path(f"{out}.points")
    assert (points / "tasks.txt").read_text().split() == ["0", "1", "2", "3"]
    task_logs = sorted(p.name for p in points.glob("slurm-*_*.out"))
    assert len(task_logs) == 2, task_logs
    _, local = slurm_and_local_sweeps
    with h5py.File(out) as s, h5py.File(local) as l:
        assert [text(r["status"]) for r in s["/sweep"][:]] == ["ok"] * POINTS
        for name in l["/runs"]:
            assert simulated_metrics(s["/runs"][name]) == simulated_metrics(l["/runs"][name]), name


def test_slurm_sweep_takes_a_relative_config_path(slurm_cluster, virtsim_binary, tmp_path):
    """The batch scripts name the config by its absolute path; the plan the tasks and the merge
    check must not depend on how the path was spelt when the sweep was submitted."""
    env = dict(os.environ, **slurm_cluster, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "s.toml").write_text(SWEEP.read_text())
    result = run([str(virtsim_binary), "sweep", "conf/s.toml", "--backend", "slurm", "--wait", "-o", "REL.h5"],
                 env, tmp_path, 180)
    assert result.returncode == 0, diagnose(result, slurm_cluster)
    with h5py.File(tmp_path / "REL.h5") as f:
        assert [text(r["status"]) for r in f["/sweep"][:]] == ["ok"] * POINTS


def test_slurm_sweep_into_a_folder_with_blanks_quotes_hash_and_percent(slurm_cluster, virtsim_binary, tmp_path):
    """sbatch splits #SBATCH lines at blanks, reads quotes and '#' itself and replaces %-patterns
    in log names: such a folder is written so that Slurm reads it back as it is."""
    env = dict(os.environ, **slurm_cluster, SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")
    folder = tmp_path / "a b'c\"d#e%jf"
    folder.mkdir()
    out = folder / "OUT.h5"
    result = run([str(virtsim_binary), "sweep", str(SWEEP), "--backend", "slurm", "--wait", "-o", str(out)],
                 env, folder, 180)
    assert result.returncode == 0, diagnose(result, slurm_cluster)
    with h5py.File(out) as f:
        assert [text(r["status"]) for r in f["/sweep"][:]] == ["ok"] * POINTS
    logs = sorted(p.name for p in Path(f"{out}.points").glob("slurm-*.out"))
    assert len(logs) == POINTS + 1, logs
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name], "a job wrote outside the folder"


# sbatch stand-in (VIRTSIM_SBATCH): records its arguments a line each call, prints FAKE_ID.
FAKE_SBATCH = """#!/bin/sh
printf '%s\\n' "$*" >> "$FAKE_LOG"
printf '%b' "$FAKE_ID"
"""


def fake_sbatch(tmp_path: Path, printed: str) -> dict[str, str]:
    script = tmp_path / "fake-sbatch"
    script.write_text(FAKE_SBATCH)
    script.chmod(0o755)
    return dict(os.environ, VIRTSIM_SBATCH=str(script), FAKE_ID=printed, FAKE_LOG=str(tmp_path / "sbatch.log"),
                SYSTEMC_DISABLE_COPYRIGHT_MESSAGE="1")


@pytest.mark.parametrize("printed", ["1; touch PWNED\\n", "7 && touch PWNED\\n", "12\\n$(touch PWNED)\\n",
                                     "1;`touch PWNED`\\n", "\\n", "Submitted batch job 5\\n"])
def test_a_job_id_that_is_not_one_goes_no_further(virtsim_binary, tmp_path, printed):
    """sbatch's answer is parsed strictly (digits, optionally ;cluster) before it goes into the
    merge job's --dependency, a shell command: anything else is refused, and the merge job is
    not submitted."""
    env = fake_sbatch(tmp_path, printed)
    result = run([str(virtsim_binary), "sweep", str(SWEEP), "--backend", "slurm", "-o", "OUT.h5"], env, tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("virtsim: error:")]
    assert len(errors) == 1 and "where a job id was expected (digits, optionally ;cluster)" in errors[0], result.stderr
    assert "no merge job was submitted" in errors[0]
    assert not (tmp_path / "PWNED").exists()
    calls = (tmp_path / "sbatch.log").read_text().splitlines()
    assert len(calls) == 1 and "--array=0-3" in calls[0], calls


def test_a_job_id_with_a_cluster_is_used_without_the_cluster(virtsim_binary, tmp_path):
    env = fake_sbatch(tmp_path, "4242;other-cluster_1\\n")
    result = run([str(virtsim_binary), "sweep", str(SWEEP), "--backend", "slurm", "-o", "OUT.h5"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "sbatch.log").read_text().splitlines()
    assert len(calls) == 2 and "--dependency=afterany:4242 " in calls[1], calls
    assert "submitted job array 4242:" in result.stdout and "submitted merge job 4242;" in result.stdout


@pytest.mark.parametrize("where", ["output", "config", "cwd"])
def test_a_newline_in_a_path_of_a_batch_script_is_refused_before_anything_is_written(virtsim_binary, tmp_path,
                                                                                    where):
    """A newline in the output path, the config's name or the working directory would end an
    #SBATCH or comment line of the batch scripts and start a shell command."""
    env = fake_sbatch(tmp_path, "1\\n")
    evil = "x\ntouch PWNED\n#"
    cwd = tmp_path / (evil if where == "cwd" else "work")
    cwd.mkdir()
    config = cwd / (f"{evil}.toml" if where == "config" else "s.toml")
    config.write_text(SWEEP.read_text())
    out = f"{evil}.h5" if where == "output" else "OUT.h5"
    before = sorted(p.name for p in cwd.iterdir())
    result = run([str(virtsim_binary), "sweep", config.name, "--backend", "slurm", "-o", out], env, cwd)
    assert result.returncode == 2, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("virtsim: error:")]
    assert len(errors) == 1 and "a Slurm batch script cannot hold" in errors[0], result.stderr
    assert "x\\ntouch PWNED" in errors[0]  # the path shown on one line
    assert sorted(p.name for p in cwd.iterdir()) == before
    assert not (tmp_path / "sbatch.log").exists()


def test_the_cluster_starts_where_no_cgroup_filesystem_is_mounted(tmp_path):
    """Containers and debootstrap chroots mount nothing on /sys/fs/cgroup, where slurmd 22.05
    looks by default for which cgroup plugin to load, and stops. Here: a mount namespace of
    its own with /sys/fs/cgroup unmounted (the machine's mounts untouched), in which the whole
    cluster starts and runs a job."""
    cluster = tmp_path / "cluster"
    root = [] if os.geteuid() == 0 else ["sudo", "-n"]
    inner = ("umount -R -l /sys/fs/cgroup 2>/dev/null || true; "
             'echo "cgroup mount: $(stat -f -c %T /sys/fs/cgroup)" >&2; exec "$0" start "$1"')
    try:
        started = subprocess.run([*root, "unshare", "-m", "sh", "-c", inner, str(SLURM_LOCAL), str(cluster)],
                                 capture_output=True, text=True, timeout=300)
        assert "cgroup mount: sysfs" in started.stderr, started.stderr  # nothing mounted there
        assert started.returncode == 0, started.stderr
        env = dict(os.environ, SLURM_CONF=str(cluster / "slurm.conf"))
        job = subprocess.run(["sbatch", "--parsable", "--wait", "--wrap", "echo ran > ran.txt"], capture_output=True,
                             text=True, env=env, cwd=tmp_path, timeout=120)
        assert job.returncode == 0, job.stderr
        assert (tmp_path / "ran.txt").read_text() == "ran\n"
    finally:
        subprocess.run([str(SLURM_LOCAL), "stop", str(cluster)], capture_output=True, timeout=120)


# A stand-in for sudo: records how it was called; `sudo -n true` answers SUDO_TRUE_STATUS.
FAKE_SUDO = """#!/bin/sh
printf '%s\\n' "$*" >> "$SUDO_LOG"
[ "$1 $2" = "-n true" ] && exit "$SUDO_TRUE_STATUS"
exit 0
"""


def run_as_a_user(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """args run as a user other than root: nobody when the test runs as root."""
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    return subprocess.run([*drop, "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in env.items()), *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("sudo", ["lets", "wants a password", "missing"])
def test_slurm_local_runs_itself_through_sudo_for_a_user(sudo):
    """The README's "a user with sudo": not root, scripts/slurm-local runs itself as root with
    `sudo -n` (never waiting for a password), and says in one line when it cannot. A stand-in
    sudo records the call: the test machine may have neither sudo nor a user who may use it."""
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        work_dir.chmod(0o755)
        bin_dir = work_dir / "bin"
        bin_dir.mkdir()
        for tool in ("bash", "id", "readlink"):
            (bin_dir / tool).symlink_to(shutil.which(tool))
        if sudo != "missing":
            (bin_dir / "sudo").write_text(FAKE_SUDO)
            (bin_dir / "sudo").chmod(0o755)
        log = work_dir / "sudo.log"
        log.touch()
        log.chmod(0o666)
        env = {"PATH": str(bin_dir), "SUDO_LOG": str(log), "SUDO_TRUE_STATUS": "0" if sudo == "lets" else "1"}
        result = run_as_a_user([str(SLURM_LOCAL), "status", str(work_dir / "cluster")], env)
        calls = log.read_text().splitlines()
    if sudo == "lets":
        assert result.returncode == 0, result.stderr
        assert calls == ["-n true", f"-n -- /usr/bin/env SLURM_LOCAL_TIMEOUT=60 {SLURM_LOCAL} status {work_dir}/cluster"]
        return
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "slurm-local: error: must run as root, or as a user whom sudo lets run commands as root without a password"
        if sudo == "wants a password" else
        "slurm-local: error: must run as root, or as a user with sudo (sudo is not installed)"], result.stderr
    assert calls == (["-n true"] if sudo == "wants a password" else [])


@pytest.mark.skipif(os.geteuid() != 0, reason="gives files away: needs root, as slurm-local under sudo is")
def test_slurm_local_run_through_sudo_gives_what_it_keeps_back_to_the_user(tmp_path):
    """Under sudo (SUDO_UID, SUDO_GID set), a DIR that slurm-local makes, and the logs and
    configs that stop keeps in it, belong to the user who ran it, who could otherwise not
    remove them; nothing else in DIR changes owner."""
    cluster = tmp_path / "cluster"
    env = dict(os.environ, SUDO_UID="65534", SUDO_GID="65534")

    def stop() -> None:
        result = subprocess.run([str(SLURM_LOCAL), "stop", str(cluster)], capture_output=True, text=True, env=env,
                                timeout=60)
        assert result.returncode == 0, result.stderr

    stop()
    assert (cluster.stat().st_uid, cluster.stat().st_gid) == (65534, 65534)
    (cluster / "log").mkdir()
    (cluster / "log" / "slurmd.log").write_text("kept\n")
    (cluster / "slurm.conf").write_text("# kept\n")
    (cluster / "mine").write_text("not slurm-local's\n")
    stop()
    for path in (cluster / "log", cluster / "log" / "slurmd.log", cluster / "slurm.conf", cluster / ".lock"):
        assert (path.stat().st_uid, path.stat().st_gid) == (65534, 65534), path
    assert (cluster / "mine").stat().st_uid == 0
