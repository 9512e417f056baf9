"""A one-node SLURM cluster on 127.0.0.1 for the tests: munged, slurmctld and slurmd as their own processes, in a
temporary folder, configured through `SLURM_CONF`, stopped at the end of the session.

It needs Debian's `slurm-wlm` and `munge` (`.ci/run` installs them) and root (slurmd runs jobs as their user and
munged reads the key the package created, /etc/munge/munge.key). Without them the fixture skips, saying why; with
`CI=true` it fails instead, so CI cannot pass without having run the SLURM tests.

The configuration is the smallest that runs jobs on this machine: no cgroups (`proctrack/linuxproc`,
`task/none`), no accounting database (`accounting_storage/none`: no `sacct`), finished jobs appended to a
`jobcomp/filetxt` file (what the tests read to see that a run was a SLURM job), two CPUs consumable one by one
(`select/cons_tres` with `CR_Core`), a short `KillWait` so a cancelled job is killed quickly, and a requeued job
eligible again after seconds, not minutes (SLURM holds it for the credential lifetime, `cred_expire`, default
120 s; the scheduler then starts it at its next cycle, `sched_interval`, default 60 s).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

MUNGE_KEY = Path("/etc/munge/munge.key")
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel", "srun")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _which(name: str) -> str | None:
    return shutil.which(name) or next((str(p) for d in ("/usr/sbin", "/sbin") if (p := Path(d) / name).is_file()), None)


class SlurmCluster:
    """`start()` brings the daemons up and waits until the node is idle; `stop()` ends exactly the processes it
    started. `env` is what a client (sbatch, squeue, the grid runner) needs: SLURM_CONF pointing at the cluster."""

    def __init__(self, root: Path, cpus: int = 2):
        self.root, self.cpus = root, cpus
        self.conf = root / "slurm.conf"
        self.jobcomp = root / "jobcomp.txt"
        self.procs: list[subprocess.Popen] = []
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    def missing(self) -> str | None:
        """Why this machine cannot run the cluster, or None."""
        absent = [n for n in (*DAEMONS, *CLIENTS) if _which(n) is None]
        if absent:
            return f"{', '.join(absent)} not installed (apt-get install slurm-wlm munge)"
        if os.geteuid() != 0:
            return "the test cluster's slurmd must run as root"
        if not MUNGE_KEY.is_file():
            return f"{MUNGE_KEY} is missing (the munge package creates it)"
        return None

    def _write_conf(self) -> None:
        r = self.root
        for d in ("state", "spool", "munge"):
            (r / d).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(f"""\
ClusterName=dnalmtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={r}/munge/munge.socket,cred_expire=10
SlurmUser=root
SlurmdUser=root
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={r}/slurmctld.log
SlurmdLogFile={r}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={self.jobcomp}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=2,sched_interval=2
MpiDefault=none
ReturnToService=2
KillWait=10
MinJobAge=3600
MaxArraySize=10000
NodeName=localhost NodeAddr=127.0.0.1 CPUs={self.cpus} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
""")

    def _spawn(self, name: str, *args: str) -> None:
        log = open(self.root / f"{name}.stdout", "ab")
        self.procs.append(
            subprocess.Popen(
                [_which(name), *args], stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        )

    def start(self, timeout: float = 60) -> None:
        self._write_conf()
        m = self.root / "munge"
        self._spawn(
            "munged",
            "--foreground",
            "--force",
            f"--socket={m}/munge.socket",
            f"--key-file={MUNGE_KEY}",
            f"--pid-file={m}/munged.pid",
            f"--log-file={m}/munged.log",
            f"--seed-file={m}/munged.seed",
        )
        self._wait(lambda: (m / "munge.socket").exists(), timeout, "munged")
        self._spawn("slurmctld", "-D", "-i", "-f", str(self.conf))
        self._wait(
            lambda: self.scontrol("ping").returncode == 0 and "UP" in self.scontrol("ping").stdout, timeout, "slurmctld"
        )
        self._spawn("slurmd", "-D", "-N", "localhost", "-f", str(self.conf))
        self._wait(lambda: "State=IDLE" in self.scontrol("show", "node", "localhost").stdout, timeout, "slurmd")

    def _wait(self, ready, timeout: float, what: str) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if any(p.poll() is not None for p in self.procs):
                break
            if ready():
                return
            time.sleep(0.5)
        logs = "\n".join(
            f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-15:])
            for p in sorted(self.root.rglob("*.log")) + sorted(self.root.glob("*.stdout"))
        )
        self.stop()
        raise RuntimeError(f"the test SLURM cluster's {what} did not come up in {timeout:.0f} s; its logs:\n{logs}")

    def scontrol(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["scontrol", *args], capture_output=True, text=True, env=self.env, timeout=30)

    def jobcomp_records(self) -> list[dict]:
        """One dict per finished job (jobcomp/filetxt writes `Key=Value` pairs, one job per line)."""
        if not self.jobcomp.is_file():
            return []
        return [
            dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
            for line in self.jobcomp.read_text().splitlines()
            if line.strip()
        ]

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running one-node cluster; skips (fails under CI=true) when this machine cannot run one."""
    ci = os.environ.get("CI", "").lower() == "true"
    root = Path(tempfile.mkdtemp(prefix="slurm-test-"))
    cluster = SlurmCluster(root)
    why = cluster.missing()
    if why:
        shutil.rmtree(root, ignore_errors=True)
        (pytest.fail if ci else pytest.skip)(f"no test SLURM cluster: {why}")
    try:
        cluster.start()
    except RuntimeError as err:
        shutil.rmtree(root, ignore_errors=True)
        (pytest.fail if ci else pytest.skip)(str(err))
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
