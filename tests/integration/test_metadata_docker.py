#!/usr/bin/python3
"""netlogd with `metadata: {source: docker}` against the real dockerd (metadata_scenario.py):
the operator's LOG rules in DOCKER-USER (IPv4; ip6tables FORWARD for IPv6, where Docker 20.10
has no DOCKER-USER without its experimental ip6tables), classes of rules/docker.yaml."""
import engine_world
import metadata_scenario

metadata_scenario.run_scenario(engine_world.Docker, chain="DOCKER-USER", prefix="DOCKER",
                               v6_chain="FORWARD")
