// The kernel LOG target's text, rebuilt from NFLOG's bytes.
// Golden data: (1) the kern.log samples of ../shared/facts/cloudfoundry.md §3 and of the seed
// document (../shared/seeds/000_*.txt); (2) tests/data/klog/kmsg_golden.json, the /dev/kmsg
// records the real kernel (6.18) printed for 46 known packets (make_kmsg_golden.py).
#include "format_fixtures.h"

#include <cstring>
#include <doctest/doctest.h>
#include <fstream>
#include <netlog/format.h>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

using namespace netlog;

namespace {

std::vector<std::uint8_t> from_hex(const std::string &hex) {
    std::vector<std::uint8_t> v;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        v.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return v;
}

// An NFLOG message as the kernel sends it for a packet logged in FORWARD/PREROUTING/INPUT
// on an Ethernet-like device: input device, 14-byte hardware header, payload from the IP header.
struct Logged {
    NflogMessage msg;
    Event ev;
    Logged(Bytes payload, Bytes hwheader, std::string_view prefix, std::uint32_t mark,
           std::string_view in, std::string_view out) {
        msg.family = (payload[0] >> 4) == 6 ? 10 : 2;
        msg.has_packet_hdr = true;
        msg.hw_protocol = msg.family == 10 ? 0x86dd : 0x0800;
        msg.indev = 5;
        msg.outdev = out.empty() ? 0 : 6;
        msg.hwtype = 1;
        msg.hwheader = hwheader;
        msg.payload = payload;
        msg.prefix = prefix;
        if (mark) msg.mark = mark;
        ev.msg = &msg;
        ev.prefix = prefix;
        ev.packet = packet_decode(payload, msg.hw_protocol);
        ev.in_name = in;
        ev.out_name = out;
    }
    std::string klog(bool with_prefix = true) const {
        std::string s;
        format_klog(ev, s, with_prefix);
        return s;
    }
};

// A kern.log line's message (after "kernel: [uptime] ") is the kernel's text without the
// trailing space that /dev/kmsg shows (syslog strips it).
std::string kmsg(std::string_view kern_log_message) {
    return std::string(kern_log_message) + " \n";
}

} // namespace

TEST_CASE("the kern.log samples of the facts file are reproduced from their packets") {
    using namespace fixtures;
    struct Case {
        const char *what;
        Bytes packet;
        Bytes mac;
        const char *prefix, *in, *out;
        std::uint32_t mark;
        const char *line;
    } cases[] = {
        {"c2c denied SYN", c2c_deny_syn, mac_s_010255015007, "DENY_C2C_cb40f81e-52ce-41c5- ",
         "s-010255015007", "s-010255015013", 2,
         "DENY_C2C_cb40f81e-52ce-41c5- IN=s-010255015007 OUT=s-010255015013 "
         "MAC=aa:aa:0a:ff:0f:07:ee:ee:0a:ff:0f:07:08:00 SRC=10.255.15.7 DST=10.255.15.13 LEN=60 "
         "TOS=0x00 PREC=0x00 TTL=63 ID=35889 DF PROTO=TCP SPT=36004 DPT=723 WINDOW=29200 RES=0x00 "
         "SYN URGP=0 MARK=0x2"},
        {"c2c allowed ACK", c2c_ok_ack, mac_s_010255015007, "OK_0002_e9e8959f-3828-4136-8 ",
         "s-010255015007", "s-010255015013", 2,
         "OK_0002_e9e8959f-3828-4136-8 IN=s-010255015007 OUT=s-010255015013 "
         "MAC=aa:aa:0a:ff:0f:07:ee:ee:0a:ff:0f:07:08:00 SRC=10.255.15.7 DST=10.255.15.13 LEN=52 "
         "TOS=0x00 PREC=0x00 TTL=63 ID=43997 DF PROTO=TCP SPT=60012 DPT=8080 WINDOW=237 RES=0x00 "
         "ACK URGP=0 MARK=0x2"},
        {"asg denied SYN", asg_deny_syn, mac_s_010255015007, "DENY_d538d169-f2f6-4587-77b1 ",
         "s-010255015007", "eth0", 2,
         "DENY_d538d169-f2f6-4587-77b1 IN=s-010255015007 OUT=eth0 "
         "MAC=aa:aa:0a:ff:0f:07:ee:ee:0a:ff:0f:07:08:00 SRC=10.255.15.7 DST=10.10.10.1 LEN=60 "
         "TOS=0x00 PREC=0x00 TTL=63 ID=61375 DF PROTO=TCP SPT=49466 DPT=80 WINDOW=29200 RES=0x00 "
         "SYN URGP=0 MARK=0x2"},
        {"asg allowed UDP", asg_ok_udp, mac_s_010255178004, "OK_container-handle-1-longer ",
         "s-010255178004", "eth0", 1,
         "OK_container-handle-1-longer IN=s-010255178004 OUT=eth0 "
         "MAC=aa:aa:0a:ff:b2:04:ee:ee:0a:ff:b2:04:08:00 SRC=10.255.0.1 DST=10.10.10.10 LEN=29 "
         "TOS=0x00 PREC=0x00 TTL=63 ID=2806 DF PROTO=UDP SPT=36556 DPT=11111 LEN=9 MARK=0x1"},
        {"asg denied ICMP (facts: CODE=2)", asg_deny_icmp, mac_s_010247180118,
         "DENY_da966cab-6a60-49c4-4f90 ", "s-010247180118", "eth0", 0,
         "DENY_da966cab-6a60-49c4-4f90 IN=s-010247180118 OUT=eth0 "
         "MAC=aa:aa:0a:f7:b4:76:ee:ee:0a:f7:b4:76:08:00 SRC=10.247.180.118 DST=10.0.0.1 LEN=84 "
         "TOS=0x00 PREC=0x00 TTL=63 ID=58750 DF PROTO=ICMP TYPE=8 CODE=2 ID=172 SEQ=1"},
        // seed document only:
        {"seed asg denied UDP", seed_udp, mac_s_010247180118, "DENY_da966cab-6a60-49c4-4f90 ",
         "s-010247180118", "eth0", 0,
         "DENY_da966cab-6a60-49c4-4f90 IN=s-010247180118 OUT=eth0 "
         "MAC=aa:aa:0a:f7:b4:76:ee:ee:0a:f7:b4:76:08:00 SRC=10.247.180.118 DST=10.0.0.1 LEN=37 "
         "TOS=0x00 PREC=0x00 TTL=63 ID=13026 DF PROTO=UDP SPT=54204 DPT=3454 LEN=17"},
        {"seed asg allowed SYN", seed_asg_ok_syn, mac_s_010255015007,
         "OK_d538d169-f2f6-4587-77b1-f ", "s-010255015007", "eth0", 2,
         "OK_d538d169-f2f6-4587-77b1-f IN=s-010255015007 OUT=eth0 "
         "MAC=aa:aa:0a:ff:0f:07:ee:ee:0a:ff:0f:07:08:00 SRC=10.255.15.7 DST=173.194.210.139 LEN=60 "
         "TOS=0x00 PREC=0x00 TTL=63 ID=45400 DF PROTO=TCP SPT=35236 DPT=80 WINDOW=29200 RES=0x00 "
         "SYN URGP=0 MARK=0x2"},
    };
    for (const auto &c : cases) {
        INFO(c.what);
        Logged l(c.packet, c.mac, c.prefix, c.mark, c.in, c.out);
        CHECK(l.klog() == kmsg(c.line));
        CHECK(l.klog(false) == kmsg(std::string_view(c.line).substr(std::strlen(c.prefix))));
    }
}

TEST_CASE("the seed's ICMP sample (CODE=0) is reproduced from its packet") {
    auto bytes = std::vector<std::uint8_t>(std::begin(fixtures::asg_deny_icmp),
                                           std::end(fixtures::asg_deny_icmp));
    bytes[21] = 0; // code 0 (the checksum is not printed)
    Logged l(bytes, fixtures::mac_s_010247180118, "DENY_da966cab-6a60-49c4-4f90 ", 0,
             "s-010247180118", "eth0");
    CHECK(
        l.klog() ==
        kmsg("DENY_da966cab-6a60-49c4-4f90 IN=s-010247180118 OUT=eth0 "
             "MAC=aa:aa:0a:f7:b4:76:ee:ee:0a:f7:b4:76:08:00 SRC=10.247.180.118 DST=10.0.0.1 LEN=84 "
             "TOS=0x00 PREC=0x00 TTL=63 ID=58750 DF PROTO=ICMP TYPE=8 CODE=0 ID=172 SEQ=1"));
}

TEST_CASE("every /dev/kmsg record the real kernel printed is reproduced byte for byte") {
    std::ifstream f(NETLOG_TEST_DATA "/klog/kmsg_golden.json");
    REQUIRE(f.good());
    std::stringstream ss;
    ss << f.rdbuf();
    const auto golden = nlohmann::json::parse(ss.str());
    const std::string in = golden["in"];
    REQUIRE(golden["records"].size() >= 40);
    for (const auto &r : golden["records"]) {
        const std::string name = r["name"];
        INFO(name);
        const auto packet = from_hex(r["packet"]);
        const auto hw = from_hex(r["hwheader"]);
        Logged l(packet, hw, "NLGOLD ", r["mark"].get<std::uint32_t>(), in, "");
        const std::string text = r["text"];
        CHECK(l.klog(false) == text + "\n");
        CHECK(l.klog(true) == "NLGOLD " + text + "\n");
    }
}

TEST_CASE("without an input device there is no MAC= field") {
    // LOG in OUTPUT/POSTROUTING: `in` is NULL, dump_mac_header() is not called.
    Logged l(fixtures::asg_ok_udp, {}, "", 0, "", "eth0");
    l.msg.indev = 0;
    CHECK(l.klog() == "IN= OUT=eth0 SRC=10.255.0.1 DST=10.10.10.10 LEN=29 TOS=0x00 PREC=0x00 "
                      "TTL=63 ID=2806 DF PROTO=UDP SPT=36556 DPT=11111 LEN=9 \n");
}

TEST_CASE("an input device without a hardware header prints an empty MAC=") {
    Logged l(fixtures::asg_ok_udp, {}, "P ", 0, "tun0", "");
    CHECK(l.klog().rfind("P IN=tun0 OUT= MAC= SRC=10.255.0.1 ", 0) == 0);
}

TEST_CASE("a bridged packet names its physical ports") {
    Logged l(fixtures::asg_ok_udp, fixtures::mac_s_010255178004, "", 0, "br0", "br0");
    l.msg.physindev = 7;
    l.msg.physoutdev = 8;
    l.ev.physin_name = "veth1";
    l.ev.physout_name = "veth2";
    CHECK(l.klog().rfind("IN=br0 OUT=br0 PHYSIN=veth1 PHYSOUT=veth2 MAC=aa:aa:", 0) == 0);
}

TEST_CASE("a capture cut inside the transport header prints INCOMPLETE with the packet's length") {
    // Copy range 30 of a 60-byte SYN: the kernel knew the whole packet; we only know its
    // length from the IP header, so the text says how many bytes the packet had from there.
    Logged l(Bytes(fixtures::c2c_deny_syn).first(30), {}, "", 2, "", "eth0");
    l.msg.indev = 0;
    CHECK(l.klog() == "IN= OUT=eth0 SRC=10.255.15.7 DST=10.255.15.13 LEN=60 TOS=0x00 PREC=0x00 "
                      "TTL=63 ID=35889 DF PROTO=TCP INCOMPLETE [40 bytes] \n");
}

TEST_CASE("a capture cut inside the IP header prints TRUNCATED") {
    Logged l(Bytes(fixtures::c2c_deny_syn).first(12), {}, "", 2, "", "eth0");
    l.msg.indev = 0;
    CHECK(l.klog() == "IN= OUT=eth0 TRUNCATED\n");
}

TEST_CASE("an event without an NFLOG message is formatted from its packet bytes") {
    Event ev;
    ev.packet = packet_decode(fixtures::asg_ok_udp, 0x0800);
    ev.out_name = "eth0";
    std::string out;
    format_klog(ev, out);
    CHECK(out == "IN= OUT=eth0 SRC=10.255.0.1 DST=10.10.10.10 LEN=29 TOS=0x00 PREC=0x00 TTL=63 "
                 "ID=2806 DF PROTO=UDP SPT=36556 DPT=11111 LEN=9 \n");
}

TEST_CASE("ARP is printed as the kernel's ARP logger does") {
    // Ethernet/IPv4 ARP request 10.0.0.1 (02:00:00:00:00:01) asks for 10.0.0.2.
    const std::uint8_t arp[] = {0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00,
                                0x00, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x01, 0x00, 0x00,
                                0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x02};
    NflogMessage msg;
    msg.family = 3; // NFPROTO_ARP
    msg.indev = 2;
    msg.payload = arp;
    msg.prefix = "A ";
    Event ev;
    ev.msg = &msg;
    ev.prefix = msg.prefix;
    ev.in_name = "eth0";
    std::string out;
    format_klog(ev, out);
    CHECK(out == "A IN=eth0 OUT= ARP HTYPE=1 PTYPE=0x0800 OPCODE=1 MACSRC=02:00:00:00:00:01 "
                 "IPSRC=10.0.0.1 MACDST=00:00:00:00:00:00 IPDST=10.0.0.2\n");
}

TEST_CASE("the text is cut where the kernel's 1 KiB log buffer ends") {
    // A 1000-character prefix (NFLOG allows long prefixes; LOG does not, but the buffer
    // limit is what bounds the line): 1016 bytes of text, then the newline.
    const std::string prefix(1000, 'p');
    Logged l(fixtures::c2c_deny_syn, fixtures::mac_s_010255015007, prefix, 2, "s-010255015007",
             "s-010255015013");
    const auto line = l.klog();
    CHECK(line.size() == 1017);
    CHECK(line.back() == '\n');
    CHECK(l.klog(false).size() == 1017 - 1000);
}

TEST_CASE("format_klog appends to the buffer") {
    Logged l(fixtures::asg_ok_udp, fixtures::mac_s_010255178004, "X ", 1, "a", "b");
    std::string out = "before\n";
    format_klog(l.ev, out);
    CHECK(out.rfind("before\nX IN=a OUT=b MAC=", 0) == 0);
    CHECK(out.find("MARK=0x1 \n") == out.size() - 10);
}

TEST_CASE("every LOG flag and level: each /dev/kmsg record the real kernel printed is reproduced") {
    // tests/data/klog/kmsg_flags_golden.json (make_kmsg_flags_golden.py): 23 packets under
    // iptables --log-tcp-sequence/-tcp-options/-ip-options/-macdecode, all of them with
    // --log-uid, and nft `log flags` (the same bits); --log-uid records come from OUTPUT,
    // with the uid/gid NFLOG reports for the same socket.
    std::ifstream f(NETLOG_TEST_DATA "/klog/kmsg_flags_golden.json");
    REQUIRE(f.good());
    std::stringstream ss;
    ss << f.rdbuf();
    const auto golden = nlohmann::json::parse(ss.str());
    REQUIRE(golden["records"].size() >= 180);
    std::size_t with_uid = 0;
    for (const auto &r : golden["records"]) {
        const std::string name = r["name"];
        INFO(name);
        const auto packet = from_hex(r["packet"]);
        const auto hw = from_hex(r["hwheader"]);
        const std::string in = r["in"], out = r["out"];
        Logged l(packet, hw, "NLFLAGS ", 0, in, out);
        l.msg.indev = in.empty() ? 0 : 5;
        if (hw.empty()) l.msg.hwtype.reset();
        l.ev.log_flags = r["flags"].get<std::uint8_t>();
        l.ev.log_level = r["level"].get<std::uint8_t>();
        if (r.contains("uid")) {
            l.msg.uid = r["uid"].get<std::uint32_t>();
            l.msg.gid = r["gid"].get<std::uint32_t>();
            ++with_uid;
        }
        // /dev/kmsg's priority is the rule's level (facility kern = 0)
        CHECK(r["prio"].get<int>() == r["level"].get<int>());
        const std::string text = r["text"];
        CHECK(l.klog(false) == text + "\n");
        CHECK(l.klog(true) == "NLFLAGS " + text + "\n");
    }
    CHECK(with_uid == 3);
}

TEST_CASE("--log-uid prints nothing for a packet that belongs to no local socket") {
    Logged l(fixtures::asg_ok_udp, {}, "U ", 1, "", "eth0");
    l.msg.indev = 0;
    l.ev.log_flags = log_flag_uid;
    CHECK(l.klog().find("UID=") == std::string::npos);
    l.msg.uid = 0;
    l.msg.gid = 0;
    CHECK(l.klog().find("LEN=9 UID=0 GID=0 MARK=0x1 \n") != std::string::npos);
    l.ev.log_flags = 0; // the rule did not ask: NFLOG's ids are not printed
    CHECK(l.klog().find("UID=") == std::string::npos);
}

TEST_CASE("--log-macdecode on a device without an Ethernet header falls back to MAC=") {
    Logged l(fixtures::asg_ok_udp, {}, "M ", 0, "tun0", "");
    l.msg.hwtype.reset(); // NFLOG reports no hardware type without a link-layer header
    l.ev.log_flags = log_flag_macdecode;
    CHECK(l.klog().rfind("M IN=tun0 OUT= MAC= SRC=10.255.0.1 ", 0) == 0);
    Logged e(fixtures::asg_ok_udp, fixtures::mac_s_010255178004, "M ", 0, "eth0", "");
    e.ev.log_flags = log_flag_macdecode;
    CHECK(e.klog().rfind("M IN=eth0 OUT= MACSRC=ee:ee:0a:ff:b2:04 MACDST=aa:aa:0a:ff:b2:04 "
                         "MACPROTO=0800 SRC=10.255.0.1 ",
                         0) == 0);
}
