"""The kernel log (/dev/kmsg) as a test oracle, with other writers on the same machine.

Everything on the host writes into one ring buffer: other tests' LOG rules (once any test
sets net.netfilter.nf_log_all_netns, every namespace's LOG rules print), drivers, a
stress run's noise. So a test reading it
  - finds its own records by a marker unique to the run (`unique_marker()`), never by
    position, and counts them against what it knows was logged (rule counters, or
    sequence numbers it wrote itself: `write()` and `Reader.missing()`);
  - drains the log continuously from a thread (a reader that waits finds its records
    overwritten), and knows when records went by unread: the read fails with EPIPE, or
    the kernel's record sequence numbers jump (`Reader.overrun`);
  - when its records are missing and the log overran (or a sysctl the logging needs was
    changed by someone else meanwhile), it could not observe: `CouldNotObserve`, and
    `observe()` runs the observation again, a bounded number of times. Only records missing
    from a log that did not overrun are a failure of what is tested ("wrong").
The record format (Documentation/ABI/testing/dev-kmsg): "PRI,SEQ,TS,FLAGS[,...];TEXT\\n"
then optional " KEY=VALUE" lines; bytes < 0x20, >= 0x7f and backslash in TEXT as \\xNN.
"""
import os
import re
import secrets
import select
import sys
import threading

import netns

# meson's exit code for "the test could not run as set up" (ERROR, not FAIL)
COULD_NOT_OBSERVE_EXIT = 99


class CouldNotObserve(Exception):
    """The kernel log could not be trusted during an observation (not a finding about
    the code under test)."""


def unique_marker(tag="NL"):
    """A marker no other writer uses: tag, pid, random hex."""
    return f"{tag}{os.getpid() % 100000}{secrets.token_hex(3)}"


def unescape(text):
    """/dev/kmsg writes bytes < 0x20, >= 0x7f and backslash as \\xNN."""
    return re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), text)


def write(text):
    """One record into the kernel log. Opened for each record: the kernel rate-limits each
    open file of /dev/kmsg (10 records per 5 s), not the writers."""
    fd = os.open("/dev/kmsg", os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def ring_size():
    """The kernel log's ring buffer in bytes (syslog(2) SYSLOG_ACTION_SIZE_BUFFER)."""
    import ctypes
    return ctypes.CDLL(None, use_errno=True).klogctl(10, None, 0)


class Reader:
    """The kernel log from now on, read by a background thread: /dev/kmsg opened and
    seeked to its end at construction, then drained continuously (from `start()` when
    start=False: a reader that stalls for as long as the caller wants). Keeps the records
    whose text starts with `marker`."""

    def __init__(self, marker, start=True):
        self.marker = marker
        self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self.fd, 0, os.SEEK_END)
        self.epipe = 0     # reads that failed: records overwritten before we read them
        self.skipped = 0   # records the sequence numbers say went by unread
        self.seen = 0      # records read, ours or not
        self._last_seq = None
        self._kept = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        if start:
            self._thread.start()
        netns.on_exit(self.close)

    def start(self):
        self._thread.start()

    @property
    def overrun(self):
        """True when records went by unread: ours may have been among them."""
        return self.epipe > 0 or self.skipped > 0

    def describe(self):
        return (f"/dev/kmsg: {self.seen} records read, {self.epipe} overruns (EPIPE), "
                f"{self.skipped} records skipped by sequence number")

    def _run(self):
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while not self._stop.is_set():
            poller.poll(50)
            while True:
                try:
                    rec = os.read(self.fd, 16384)
                except BlockingIOError:
                    break
                except BrokenPipeError:
                    self.epipe += 1
                    continue
                except OSError:
                    return  # closed under us
                if not rec:
                    break
                self.seen += 1
                head, _, body = rec.decode("utf-8", errors="surrogateescape").partition(";")
                seq = int(head.split(",")[1])
                if self._last_seq is not None and seq > self._last_seq + 1:
                    self.skipped += seq - self._last_seq - 1
                self._last_seq = seq
                if body.startswith(self.marker):
                    with self._lock:
                        self._kept.append((seq, body.split("\n", 1)[0]))

    def records(self):
        """[(kernel sequence number, text)] of our records so far, in kernel order."""
        with self._lock:
            return list(self._kept)

    def missing(self, n):
        """Of the records `write_numbered()` wrote with numbers 0..n-1, those not read."""
        got = set()
        for _, text in self.records():
            mo = re.match(re.escape(self.marker) + r" #(\d+) ", text)
            if mo:
                got.add(int(mo.group(1)))
        return sorted(set(range(n)) - got)

    def write_numbered(self, i, text=""):
        """Our own record number `i` (found again by `missing()`)."""
        write(f"{self.marker} #{i} {text}\n")

    def wait(self, pred, timeout=10.0):
        """Wait (bounded) until pred(records) holds; the records either way."""
        import time
        end = time.monotonic() + timeout
        while True:
            recs = self.records()
            if pred(recs) or time.monotonic() > end:
                return recs
            time.sleep(0.05)

    def close(self):
        if self.fd is not None:
            self._stop.set()
            if self._thread.is_alive():
                self._thread.join(timeout=2)
            os.close(self.fd)
            self.fd = None


def observe(attempt, tries=4, what="the kernel log"):
    """attempt(n) for n = 1..tries until it returns without raising CouldNotObserve; its
    result. After the last failed try the test ends with exit 99 (meson: ERROR, "could not
    observe"), distinct from a failure of what is tested."""
    for n in range(1, tries + 1):
        try:
            return attempt(n)
        except CouldNotObserve as e:
            netns.log(f"could not observe {what} (try {n} of {tries}): {e}")
    netns.log(f"COULD NOT OBSERVE: {what}, {tries} tries: the machine's kernel log was not "
              f"usable (flooded or its sysctl changed under us); not a netlog failure")
    sys.exit(COULD_NOT_OBSERVE_EXIT)
