// Community ID v1 and SHA-1.
// Vectors: corelight/community-id-spec @c4ec2bc40d65ddbcbdd642582bf5609797a80772 --
// baseline/baseline_deflt.json and baseline_seed1.json (copied unchanged to
// tests/data/community-id/), and the "Default settings" and "A custom seed=1 value" tables
// of its baseline/README.md (below). SHA-1: the FIPS 180-2 appendix A examples.
#include <doctest/doctest.h>
#include "community_id.h"
#include <netlog/container.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <string>

using namespace netlog;

namespace {

std::string hex(const std::uint8_t *d, std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
        static const char *digits = "0123456789abcdef";
        s += digits[d[i] >> 4];
        s += digits[d[i] & 15];
    }
    return s;
}

std::string sha1_hex(std::string_view s) {
    std::uint8_t d[20];
    sha1(std::span(reinterpret_cast<const std::uint8_t *>(s.data()), s.size()), d);
    return hex(d, 20);
}

std::string id(std::string_view src, std::string_view dst, std::uint8_t proto, int sport, int dport,
               std::uint16_t seed = 0) {
    FlowTuple t;
    t.src = ip_from_text(src);
    t.dst = ip_from_text(dst);
    REQUIRE(t.src.family != L3::none);
    REQUIRE(t.dst.family != L3::none);
    t.protocol = proto;
    if (sport >= 0) {
        t.has_ports = true;
        t.src_port = static_cast<std::uint16_t>(sport);
        t.dst_port = static_cast<std::uint16_t>(dport);
    }
    char out[community_id_size];
    const auto n = community_id_flow(t, out, seed);
    return std::string(out, n);
}

nlohmann::json load(const char *name) {
    std::ifstream f(std::string(NETLOG_TEST_DATA) + "/community-id/" + name);
    REQUIRE(f.good());
    std::stringstream ss;
    ss << f.rdbuf();
    return nlohmann::json::parse(ss.str());
}

void check_baseline(const char *name, std::uint16_t seed) {
    const auto doc = load(name);
    REQUIRE(doc.size() == 23);
    for (const auto &e : doc) {
        const int sport = e["sport"].is_null() ? -1 : e["sport"].get<int>();
        const int dport = e["dport"].is_null() ? -1 : e["dport"].get<int>();
        CAPTURE(e.dump());
        CHECK(id(e["saddr"].get<std::string>(), e["daddr"].get<std::string>(),
                 e["proto"].get<std::uint8_t>(), sport, dport,
                 seed) == e["communityid"].get<std::string>());
    }
}

} // namespace

TEST_CASE("SHA-1 gives the FIPS 180-2 digests (one block, two blocks, many blocks)") {
    CHECK(sha1_hex("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d");
    CHECK(sha1_hex("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    CHECK(sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    CHECK(sha1_hex(std::string(1000000, 'a')) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    // 55 and 56 bytes: the length still fits the first block / needs a second one
    CHECK(sha1_hex(std::string(55, 'a')) == "c1c8bbdc22796e28c0e15163d20899b65621d65a");
    CHECK(sha1_hex(std::string(56, 'a')) == "c2db330f6083854c99d4b5bfb6e8f29f201be699");
}

TEST_CASE("Community ID: the spec's baseline JSON, seed 0 (TCP, UDP, SCTP, ICMP, ICMPv6, RSVP)") {
    check_baseline("baseline_deflt.json", 0);
}

TEST_CASE("Community ID: the spec's baseline JSON, seed 1") {
    check_baseline("baseline_seed1.json", 1);
}

TEST_CASE("Community ID: the spec's README tables, both directions give one ID") {
    const char *a6 = "fe80:0001:0203:0405:0607:0809:0A0B:0C0D";
    const char *b6 = "fe80:1011:1213:1415:1617:1819:1A1B:1C1D";
    struct Row {
        const char *src, *dst;
        std::uint8_t proto;
        int sport, dport;
        const char *seed0, *seed1;
    };
    const Row rows[] = {
        {"1.2.3.4", "5.6.7.8", 6, 1122, 3344,
         "1:wCb3OG7yAFWelaUydu0D+125CLM=", "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="},
        {"5.6.7.8", "1.2.3.4", 6, 3344, 1122,
         "1:wCb3OG7yAFWelaUydu0D+125CLM=", "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="},
        {"1.2.3.4", "5.6.7.8", 17, 1122, 3344,
         "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", "1:OShq+iKDAMVouh/4bMxB9Sz4amw="},
        {"5.6.7.8", "1.2.3.4", 17, 3344, 1122,
         "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", "1:OShq+iKDAMVouh/4bMxB9Sz4amw="},
        {"1.2.3.4", "5.6.7.8", 132, 1122, 3344,
         "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", "1:uitchpn5MMGAQKBJh7bIr/bAr7s="},
        {"5.6.7.8", "1.2.3.4", 132, 3344, 1122,
         "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", "1:uitchpn5MMGAQKBJh7bIr/bAr7s="},
        // ICMP as the packet carries it: (type, code); echo request and its reply
        {"1.2.3.4", "5.6.7.8", 1, 8, 0,
         "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=", "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="},
        {"5.6.7.8", "1.2.3.4", 1, 0, 0,
         "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=", "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="},
        {"1.2.3.4", "5.6.7.8", 1, 11, 0,
         "1:f/YiSyWqczrTgfUCZlBUnvHRcPk=", "1:1DD7cWGC/Yg91YGsQeni8du3pIA="},
        {a6, b6, 58, 128, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=", "1:IO27GQzPuCtNnwFvjWALMHu5tJE="},
        {b6, a6, 58, 129, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=", "1:IO27GQzPuCtNnwFvjWALMHu5tJE="},
        {a6, b6, 58, 146, 0, "1:fYC8+pz24E+EhANP1EZhpX0Dw10=", "1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s="},
        {"1.2.3.4", "5.6.7.8", 46, -1, -1,
         "1:ikv3kmf89luf73WPz1jOs49S768=", "1:/buhqeOmaRCopOZFy9HnoJd5XW8="},
        {"5.6.7.8", "1.2.3.4", 46, -1, -1,
         "1:ikv3kmf89luf73WPz1jOs49S768=", "1:/buhqeOmaRCopOZFy9HnoJd5XW8="},
        {a6, b6, 46, -1, -1, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="},
        {b6, a6, 46, -1, -1, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="},
    };
    for (const auto &r : rows) {
        CAPTURE(r.src);
        CAPTURE(r.dst);
        CAPTURE(r.proto);
        CHECK(id(r.src, r.dst, r.proto, r.sport, r.dport, 0) == r.seed0);
        CHECK(id(r.src, r.dst, r.proto, r.sport, r.dport, 1) == r.seed1);
    }
}

TEST_CASE("Community ID: a one-way ICMP flow is not reordered (the reverse is another ID)") {
    // time exceeded (11) has no counterpart: hashed as (type, code) in packet order
    CHECK(id("5.6.7.8", "1.2.3.4", 1, 11, 0) != id("1.2.3.4", "5.6.7.8", 1, 11, 0));
    // ICMPv6 neighbour solicitation (135) and advertisement (136) are one flow
    CHECK(id("fe80::1", "fe80::2", 58, 135, 0) == id("fe80::2", "fe80::1", 58, 136, 0));
}

TEST_CASE("Community ID of a decoded packet: ports, ICMP type/code, and none when unknown") {
    Packet p;
    p.l3 = L3::ipv4;
    p.src = ip_from_text("203.0.113.36");
    p.dst = ip_from_text("172.16.54.114");
    p.protocol = 6;
    p.has_ports = true;
    p.src_port = 17805;
    p.dst_port = 445;
    char out[community_id_size];
    // Filebeat's iptables module, test/iptables.log-expected.json (facts/ecs.md section 2)
    REQUIRE(community_id(p, out) == community_id_size);
    CHECK(std::string(out, community_id_size) == "1:VD3aeZ6cGYX6uwOAUQ9NuxbobMI=");

    Packet later = p; // a later fragment carries no ports: no ID rather than another flow's
    later.has_ports = false;
    CHECK(community_id(later, out) == 0);
    Packet cut = p; // the capture ended before the protocol field
    cut.protocol_unknown = true;
    CHECK(community_id(cut, out) == 0);

    Packet icmp; // Filebeat's test/icmp.log: type 3 code 3, 192.0.2.71 -> 192.0.2.83
    icmp.l3 = L3::ipv4;
    icmp.src = ip_from_text("192.0.2.71");
    icmp.dst = ip_from_text("192.0.2.83");
    icmp.protocol = 1;
    icmp.has_icmp = true;
    icmp.icmp_type = 3;
    icmp.icmp_code = 3;
    REQUIRE(community_id(icmp, out) == community_id_size);
    CHECK(std::string(out, community_id_size) == "1:T79jBEYlbFhpnIGt2rOuzIv31hE=");
    icmp.has_icmp = false;
    CHECK(community_id(icmp, out) == 0);

    Packet v6; // Filebeat's test/ipv6.log: 2001:db8::1 -> 2001:db8::2, echo request
    v6.l3 = L3::ipv6;
    v6.src = ip_from_text("2001:db8::1");
    v6.dst = ip_from_text("2001:db8::2");
    v6.protocol = 58;
    v6.has_icmp = true;
    v6.icmp_type = 128;
    REQUIRE(community_id(v6, out) == community_id_size);
    CHECK(std::string(out, community_id_size) == "1:u2vMS3HiWth2lIMKHB1fjELshpQ=");

    Packet gre; // a protocol without ports: addresses and protocol only
    gre.l3 = L3::ipv4;
    gre.src = ip_from_text("1.2.3.4");
    gre.dst = ip_from_text("5.6.7.8");
    gre.protocol = 46;
    REQUIRE(community_id(gre, out) == community_id_size);
    CHECK(std::string(out, community_id_size) == "1:ikv3kmf89luf73WPz1jOs49S768=");
}
