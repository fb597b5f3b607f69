#!/usr/bin/python3
"""`netlogd --replay` on capture files that are damaged or in another pcap flavour, with
libpcap (tcpdump -r) as the oracle.

A real capture: `tcpdump -i nflog:G -w` of ICMP echoes the kernel logged through an NFLOG
rule in a namespace of this test's own. From its bytes the test writes variants, each a
thing a capture on disk can be:
  - cut inside a record's data, and inside a record header (a capture still being written,
    or copied short): netlogd prints the records before the cut, exactly as many as
    `tcpdump -r` reads, then fails with one line naming the file and the record, the same
    reason libpcap gives;
  - a record whose capture length is past libpcap's limit (262,144): the same;
  - the same capture with nanosecond timestamps (`editcap -F nsecpcap`) and in the other
    byte order (big-endian headers, as written on such a host): netlogd prints exactly the
    lines of the original (the first through its own reader, the second through libpcap).
"""
import json
import os
import shutil
import struct
import subprocess
import tempfile

import netns
import traffic
from netns import check, log

GROUP = 7
PINGS = 40
PREFIX = "DENY_capture-files-test"


def records(data):
    """(offset, caplen) of each record of a little-endian classic pcap file."""
    off, out = 24, []
    while off + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, off + 8)[0]
        out.append((off, caplen))
        off += 16 + caplen
    return out


def tcpdump_read(path):
    """(records libpcap reads, its complaint or "")."""
    r = subprocess.run(["tcpdump", "-n", "-r", path], capture_output=True, text=True, timeout=60)
    n = len([l for l in r.stdout.splitlines() if l.strip()])
    err = [l for l in r.stderr.splitlines() if "reading from file" not in l]
    return n, " ".join(err).strip()


def replay(netlogd, path):
    r = subprocess.run([netlogd, "--replay", path], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr.strip()


def big_endian(data):
    """The classic pcap file `data` (little-endian) as a big-endian host writes it: the file
    and record headers and, in each DLT_NFLOG record, the TLVs' length and type (which
    LINKTYPE_NFLOG keeps in the writer's byte order; libpcap swaps them back on reading)."""
    out = bytearray(struct.pack(">IHHiIII", *struct.unpack_from("<IHHiIII", data, 0)))
    for off, caplen in records(data):
        out += struct.pack(">IIII", *struct.unpack_from("<IIII", data, off))
        rec = bytearray(data[off + 16:off + 16 + caplen])
        t = 4  # after the NFLOG header (family, version, resource id in network order)
        while t + 4 <= len(rec):
            length, typ = struct.unpack_from("<HH", rec, t)
            struct.pack_into(">HH", rec, t, length, typ)
            if length < 4:
                break
            t += (length + 3) & ~3
        out += rec
    return bytes(out)


def main():
    netns.require_root("test_replay_capture_files")
    netns.require_tool("tcpdump", "tcpdump")
    netns.require_tool("editcap", "wireshark-common")
    netns.require_tool("iptables", "iptables")
    netlogd = netns.binary("netlogd")
    check(os.access(netlogd, os.X_OK), f"netlogd binary not found at {netlogd}: build it first")
    tmp = tempfile.mkdtemp(prefix="netlog-capture-files-")
    netns.on_exit(lambda: shutil.rmtree(tmp, ignore_errors=True))

    ns = netns.Netns("cf")
    ns.run(f"iptables -A OUTPUT -o lo -p icmp --icmp-type echo-request -j NFLOG "
           f"--nflog-group {GROUP} --nflog-prefix {PREFIX}")
    cap = os.path.join(tmp, "capture.pcap")
    capture = traffic.NflogCapture(ns, [GROUP], cap)
    ns.run(f"ping -c {PINGS} -i 0.01 -W 1 127.0.0.1")
    got = capture.stop(PINGS)
    with open(cap, "rb") as f:
        data = f.read()
    check(data[:4] == b"\xd4\xc3\xb2\xa1", f"tcpdump wrote no little-endian microsecond pcap: {data[:4].hex()}")
    recs = records(data)
    check(len(recs) == PINGS and got == PINGS,
          f"the capture holds {len(recs)} records (tcpdump said {got}), want {PINGS}")

    rc, full, err = replay(netlogd, cap)
    lines = full.splitlines()
    def echo_to_lo(line):
        p = json.loads(line).get("data", {}).get("packet", {})
        return p.get("dst_ip") == "127.0.0.1" and p.get("protocol") == "icmp" and p.get("type") == 8

    check(rc == 0 and len(lines) == PINGS and all(echo_to_lo(l) for l in lines),
          f"replay of the whole capture: rc {rc}, {len(lines)} lines (want {PINGS}), stderr {err[:300]!r}")

    cut_at = recs[PINGS // 2][0]  # the record the damage is in: number PINGS//2 + 1
    damaged = {
        "cut inside a record's data": data[:cut_at + 16 + 10],
        "cut inside a record header": data[:cut_at + 8],
    }
    big = bytearray(data)
    struct.pack_into("<I", big, cut_at + 8, 300000)
    damaged["a capture length past libpcap's limit"] = bytes(big)
    for what, content in damaged.items():
        path = os.path.join(tmp, what.replace(" ", "-").replace("'", "") + ".pcap")
        with open(path, "wb") as f:
            f.write(content)
        want_n, libpcap_err = tcpdump_read(path)
        check(want_n == PINGS // 2 and libpcap_err,
              f"{what}: tcpdump -r read {want_n} records ({libpcap_err!r}); the test's cut is wrong")
        rc, out, err = replay(netlogd, path)
        got_lines = out.splitlines()
        check(rc != 0, f"{what}: netlogd --replay exited 0 (stderr {err!r})")
        check(got_lines == lines[:want_n],
              f"{what}: netlogd printed {len(got_lines)} lines, want the first {want_n} of the "
              f"whole capture's (as many as libpcap reads)")
        errs = err.splitlines()
        check(len(errs) == 1 and path in errs[0] and f"record {want_n + 1}:" in errs[0],
              f"{what}: want one line naming {path} and record {want_n + 1}, got {err!r}")
        reason = errs[0].split(f"record {want_n + 1}: ", 1)[1]
        check(reason.split(",")[0] in libpcap_err,
              f"{what}: netlogd says {reason!r}, libpcap says {libpcap_err!r}")
        log(f"OK: {what}: {len(got_lines)} lines as libpcap reads, then: {errs[0]}")

    nsec = os.path.join(tmp, "nanoseconds.pcap")
    netns.sh(["editcap", "-F", "nsecpcap", cap, nsec])
    with open(nsec, "rb") as f:
        check(f.read(4) == b"\x4d\x3c\xb2\xa1", "editcap -F nsecpcap wrote no nanosecond pcap")
    swapped = os.path.join(tmp, "big-endian.pcap")
    with open(swapped, "wb") as f:
        f.write(big_endian(data))
    check(tcpdump_read(swapped) == (PINGS, ""), "tcpdump -r does not read the big-endian copy whole")
    for what, path in (("nanosecond timestamps", nsec), ("big-endian headers", swapped)):
        rc, out, err = replay(netlogd, path)
        check(rc == 0 and out == full,
              f"{what}: rc {rc}, {len(out.splitlines())} lines, differing from the original's "
              f"replay: {next((f'{a!r} vs {b!r}' for a, b in zip(out.splitlines(), lines) if a != b), '')} "
              f"(stderr {err[:300]!r})")
        log(f"OK: {what}: the same {PINGS} lines as the original")


if __name__ == "__main__":
    main()
