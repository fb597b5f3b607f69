"""The Cloud Foundry metadata store as the CNI wrapper writes it, and the store-probe that
shows what netlogd's StoreWatcher loads (shared by the test_store_*.py tests).

The writer follows ../shared/facts/cloudfoundry.md §2: an exclusive flock on
store.json_lock, store.json rewritten in place (seek 0, truncate, write), then
store.json_version incremented. Each write runs in its own process, as the wrapper does.
"""
import fcntl
import json
import os
import subprocess
import sys
import threading
import time

import netns

WRITER = r'''
import fcntl, os, sys, time
store, data_path, version, mode = sys.argv[1:5]
hold = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
data = open(data_path, "rb").read()
lock = open(store + "_lock", "a")
fcntl.flock(lock, fcntl.LOCK_EX)
fd = os.open(store, os.O_RDWR | os.O_CREAT, 0o644)
os.lseek(fd, 0, os.SEEK_SET)
os.ftruncate(fd, 0)
if mode == "slow":
    # half the text, then a version bump *before* the rest (a reader that ignores the lock
    # would now read a half-written store), then the rest after `hold` seconds
    os.write(fd, data[: len(data) // 2])
    open(store + "_version", "w").write(version + "\n")
    time.sleep(hold)
    os.write(fd, data[len(data) // 2 :])
    os.close(fd)
elif mode == "hang":
    # a writer that finishes the file but keeps the lock for `hold` seconds
    os.write(fd, data)
    os.close(fd)
    open(store + "_version", "w").write(version + "\n")
    time.sleep(hold)
else:
    os.write(fd, data)
    os.close(fd)
fcntl.flock(lock, fcntl.LOCK_UN)
lock.close()
if mode == "normal":
    open(store + "_version", "w").write(version + "\n")
'''


def entry(handle, ip, app="", space="", org=""):
    return {"handle": handle, "ip": ip,
            "metadata": {"app_id": app, "space_id": space, "org_id": org,
                         "policy_group_id": app, "ports": "8080", "container_workload": "app"}}


class Store:
    """A store directory in a temp dir; write() runs one writer process."""

    def __init__(self, tmpdir):
        self.dir = tmpdir
        self.path = os.path.join(tmpdir, "store.json")
        self.version = 0
        open(self.path + "_lock", "a").close()

    def write_text(self, text, mode="normal", hold=0.0, wait=True):
        self.version += 1
        data = os.path.join(self.dir, f"data.{self.version}")
        with open(data, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
        argv = [sys.executable, "-c", WRITER, self.path, data, str(self.version), mode, str(hold)]
        p = subprocess.Popen(argv)
        netns.on_exit(lambda: p.poll() is None and p.kill())
        if wait:
            netns.check(p.wait(timeout=60) == 0, f"writer {mode} failed")
        return p

    def write(self, containers, **kw):
        return self.write_text(json.dumps(containers, indent=2), **kw)


class Probe:
    """store-probe STORE: collects its stdout (one JSON per load) and stderr lines."""

    def __init__(self, store_path):
        exe = os.environ.get("STORE_PROBE") or os.path.join(
            os.environ.get("NETLOG_BUILD_ROOT", "build"), "tests", "tools", "store-probe")
        if not os.access(exe, os.X_OK):
            netns.fail(f"{exe} not built (ninja -C <build> tests/tools/store-probe)")
        self.loads, self.errors, self.infos = [], [], []
        self.lock = threading.Lock()
        self.p = subprocess.Popen([exe, store_path], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        netns.on_exit(self.stop)
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        netns.wait_for(lambda: self.info_has("watching"), what="store-probe to start")

    def _read_out(self):
        for line in self.p.stdout:
            with self.lock:
                self.loads.append(json.loads(line))

    def _read_err(self):
        for line in self.p.stderr:
            line = line.rstrip("\n")
            netns.log("  probe " + line)
            with self.lock:
                (self.errors if line.startswith("error: ") else self.infos).append(line)

    def info_has(self, text):
        with self.lock:
            return any(text in l for l in self.infos)

    def last(self):
        with self.lock:
            return self.loads[-1] if self.loads else None

    def count(self):
        with self.lock:
            return len(self.loads), len(self.errors)

    def wait_load(self, n_before, what, timeout=30.0):
        netns.wait_for(lambda: self.count()[0] > n_before, timeout=timeout, what=what)
        return self.last()

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.p.kill()
