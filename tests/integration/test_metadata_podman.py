#!/usr/bin/python3
"""netlogd with `metadata: {source: podman}` against the real `podman system service`
(metadata_scenario.py): the operator's LOG rules in CNI-ADMIN (IPv4 and IPv6; Podman on the
CNI network backend), classes of rules/podman.yaml."""
import engine_world
import metadata_scenario

metadata_scenario.run_scenario(engine_world.Podman, chain="CNI-ADMIN", prefix="PODMAN",
                               v6_chain="CNI-ADMIN")
