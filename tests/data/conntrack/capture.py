#!/usr/bin/env python3
"""Record the kernel's ctnetlink event messages (NEW, UPDATE, DESTROY) as raw bytes.

Run inside a network namespace as root: python3 capture.py OUT.bin SECONDS
Each datagram is written as a 4-byte little-endian length, then the datagram exactly as
recv() returned it (one or more netlink messages). The unit tests parse these files.
"""
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
GROUPS = (1 << 0) | (1 << 1) | (1 << 2)  # NFNLGRP_CONNTRACK_NEW, _UPDATE, _DESTROY

out, seconds = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
s.bind((0, GROUPS))
s.settimeout(0.2)
print("ready", flush=True)
end = time.monotonic() + seconds
with open(out, "wb") as f:
    while time.monotonic() < end:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        f.write(struct.pack("<I", len(d)) + d)
        f.flush()
