"""A host-wide sysctl that several tests, run at the same time, need at the same value.

A sysctl under /proc/sys of the host (net.netfilter.nf_log_all_netns, for one) is global:
a test that sets it and restores it at exit breaks any other test that set it meanwhile.
Here every user holds it through one shared record, /run/netlog-tests/sysctl-KEY.json,
read and written under an flock on the .lock file beside it:

  {"key": ..., "value": the value held, "original": the value before the first holder,
   "holders": [[pid, start time], ...]}

The first holder records the original value and sets the held one; the last one to leave
restores the original and removes the record. A holder that died without leaving (SIGKILL)
is recognised by its pid and start time and dropped. Two tests needing different values
of one key cannot both run: the second waits (bounded) for the first to leave.

Something that does not take part (an older test, an administrator) may still change the
value: `Holder.watch()` samples it and puts it back, and says so, so that a test can tell
"my observation was disturbed" from "netlog is wrong".
"""
import contextlib
import fcntl
import json
import os
import threading
import time

import netns

DIR = "/run/netlog-tests"


def _proc_start(pid):
    """Start time of a process (clock ticks since boot), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _alive(holder):
    pid, start = holder
    return _proc_start(pid) == start


class Holder:
    def __init__(self, key, value, wait=120.0):
        self.key, self.value = key, str(value)
        self.path = "/proc/sys/" + key.replace(".", "/")
        os.makedirs(DIR, mode=0o755, exist_ok=True)
        self.state = os.path.join(DIR, f"sysctl-{key}.json")
        self.lock = os.path.join(DIR, f"sysctl-{key}.lock")
        self.me = [os.getpid(), _proc_start(os.getpid())]
        self.disturbed = 0  # times the value was found changed by someone else and put back
        end = time.monotonic() + wait
        while not self._acquire():
            if time.monotonic() > end:
                netns.fail(f"{key}: held at another value by other tests for {wait:.0f} s")
            time.sleep(0.5)
        netns.on_exit(self.release)

    @contextlib.contextmanager
    def _locked(self):
        fd = os.open(self.lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _load(self):
        try:
            with open(self.state) as f:
                st = json.load(f)
        except (OSError, ValueError):
            return None
        st["holders"] = [h for h in st["holders"] if _alive(h)]
        return st

    def _save(self, st):
        tmp = self.state + f".{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(st, f)
        os.replace(tmp, self.state)

    def read(self):
        with open(self.path) as f:
            return f.read().strip()

    def _write(self, value):
        with open(self.path, "w") as f:
            f.write(value)

    def _acquire(self):
        with self._locked():
            st = self._load()
            if st and st["holders"] and st["value"] != self.value:
                return False
            if not st:
                st = {"key": self.key, "value": self.value, "original": self.read(), "holders": []}
            # (a record whose holders all died keeps its original: the value now is theirs)
            st["value"] = self.value
            st["holders"].append(self.me)
            self._write(self.value)
            self._save(st)
            return True

    def release(self):
        with self._locked():
            st = self._load()
            if st is None:
                return
            st["holders"] = [h for h in st["holders"] if h != self.me]
            if st["holders"]:
                self._save(st)
                return
            self._write(st["original"])
            os.unlink(self.state)

    def ensure(self):
        """True when the value is in place; else put it back (and count it) and False."""
        if self.read() == self.value:
            return True
        with self._locked():
            if self.read() != self.value:
                netns.log(f"note: {self.key} was changed to {self.read()} by something outside "
                          f"the shared holder; set to {self.value} again")
                self._write(self.value)
                self.disturbed += 1
        return False

    @contextlib.contextmanager
    def watch(self, interval=0.01):
        """While the block runs, check the value every `interval` s and put it back when
        someone else changed it. Yields a dict whose "disturbed" counts the changes seen."""
        seen = {"disturbed": 0}
        stop = threading.Event()

        def run():
            while not stop.wait(interval):
                if not self.ensure():
                    seen["disturbed"] += 1

        if not self.ensure():
            seen["disturbed"] += 1
        t = threading.Thread(target=run, daemon=True)
        t.start()
        try:
            yield seen
        finally:
            stop.set()
            t.join(timeout=5)
            if not self.ensure():
                seen["disturbed"] += 1


def hold(key, value):
    """Hold the host's sysctl `key` at `value` until this process exits (shared with every
    other test holding it at the same value; the original comes back after the last)."""
    return Holder(key, value)
