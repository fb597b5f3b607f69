// Shared by the pipeline tests: a real packet and the Cloud Foundry rules file.
// The packet: the IPv4 TCP SYN 10.255.15.7:43902 -> 10.255.15.13:80 (IP ID 64772, DF,
// TTL 64) of a real capture (`tcpdump -i nflog:42 -w` in a namespace, iptables -j NFLOG
// on INPUT, kernel 6.x), as tshark dissected it.
#pragma once

#include <doctest/doctest.h>

#include <netlog/classes.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace netlog::test {

inline const std::vector<std::uint8_t> tcp_syn = {
    0x45, 0x00, 0x00, 0x3c, 0xfd, 0x04, 0x40, 0x00, 0x40, 0x06, 0x09, 0xa6, 0x0a, 0xff, 0x0f,
    0x07, 0x0a, 0xff, 0x0f, 0x0d, 0xab, 0x7e, 0x00, 0x50, 0x38, 0x6a, 0xf7, 0x73, 0x00, 0x00,
    0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0x34, 0x40, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04,
    0x02, 0x08, 0x0a, 0x58, 0xfc, 0x14, 0xb5, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a};

inline const RulesFile &cf_rules() {
    static const RulesFile rules = [] {
        std::ifstream in(std::string(NETLOG_SOURCE_ROOT) + "/rules/cloudfoundry.yaml");
        std::stringstream ss;
        ss << in.rdbuf();
        auto r = rules_parse(ss.str(), "rules/cloudfoundry.yaml");
        REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
        return std::move(*r);
    }();
    return rules;
}

} // namespace netlog::test
