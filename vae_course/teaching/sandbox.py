"""The grader's sandbox: each submission runs in a throwaway folder, with a scrubbed environment, resource limits, as
an unprivileged user when the grader runs as root, and every process it started is killed afterwards; its checkers'
verdicts are signed with a per-run secret so that a notebook cannot print a PASS of its own.

Used by no notebook; by :mod:`vae_course.teaching.grade` (``python -m vae_course grade``). It is also the kernel's
launcher (``python sandbox.py CONFIG -- KERNEL COMMAND``): it imports only the standard library at module level.

How a submission is contained (the README's teaching section says the same for teachers):

* :class:`Sandbox` makes a temporary folder holding only a copy of the notebook; the kernel's working directory, HOME,
  TMPDIR and ``VAE_COURSE_CHECKPOINTS`` point into it, and its environment holds only what the kernel needs
  (:func:`kernel_env`).
* The kernel is started through :func:`launch` in its own session, with ``setrlimit`` limits (:class:`Limits`: CPU
  time, address space, processes, file size, no core files). As root it also gets a private mount namespace, where
  ``/tmp``, ``/var/tmp`` and ``/dev/shm`` are empty and folders others cannot enter (``/root``) are hidden, except the
  Python installation and the course (bound back read-only, also from under ``/tmp``); it runs as a uid of its own.
* :meth:`Sandbox.kill_all` kills the kernel's session and every process of that uid (or, not as root, every process
  that carries the run's token in its environment or stays in the kernel's session).
* :func:`arm` is the first cell the grader runs: it reads the per-run key from a file that it then deletes and wraps
  every ``exercises.check_*`` so that the results it returns carry an HMAC of (run, exercise, verdict). The grader
  accepts only verdicts whose signature it can verify (:func:`verify`).

In-process Python is no security boundary: learner code runs in the same interpreter as the wrapped checkers and
could, with effort, find the key in memory or patch what a checker calls. For high-stakes grading, run the grader
itself in a container (as nbgrader and otter-grader advise).
"""
from __future__ import annotations

import asyncio
import ctypes
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import stat
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

KEY_FILE = ".grader-key"
TOKEN_VARIABLE = "VAE_COURSE_GRADER_RUN"
UID_RANGE = range(61000, 61999)  # uids of no user: one per grading run, owning nothing but its temporary folder
HIDDEN_TMP = ("/tmp", "/var/tmp", "/dev/shm")

__all__ = ["ARM_CELL", "HIDDEN_TMP", "KEY_FILE", "Limits", "Sandbox", "TOKEN_VARIABLE", "UID_RANGE", "arm",
           "kernel_env", "launch", "signed_message", "verify"]


@dataclass
class Limits:
    """``setrlimit`` limits of a submission's kernel (None: no limit). CPU seconds count every thread."""

    cpu_seconds: int | None = None          # default: twice the time limit on every core, plus a minute
    memory_bytes: int | None = 8 * 2**30     # address space
    processes: int | None = 512              # threads count too; enforced only for the sandbox's own uid
    file_bytes: int | None = 2**30           # the largest file it may write

    def for_timeout(self, timeout: float) -> "Limits":
        cpu = self.cpu_seconds if self.cpu_seconds is not None else int(2 * timeout * (os.cpu_count() or 1)) + 60
        return Limits(cpu, self.memory_bytes, self.processes, self.file_bytes)


def _free_uid() -> int | None:
    """A uid with no passwd entry and no running process (root only), else None."""
    import pwd

    if os.geteuid() != 0:
        return None
    busy = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                busy.add(entry.stat().st_uid)
            except OSError:
                pass
    for uid in secrets.SystemRandom().sample(list(UID_RANGE), len(UID_RANGE)):
        if uid in busy:
            continue
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
    return None


def kernel_env(folder: Path, *, quick: bool, token: str, user: str) -> dict[str, str]:
    """The kernel's whole environment: what Python, the kernel and the course need, nothing of the grader's."""
    env = {
        "PATH": os.path.dirname(sys.executable) + ":/usr/local/bin:/usr/bin:/bin",
        "HOME": str(folder), "TMPDIR": str(folder / "tmp"), "USER": user, "LOGNAME": user,
        "LANG": os.environ.get("LANG", "C.UTF-8"), "PYTHONHASHSEED": "0", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "VAE_COURSE_QUICK": "1" if quick else "0", "VAE_COURSE_CHECKPOINTS": str(folder / "checkpoints"),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline", TOKEN_VARIABLE: token,
    }
    for name in ("VAE_COURSE_DATA", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # the data (read-only), torch's threads
        if os.environ.get(name):  # the data's path resolved: a link inside the hidden /tmp would not be followed
            env[name] = str(Path(os.environ[name]).resolve()) if name == "VAE_COURSE_DATA" else os.environ[name]
    return env


class Sandbox:
    """One submission's throwaway folder, kernel launch and clean-up; use as a context manager.

    ``Sandbox(source_bytes, name, quick=True, timeout=600)``; :meth:`kernel_manager` gives the
    ``jupyter_client`` kernel manager that nbclient should use; leaving the ``with`` block kills every process the
    submission started and deletes the folder.
    """

    def __init__(self, notebook: bytes, name: str, *, quick: bool = True, timeout: float = 600,
                 limits: Limits | None = None, unprivileged: bool = True):
        self.notebook, self.name, self.quick = notebook, name, quick
        self.limits = (limits or Limits()).for_timeout(timeout)
        self.token = secrets.token_hex(16)
        self.key = secrets.token_bytes(32)
        self.uid = _free_uid() if unprivileged else None
        self.root: Path | None = None
        self.pid: int | None = None
        self.on_interrupt = None  # called on Ctrl-C while the kernel runs, in place of nbclient's own handler

    # -- the folder --------------------------------------------------------------------------------------------
    def __enter__(self) -> "Sandbox":
        self.root = Path(tempfile.mkdtemp(prefix="vae-grade-"))
        self.folder = self.root / "work"  # the kernel's folder; the log stays beside it, out of its reach
        self.folder.mkdir()
        (self.folder / "tmp").mkdir()
        (self.folder / "checkpoints").mkdir()
        (self.folder / self.name).write_bytes(self.notebook)
        key_file = self.folder / KEY_FILE
        key_file.write_bytes(self.key.hex().encode())
        key_file.chmod(0o600)
        if self.uid is not None:
            for path in (self.folder, *self.folder.iterdir()):
                os.chown(path, self.uid, self.uid)
            self.root.chmod(0o711)
        self.log = open(self.root / "kernel.log", "wb")
        return self

    def __exit__(self, *exc) -> None:
        self.kill_all()
        self.log.close()
        shutil.rmtree(self.root, onerror=_force_remove)

    @property
    def user(self) -> str:
        return f"grader{self.uid}" if self.uid is not None else os.environ.get("USER", "learner")

    def launch_config(self, connection_file: str) -> dict:
        data = [os.environ["VAE_COURSE_DATA"]] if os.environ.get("VAE_COURSE_DATA") else []
        exposed = sorted({str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix, sys.executable,
                                                           Path(__file__).resolve().parents[2], *data)})
        return {"uid": self.uid, "limits": asdict(self.limits), "folder": str(self.folder), "expose": exposed,
                "connection_file": connection_file}

    def kernel_manager(self, kernel_name: str = "python3"):
        """A ``jupyter_client`` kernel manager whose kernel starts through :func:`launch` with this sandbox's folder,
        environment and limits, its output going to a log file instead of the grader's terminal."""
        from jupyter_client.manager import AsyncKernelManager

        sandbox = self

        class SandboxKernelManager(AsyncKernelManager):
            async def _async_launch_kernel(self, kernel_cmd, **kw):
                config = sandbox.launch_config(self.connection_file)
                if sandbox.uid is not None:
                    os.chown(self.connection_file, sandbox.uid, sandbox.uid)
                kernel_cmd = [sys.executable, str(Path(__file__).resolve()), json.dumps(config), "--", *kernel_cmd]
                kw.update(env=kernel_env(sandbox.folder, quick=sandbox.quick, token=sandbox.token,
                                         user=sandbox.user),
                          cwd=str(sandbox.folder), stdout=sandbox.log, stderr=sandbox.log,
                          stdin=__import__("subprocess").DEVNULL)
                await super()._async_launch_kernel(kernel_cmd, **kw)
                sandbox.pid = self.provisioner.pid if self.provisioner else None
                if sandbox.on_interrupt is not None:  # nbclient's handler would turn Ctrl-C into a dead kernel
                    try:
                        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, sandbox.on_interrupt)
                    except (RuntimeError, NotImplementedError):  # not the main thread
                        pass

        km = SandboxKernelManager(kernel_name=kernel_name)
        km.connection_file = str(self.root / "connection.json") if self.uid is None else str(
            self.folder / ".connection.json")
        return km

    # -- after the run -----------------------------------------------------------------------------------------
    def survivors(self) -> list[int]:
        """Processes the submission started that still run (its uid's, its session's, or carrying its token)."""
        found = []
        marker = f"{TOKEN_VARIABLE}={self.token}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if self.uid is not None and entry.stat().st_uid == self.uid:
                    found.append(int(entry.name))
                    continue
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if fields[0] == "Z":
                    continue
                if self.pid is not None and int(fields[3]) == self.pid:  # its session
                    found.append(int(entry.name))
                    continue
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
        return found

    def kill_all(self) -> None:
        """Kill every process the submission started, until none is left (a few rounds at most)."""
        for _ in range(50):
            if self.pid is not None:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if self.uid is not None:
                _kill_uid(self.uid)
            left = self.survivors()
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if not left:
                return
            time.sleep(0.05)


def _kill_uid(uid: int) -> None:
    """``kill(-1, SIGKILL)`` as ``uid``: every process of that uid (and of no other) dies."""
    pid = os.fork()
    if pid == 0:  # the child only makes system calls, then leaves
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        except BaseException:  # noqa: BLE001
            pass
        os._exit(0)
    os.waitpid(pid, 0)


def _force_remove(function, path, excinfo) -> None:
    try:
        os.chmod(os.path.dirname(path), 0o700)
        os.chmod(path, stat.S_IRWXU)
        function(path)
    except OSError:
        pass


# -- the launcher (runs as the kernel's command, as root if the grader is) ----------------------------------------
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
_CLONE_NEWNS = 0x00020000


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    return libc


def _mount(libc, source, target, fstype, flags, data=None) -> None:
    enc = lambda s: s.encode() if isinstance(s, str) else s  # noqa: E731
    if libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def _private_mounts(folder: str, expose: list[str]) -> None:
    """In a new mount namespace: empty ``/tmp``, ``/var/tmp``, ``/dev/shm`` (the kernel's folder bound back in its
    place) and every folder on the way to ``expose`` that others cannot enter replaced by an empty one holding only
    that path, read-only."""
    libc = _libc()
    if libc.unshare(_CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare: {os.strerror(err)}")
    _mount(libc, "none", "/", None, _MS_REC | _MS_PRIVATE)
    keep = {folder: False}  # path -> read-only
    keep.update({p: True for p in expose if any(p.startswith(d + "/") for d in HIDDEN_TMP)})  # bound back below
    for path in expose:
        parts = Path(path).parts
        for i in range(2, len(parts)):
            parent = Path(*parts[:i])
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                keep[str(Path(*parts[:i + 1]))] = True
                break
    hide = {str(Path(*Path(p).parts[:i])) for p in keep for i in range(2, len(Path(p).parts))
            if not os.stat(Path(*Path(p).parts[:i])).st_mode & stat.S_IXOTH}
    hide |= {d for d in HIDDEN_TMP if os.path.isdir(d)}
    fds = {p: os.open(p, os.O_RDONLY | os.O_DIRECTORY) for p in keep}
    for d in sorted(hide, key=len):
        _mount(libc, "tmpfs", d, "tmpfs", _MS_NOSUID | _MS_NODEV,
               "mode=1777,size=256m" if d in HIDDEN_TMP else "mode=755,size=1m")
    for p, read_only in keep.items():
        if not any(p.startswith(h + "/") for h in hide):
            continue
        os.makedirs(p, exist_ok=True)
        _mount(libc, f"/proc/self/fd/{fds[p]}", p, None, _MS_BIND | _MS_REC)
        if read_only:
            _mount(libc, "none", p, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY)
    for fd in fds.values():  # opened before the tmpfs mounts, so the bind mounts above could reach under them
        os.close(fd)


def launch(config: dict, command: list[str]) -> None:
    """Become the kernel: limits, (as root) private mounts and the sandbox's uid, then exec ``command``."""
    import resource

    limits = config["limits"]
    uid = config["uid"]
    if uid is not None:
        try:
            _private_mounts(config["folder"], config["expose"])
        except OSError as exc:  # e.g. a container without CAP_SYS_ADMIN: the uid alone still protects root's files
            print(f"the sandbox has no private mounts ({exc}); /tmp is shared with the machine", file=sys.stderr)
    for name, value in (("RLIMIT_CPU", limits["cpu_seconds"]), ("RLIMIT_AS", limits["memory_bytes"]),
                        ("RLIMIT_FSIZE", limits["file_bytes"]), ("RLIMIT_CORE", 0),
                        ("RLIMIT_NPROC", limits["processes"] if uid is not None else None)):
        if value is not None:
            soft, hard = resource.getrlimit(getattr(resource, name))
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(getattr(resource, name), (value, value))
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    os.umask(0o077)
    os.execv(command[0], command)


# -- inside the kernel ------------------------------------------------------------------------------------------
def signed_message(run: str, exercise: str, verdict: str) -> bytes:
    return f"{run}|{exercise}|{verdict}".encode()


def verify(key: bytes, run: str, record: dict) -> bool:
    """Is ``record`` (an output's ``vae_course`` metadata) a verdict that a wrapped checker of this run signed?"""
    signature = record.get("signature")
    if not isinstance(signature, str):
        return False
    want = hmac.new(key, signed_message(run, str(record.get("exercise")), str(record.get("verdict"))), hashlib.sha256)
    return hmac.compare_digest(want.hexdigest(), signature)


def arm() -> int:
    """The grader's first cell: read (and delete) the run's key, then wrap every ``exercises.check_*`` so that its
    results carry a signature. Returns how many checkers were wrapped."""
    import functools

    from . import exercises
    from .exercises.core import CheckResult

    home = Path(os.environ.get("HOME", "."))
    key = bytes.fromhex((home / KEY_FILE).read_text())
    (home / KEY_FILE).unlink()
    (home / ".connection.json").unlink(missing_ok=True)  # the kernel has read it; learner code needn't
    run = os.environ.get(TOKEN_VARIABLE, "")
    new, sha256, hex_of = hmac.new, hashlib.sha256, bytes.hex

    class SignedResult(CheckResult):
        def __init__(self, result, signature):
            self.__dict__.update(result.__dict__)
            self.signature = signature

        def _repr_mimebundle_(self, include=None, exclude=None):
            return {"text/plain": self.message}, {"vae_course": {"exercise": self.exercise, "verdict": self.verdict,
                                                                 "signature": self.signature}}

    def wrap(check):
        @functools.wraps(check)
        def signed(*args, **kwargs):
            result = check(*args, **kwargs)
            if not isinstance(result, CheckResult):
                return result
            mac = new(key, signed_message(run, str(result.exercise), str(result.verdict)), sha256)
            return SignedResult(result, hex_of(mac.digest()))
        return signed

    names = [n for n in exercises.__all__ if n.startswith("check_")]
    for name in names:
        setattr(exercises, name, wrap(getattr(exercises, name)))
    return len(names)


ARM_CELL = '__import__("vae_course.teaching.sandbox", fromlist=["arm"]).arm()'


if __name__ == "__main__":  # the kernel's launcher: sandbox.py CONFIG -- COMMAND...
    try:
        launch(json.loads(sys.argv[1]), sys.argv[3:])
    except Exception as exc:  # noqa: BLE001 - the grader reads this line from the kernel's log
        print(f"the sandbox could not start the kernel: {exc}", file=sys.stderr)
        sys.exit(70)
