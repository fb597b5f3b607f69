"""The real Docker and Podman daemons, each in a world of its own, for the metadata tests.

A daemon runs in a network namespace the test creates (netns.Netns) and in a private mount
namespace, with its data, run directories and API socket under the test's temporary
directory, tmpfs over /run, /var/lib and /etc/docker (what it would write there stays in
its mount namespace), its containers in a cgroup of the test's own name, and iptables
only inside the namespace. The host's own docker/podman state, links, rules and files are
untouched; everything is removed at exit, also on failure. The image is imported from a
root filesystem built here from busybox-static (no registry is reachable).

  d = Docker(tmpdir); d.start(); d.import_image()
  d.cli("network", "create", ...); cid = d.run("web", labels={...})
  d.inspect("web") -> the daemon's own JSON (the oracle the tests compare with)
"""
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import netns
from netns import Netns, check, fail, log, on_exit, sh, wait_for

IMAGE = "netlog-busybox:test"
BUSYBOX = "/bin/busybox"
APPLETS = ["sh", "ping", "ping6", "nc", "sleep", "cat", "echo", "ip", "true", "wget", "head", "touch"]
CLEAN_TIMEOUT = 60


def require_runtime(kind):
    """Skip (77) with the reason when the runtime or its helpers are not installed."""
    netns.require_root()
    need = {"docker": [("dockerd", "docker.io"), ("/usr/bin/docker", "docker.io")],
            "podman": [("podman", "podman"), ("/usr/lib/cni/bridge", "containernetworking-plugins")]}
    for path, pkg in need[kind] + [(BUSYBOX, "busybox-static"), ("nsenter", "util-linux")]:
        if not (os.path.exists(path) or shutil.which(path)):
            log(f"SKIP: {path} not found (apt-get install {pkg}; scripts/setup does)")
            raise SystemExit(netns.SKIP)
    if subprocess.run(["dpkg-query", "-W", "busybox-static"], capture_output=True).returncode:
        log(f"SKIP: {BUSYBOX} must be busybox-static's (apt-get install busybox-static)")
        raise SystemExit(netns.SKIP)


def build_rootfs(path):
    os.makedirs(os.path.join(path, "bin"))
    for d in ("tmp", "proc", "sys", "dev", "etc"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    shutil.copy(BUSYBOX, os.path.join(path, "bin", "busybox"))
    for a in APPLETS:
        os.symlink("busybox", os.path.join(path, "bin", a))
    return path


def _cgroup_dirs(name):
    return [d for d in glob.glob(f"/sys/fs/cgroup/*/{name}") + glob.glob(f"/sys/fs/cgroup/{name}")
            if os.path.isdir(d)]


def kill_cgroup(name):
    """SIGKILL every process under cgroup `name` (all hierarchies) and remove the groups."""
    for _ in range(50):
        pids = set()
        for top in _cgroup_dirs(name):
            for root, _dirs, _files in os.walk(top):
                try:
                    with open(os.path.join(root, "cgroup.procs")) as f:
                        pids.update(int(p) for p in f.read().split())
                except OSError:
                    pass
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        left = False
        for top in _cgroup_dirs(name):
            for root, _dirs, _files in sorted(os.walk(top), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(root)
                except OSError:
                    left = True
        if not left:
            return
        time.sleep(0.1)
    log(f"cleanup: cgroup {name} could not be removed entirely")


class Engine:
    """What Docker and Podman share: a namespace, a directory, a CLI, an API socket."""
    kind = ""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, self.kind)
        os.makedirs(self.dir)
        self.ns = Netns(self.kind[:2])
        self.cgroup = f"netlog-test-{self.ns.name}"
        self.sock = os.path.join(self.dir, "api.sock")
        self.proc = None
        self.log_path = os.path.join(self.dir, "daemon.log")
        on_exit(self.cleanup)  # after Netns.delete in LIFO order: runs before it

    # -- the API, as a client sees it (the oracle)
    def api(self, path, timeout=30):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        s.connect(self.sock)
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), body

    def wait_api(self, timeout=90):
        def up():
            if self.proc and self.proc.poll() is not None:
                fail(f"{self.kind} daemon exited ({self.proc.returncode}):\n{self.daemon_log()}")
            try:
                return self.api("/version", timeout=5)[0] == 200
            except OSError:
                return False
        wait_for(up, timeout=timeout, interval=0.2, what=f"the {self.kind} API on {self.sock}")

    def daemon_log(self, tail=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-tail:])
        except OSError:
            return ""

    def cli(self, *args, check=True, input=None, timeout=120):
        r = subprocess.run(self.cli_argv(list(args)), capture_output=True, text=True,
                           input=input, timeout=timeout, env=self.env())
        if check and r.returncode != 0:
            fail(f"{self.kind} {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}\n"
                 f"daemon log:\n{self.daemon_log()}")
        return r

    def inspect(self, name):
        return json.loads(self.cli("inspect", name).stdout)[0]

    def import_image(self):
        rootfs = build_rootfs(os.path.join(self.dir, "rootfs"))
        tar = subprocess.run(["tar", "-C", rootfs, "-c", "."], capture_output=True, check=True).stdout
        r = subprocess.run(self.cli_argv(["import", "-", IMAGE]), input=tar, capture_output=True,
                           env=self.env(), timeout=120)
        check(r.returncode == 0, f"{self.kind} import failed: {r.stderr.decode(errors='replace')}")

    def run(self, name, network=None, labels=None, cmd=("sleep", "3600"), extra=()):
        """A detached container; its full id."""
        args = ["run", "-d", "--name", name] + self.run_options()
        if network:
            args += ["--network", network]
        for k, v in (labels or {}).items():
            args += ["--label", f"{k}={v}"]
        args += list(extra) + [IMAGE] + list(cmd)
        return self.cli(*args).stdout.strip()

    def addresses(self, name):
        """{network: (ipv4, ipv6)} as the daemon's inspect says."""
        nets = self.inspect(name)["NetworkSettings"]["Networks"]
        return {n: (v.get("IPAddress", ""), v.get("GlobalIPv6Address", "")) for n, v in nets.items()}

    def iptables(self, cmd, v6=False):
        return self.ns.run(("ip6tables " if v6 else "iptables ") + cmd)

    def cleanup(self):
        if self.proc is None:
            return
        try:
            if self.proc.poll() is not None and self.kind == "docker":
                raise RuntimeError("dockerd is not running; its containers go with the cgroup")
            ids = self.cli("ps", "-aq", check=False, timeout=CLEAN_TIMEOUT).stdout.split()
            if ids:
                self.cli("rm", "-f", *ids, check=False, timeout=CLEAN_TIMEOUT)
        except Exception as e:
            log(f"cleanup: removing {self.kind} containers: {e}")
        self.stop_daemon()
        self.stop_helpers()
        kill_cgroup(self.cgroup)
        if getattr(self, "holder", None) is not None:
            self.holder.kill()
            self.holder.wait()

    def stop_helpers(self):
        pass

    def stop_daemon(self, sig=signal.SIGTERM, timeout=30):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def _holder(self):
        """A process that holds the daemon's namespaces: the test's network namespace and a
        private mount namespace with tmpfs over the host paths a daemon writes to. The
        daemon (and Podman's CLI) enter it, so that a restarted daemon finds the same mounts."""
        if getattr(self, "holder", None) is None:
            prelude = ("mount -t tmpfs -o mode=755 tmpfs /run && "
                       "mount -t tmpfs -o mode=755 tmpfs /var/lib && "
                       "{ [ ! -d /etc/docker ] || mount -t tmpfs tmpfs /etc/docker; } && "
                       "echo ready && exec sleep infinity")
            self.holder = subprocess.Popen(
                ["nsenter", f"--net=/run/netns/{self.ns.name}", "unshare", "--mount",
                 "--propagation", "private", "sh", "-c", prelude],
                stdout=subprocess.PIPE, start_new_session=True)
            check(self.holder.stdout.readline().strip() == b"ready",
                  f"{self.kind}: could not set up the mount namespace")
        return self.holder.pid

    def enter(self):
        return ["nsenter", "-t", str(self._holder()), "--net", "--mount"]

    def _spawn(self, cmd):
        """The daemon in the holder's namespaces; self.proc is the daemon itself."""
        logf = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.enter() + cmd, stdout=logf, stderr=logf,
                                     env=self.env(), start_new_session=True)


class Docker(Engine):
    kind = "docker"

    def env(self):
        return dict(os.environ, DOCKER_HOST=f"unix://{self.sock}")

    def cli_argv(self, args):
        return ["/usr/bin/docker", "-H", f"unix://{self.sock}"] + args

    def run_options(self):
        return []

    def start(self, live_restore=False):
        cfg = os.path.join(self.dir, "daemon.json")
        with open(cfg, "w") as f:
            json.dump({}, f)
        d = self.dir
        self._containerd()
        self._spawn(["dockerd", "--config-file", cfg, "--containerd", f"{d}/containerd.sock",
                     "--data-root", f"{d}/data",
                     "--exec-root", f"{d}/exec", "--pidfile", f"{d}/docker.pid",
                     "-H", f"unix://{self.sock}", "--cgroup-parent", f"/{self.cgroup}",
                     "--storage-driver", "overlay2", "--iptables=true"]
                    + (["--live-restore"] if live_restore else []))
        self.wait_api()


    def _containerd(self):
        """containerd on its own (as Debian's units run it), so that dockerd can be killed and
        restarted while containers live on (live-restore)."""
        if getattr(self, "containerd", None) is not None and self.containerd.poll() is None:
            return
        d = self.dir
        conf = os.path.join(d, "containerd.toml")
        with open(conf, "w") as f:
            f.write(f'version = 2\nroot = "{d}/containerd-root"\nstate = "{d}/containerd-state"\n'
                    f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                    f'[grpc]\n  address = "{d}/containerd.sock"\n'
                    f'[ttrpc]\n  address = "{d}/containerd.sock.ttrpc"\n')
        logf = open(os.path.join(d, "containerd.log"), "a")
        self.containerd = subprocess.Popen(self.enter() + ["containerd", "--config", conf],
                                           stdout=logf, stderr=logf, start_new_session=True)
        wait_for(lambda: os.path.exists(f"{d}/containerd.sock") or self.containerd.poll() is not None,
                 timeout=30, what="containerd's socket")
        check(self.containerd.poll() is None, "containerd exited at start")

    def stop_helpers(self):
        c = getattr(self, "containerd", None)
        if c is not None and c.poll() is None:
            c.terminate()
            try:
                c.wait(timeout=20)
            except subprocess.TimeoutExpired:
                c.kill()
                c.wait()


class Podman(Engine):
    """`podman system service` on the CNI network backend (CNI-ADMIN is where an operator's
    rules go; netavark has no such chain). The CLI runs in the service's namespaces."""
    kind = "podman"
    ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]

    def __init__(self, tmp):
        super().__init__(tmp)
        p = self.dir
        for sub in ("cni", "root", "runroot", "tmp"):
            os.makedirs(os.path.join(p, sub))
        with open(os.path.join(p, "containers.conf"), "w") as f:
            f.write(f"""[engine]
events_logger = "file"
events_logfile_path = "{p}/events.log"
cgroup_manager = "cgroupfs"
tmp_dir = "{p}/tmp"
[network]
network_backend = "cni"
network_config_dir = "{p}/cni"
""")
        with open(os.path.join(p, "storage.conf"), "w") as f:
            f.write(f'[storage]\ndriver = "overlay"\ngraphroot = "{p}/root"\nrunroot = "{p}/runroot"\n')

    def env(self):
        return dict(os.environ, CONTAINERS_CONF=os.path.join(self.dir, "containers.conf"),
                    CONTAINERS_STORAGE_CONF=os.path.join(self.dir, "storage.conf"))

    def cli_argv(self, args):
        return self.enter() + ["podman"] + args

    def run_options(self):
        # the host's RLIMIT_NOFILE is above what runc may set in a container here
        return self.ULIMITS + ["--cgroup-parent", f"/{self.cgroup}"]

    def start(self):
        self._spawn(["podman", "system", "service", "--time", "0", f"unix://{self.sock}"])
        self.wait_api()


class NetlogD:
    """netlogd in the daemon's namespace, with its stderr collected."""

    def __init__(self, engine, tmp, rules, labels, grace=60, extra=""):
        self.engine = engine
        self.out = os.path.join(tmp, f"netlog-{engine.kind}.json")
        self.err_path = os.path.join(tmp, f"netlogd-{engine.kind}.err")
        self.conf = os.path.join(tmp, f"netlogd-{engine.kind}.yaml")
        self.port = 7600 + os.getpid() % 300
        with open(self.conf, "w") as f:
            f.write(f"rules: {rules}\n"
                    f"metadata: {{source: {engine.kind}, socket: unix://{engine.sock}, "
                    f"labels: {json.dumps(labels)}, grace: {grace}}}\n"
                    f"outputs:\n  - {{type: file, path: {self.out}, format: json, "
                    f"extras: [class, prefix]}}\n"
                    f'metrics: {{listen: "127.0.0.1:{self.port}"}}\n' + extra)
        self.proc = None

    def start(self):
        errf = open(self.err_path, "w")
        self.proc = self.engine.ns.popen([netns.binary("netlogd"), "-c", self.conf],
                                         stdout=subprocess.DEVNULL, stderr=errf)
        wait_for(lambda: "reading NFLOG" in self.stderr() or self.proc.poll() is not None,
                 timeout=30, what="netlogd to start")
        check(self.proc.poll() is None, f"netlogd exited at start: {self.stderr()}")

    def stderr(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=20)
        check(rc == 0, f"netlogd exited {rc}: {self.stderr()}")

    def events(self):
        return [json.loads(l) for l in netns_read(self.out)]

    def metrics(self):
        r = self.engine.ns.run(["python3", "-c", "import sys, urllib.request; sys.stdout.write("
                                f"urllib.request.urlopen('http://127.0.0.1:{self.port}/metrics', "
                                "timeout=5).read().decode())"], check=False)
        out = {}
        for line in r.stdout.splitlines():
            if line.startswith("netlog_metadata_"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
        return out

    def metric(self, name, state=None):
        src = self.engine.kind
        key = f'{name}{{source="{src}"' + (f',state="{state}"' if state else "") + "}"
        return self.metrics().get(key)


def netns_read(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [l for l in f.read().split("\n") if l]


def expected_container(engine, name, labels):
    """The json output's container object for `name`, from the daemon's own inspect."""
    j = engine.inspect(name)
    cl = j["Config"].get("Labels") or {}
    return {"container_id": j["Id"], "container_name": j["Name"].lstrip("/"),
            "image": j["Config"]["Image"],
            "labels": {k: cl[k] for k in sorted(cl) if k in labels}}
