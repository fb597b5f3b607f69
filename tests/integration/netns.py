"""Namespaces, veths and host state for netlog's integration tests.

Every test builds its world in network namespaces it creates (unique names, deleted on
exit, also on failure or signal) and restores any sysctl it changes. Nothing here touches
the host's own firewall rules. Run as root; without root a test exits 77 (meson: skip).
"""
import atexit
import itertools
import os
import signal
import subprocess
import sys
import time

SKIP = 77
_counter = itertools.count()
_cleanups = []


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def require_root(what="this test"):
    if os.geteuid() != 0:
        log(f"SKIP: {what} needs root (network namespaces, netfilter rules)")
        sys.exit(SKIP)


def require_tool(path, package):
    if subprocess.run(["sh", "-c", f"command -v {path}"], capture_output=True).returncode:
        log(f"SKIP: {path} not found (apt-get install {package}; scripts/setup does)")
        sys.exit(SKIP)


def fail(msg):
    log(f"FAIL: {msg}")
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def sh(cmd, check=True, capture=True, input=None, timeout=60):
    """Run a command (list or string) on the host; return CompletedProcess."""
    shell = isinstance(cmd, str)
    r = subprocess.run(cmd, shell=shell, capture_output=capture, text=True, input=input,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"command failed ({r.returncode}): {cmd}\n{r.stdout}\n{r.stderr}")
    return r


def _run_cleanups():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # cleanup must go on
            log(f"cleanup error: {e}")


def on_exit(fn):
    """Register a cleanup; they run last-in first-out at exit, on failure and on signals."""
    _cleanups.append(fn)


atexit.register(_run_cleanups)


def _on_signal(signum, _frame):
    _run_cleanups()
    sys.exit(128 + signum)


for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, _on_signal)


def unique(tag):
    return f"nl{tag}{os.getpid() % 100000}{next(_counter)}"


class Netns:
    """A network namespace with loopback up; deleted (with its processes) on exit."""

    def __init__(self, tag="t"):
        self.name = unique(tag)
        sh(["ip", "netns", "add", self.name])
        self.procs = []
        on_exit(self.delete)
        self.run("ip link set lo up")

    def delete(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(timeout=5)
                except Exception:
                    pass
        # kill anything still living in the namespace, then delete it
        r = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True)
        for pid in r.stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True)

    def argv(self, cmd):
        if isinstance(cmd, str):
            return ["ip", "netns", "exec", self.name, "sh", "-c", cmd]
        return ["ip", "netns", "exec", self.name] + list(cmd)

    def run(self, cmd, check=True, input=None, timeout=60):
        return sh(self.argv(cmd), check=check, input=input, timeout=timeout)

    def popen(self, cmd, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.Popen(self.argv(cmd), **kw)
        self.procs.append(p)
        return p


def veth(a, b, name_a, name_b, addrs_a=(), addrs_b=(), mac_a=None, mac_b=None):
    """A veth pair between namespaces a and b (Netns or None for the host side: not used
    by tests). addrs are 'ip/prefix' strings, IPv4 or IPv6."""
    tmp = unique("v")
    sh(["ip", "link", "add", tmp, "type", "veth", "peer", "name", tmp + "p"])
    sh(["ip", "link", "set", tmp, "netns", a.name])
    sh(["ip", "link", "set", tmp + "p", "netns", b.name])
    a.run(["ip", "link", "set", tmp, "name", name_a])
    b.run(["ip", "link", "set", tmp + "p", "name", name_b])
    for ns, name, addrs, mac in ((a, name_a, addrs_a, mac_a), (b, name_b, addrs_b, mac_b)):
        if mac:
            ns.run(["ip", "link", "set", name, "address", mac])
        for ad in addrs:
            extra = ["nodad"] if ":" in ad else []
            ns.run(["ip", "addr", "add", ad, "dev", name] + extra)
        ns.run(["ip", "link", "set", name, "up"])


def Sysctl(key, value):
    """Set a host sysctl for the test; the old value comes back at exit. Shared with other
    tests that need the same key at the same time (shared_sysctl.py): the first sets it,
    the last restores it."""
    import shared_sysctl
    return shared_sysctl.hold(key, value)


def wait_for(pred, timeout=30.0, interval=0.05, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    fail(f"timed out after {timeout}s waiting for {what}")


def binary(name):
    """Path of a built binary: NETLOGD / NETLOG_RULES from meson's environment."""
    env = {"netlogd": "NETLOGD", "netlog-rules": "NETLOG_RULES"}[name]
    p = os.environ.get(env)
    if not p:
        root = os.environ.get("NETLOG_BUILD_ROOT", "build")
        p = os.path.join(root, "src", name, name)
    return p


_readable_dir = None
_readable = {}


def readable_copy(path):
    """A copy of `path` that every user can read (and run, when it is executable), for what
    a test runs as another user: the checkout may sit in a directory only root can enter
    (a clone under /root is 0700). The copies live in one 0755 directory, removed at exit;
    a file is copied once per test."""
    global _readable_dir
    if path in _readable:
        return _readable[path]
    import shutil
    import tempfile
    if _readable_dir is None:
        _readable_dir = tempfile.mkdtemp(prefix="netlog-readable-")
        os.chmod(_readable_dir, 0o755)
        d = _readable_dir
        on_exit(lambda: shutil.rmtree(d, ignore_errors=True))
    dst = os.path.join(_readable_dir, os.path.basename(path))
    n = 1
    while os.path.exists(dst):  # two files of one name: keep both
        n += 1
        dst = os.path.join(_readable_dir, f"{n}-{os.path.basename(path)}")
    shutil.copy2(path, dst)
    os.chmod(dst, 0o755 if os.access(path, os.X_OK) else 0o644)
    _readable[path] = dst
    return dst


def sanitized(name="netlogd"):
    """Whether the built binary carries AddressSanitizer (the build-asan run of the suite):
    its allocator keeps freed memory in quarantine and adds shadow memory, so resident-size
    bounds say nothing there, and LeakSanitizer needs ptrace, which a seccomp filter denies."""
    path = name if os.sep in name else binary(name)
    out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    return "libasan" in out


def source_root():
    return os.environ.get("NETLOG_SOURCE_ROOT",
                          os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
