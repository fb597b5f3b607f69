// The seed JSON format and JSON string escaping.
// Golden lines: ../shared/seeds/000_5dab427b0a826a08.txt (the "future log line" examples),
// minified. The seed's egress examples have dst_ip "173.294.210.139", which is not an IPv4
// address; we use 173.194.210.139, the address of the kern.log sample for the same flow
// ("OK_d538d169-f2f6-4587-77b1-f ... DST=173.194.210.139 ... SPT=35236 DPT=80").
#include "format_fixtures.h"

#include <doctest/doctest.h>
#include <netlog/format.h>
#include <nlohmann/json.hpp>
#include <string>

using namespace netlog;

namespace {

IpAddress v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    IpAddress ip;
    ip.family = L3::ipv4;
    ip.bytes[0] = a;
    ip.bytes[1] = b;
    ip.bytes[2] = c;
    ip.bytes[3] = d;
    return ip;
}

IpAddress v6(std::initializer_list<std::uint8_t> bytes) {
    IpAddress ip;
    ip.family = L3::ipv6;
    std::size_t i = 0;
    for (auto b : bytes) ip.bytes[i++] = b;
    return ip;
}

Container make_container(std::string id, std::string app, std::string space, std::string org) {
    Container c;
    c.handle = std::move(id);
    c.app_guid = std::move(app);
    c.space_guid = std::move(space);
    c.organization_guid = std::move(org);
    return c;
}

const Container seed_container =
    make_container("ffec8b0f-bdcf-42e7-7a89-f01e", "c5836386-b934-424a-8d93-5894115b3130",
                   "8bd0678d-c5fd-4991-8a5c-a75c75440e0b", "d95a6357-6124-48fe-80f9-c8ff6c250a6e");

struct Fixture {
    NflogMessage msg;
    Event ev;
    Fixture(Direction d, Verdict v, std::uint8_t protocol) {
        msg.mark = 2;
        ev.msg = &msg;
        ev.time = {1495732374, 512016535};
        ev.direction = d;
        ev.verdict = v;
        ev.container = &seed_container;
        ev.packet.l3 = L3::ipv4;
        ev.packet.protocol = protocol;
        ev.packet.src = v4(10, 255, 15, 7);
        ev.packet.has_transport = true;
        if (protocol == 6 || protocol == 17) {
            ev.packet.has_ports = true;
            ev.packet.src_port = 35236;
        } else if (protocol == 1) {
            ev.packet.has_icmp = true;
            ev.packet.icmp_type = 8;
        }
    }
    std::string json(const JsonOptions &opt = {}) const {
        std::string out;
        format_json(ev, opt, out);
        return out;
    }
};

std::string escaped(std::string_view s) {
    std::string out;
    json_escape(s, out);
    return out;
}

} // namespace

TEST_CASE("the seed's ingress TCP example is reproduced byte for byte") {
    Fixture f(Direction::ingress, Verdict::allowed, 6);
    f.ev.packet.dst = v4(10, 255, 15, 13);
    f.ev.packet.dst_port = 8080;
    CHECK(
        f.json() ==
        R"({"timestamp":"1495732374.512016535","source":"network-log-forwarder","message":"ingress-allowed","log_level":1,"data":{"destination":{"container_id":"ffec8b0f-bdcf-42e7-7a89-f01e","app_guid":"c5836386-b934-424a-8d93-5894115b3130","space_guid":"8bd0678d-c5fd-4991-8a5c-a75c75440e0b","organization_guid":"d95a6357-6124-48fe-80f9-c8ff6c250a6e"},"packet":{"src_ip":"10.255.15.7","src_port":35236,"dst_ip":"10.255.15.13","dst_port":8080,"protocol":"tcp","mark":"0x2"}}})"
        "\n");
}

TEST_CASE("the seed's egress TCP, UDP and ICMP examples are reproduced byte for byte") {
    const std::string head =
        R"({"timestamp":"1495732374.512016535","source":"network-log-forwarder","message":"egress-allowed","log_level":1,"data":{"source":{"container_id":"ffec8b0f-bdcf-42e7-7a89-f01e","app_guid":"c5836386-b934-424a-8d93-5894115b3130","space_guid":"8bd0678d-c5fd-4991-8a5c-a75c75440e0b","organization_guid":"d95a6357-6124-48fe-80f9-c8ff6c250a6e"},"packet":)";
    for (std::uint8_t proto : {6, 17}) {
        Fixture f(Direction::egress, Verdict::allowed, proto);
        f.ev.packet.dst = v4(173, 194, 210, 139);
        f.ev.packet.dst_port = 80;
        CHECK(
            f.json() ==
            head +
                R"({"src_ip":"10.255.15.7","src_port":35236,"dst_ip":"173.194.210.139","dst_port":80,"protocol":")" +
                (proto == 6 ? "tcp" : "udp") + R"(","mark":"0x2"}}})" + "\n");
    }
    Fixture f(Direction::egress, Verdict::allowed, 1);
    f.ev.packet.dst = v4(173, 194, 210, 139);
    CHECK(
        f.json() ==
        head +
            R"({"src_ip":"10.255.15.7","dst_ip":"173.194.210.139","protocol":"icmp","type":8,"code":0,"mark":"0x2"}}})" +
            "\n");
}

TEST_CASE("a packet decoded from real header bytes gives the seed's egress TCP line") {
    // fixtures::seed_asg_ok_syn is the packet of the kern.log line behind the seed example.
    NflogMessage msg;
    msg.mark = 2;
    msg.payload = fixtures::seed_asg_ok_syn;
    Event ev;
    ev.msg = &msg;
    ev.packet = packet_decode(msg.payload, 0x0800);
    ev.time = {1495732374, 512016535};
    ev.direction = Direction::egress;
    ev.verdict = Verdict::allowed;
    ev.container = &seed_container;
    std::string out;
    format_json(ev, {}, out);
    CHECK(
        out ==
        R"({"timestamp":"1495732374.512016535","source":"network-log-forwarder","message":"egress-allowed","log_level":1,"data":{"source":{"container_id":"ffec8b0f-bdcf-42e7-7a89-f01e","app_guid":"c5836386-b934-424a-8d93-5894115b3130","space_guid":"8bd0678d-c5fd-4991-8a5c-a75c75440e0b","organization_guid":"d95a6357-6124-48fe-80f9-c8ff6c250a6e"},"packet":{"src_ip":"10.255.15.7","src_port":35236,"dst_ip":"173.194.210.139","dst_port":80,"protocol":"tcp","mark":"0x2"}}})"
        "\n");
}

TEST_CASE("an unknown container prints four empty strings under the side the direction names") {
    Fixture f(Direction::ingress, Verdict::denied, 17);
    f.ev.container = nullptr;
    const auto line = f.json();
    CHECK(line.find(R"("message":"ingress-denied")") != std::string::npos);
    CHECK(
        line.find(
            R"("data":{"destination":{"container_id":"","app_guid":"","space_guid":"","organization_guid":""},"packet":)") !=
        std::string::npos);
    f.ev.direction = Direction::egress;
    CHECK(f.json().find(R"("data":{"source":{"container_id":"")") != std::string::npos);
}

TEST_CASE("the mark is lowercase hex and left out when it is zero or absent") {
    Fixture f(Direction::egress, Verdict::denied, 6);
    f.msg.mark = 0xDEADBEEF;
    CHECK(f.json().find(R"("protocol":"tcp","mark":"0xdeadbeef"}}})") != std::string::npos);
    f.msg.mark = 0;
    CHECK(f.json().find(R"("protocol":"tcp"}}})") != std::string::npos);
    f.msg.mark.reset();
    CHECK(f.json().find("mark") == std::string::npos);
    f.ev.msg = nullptr;
    CHECK(f.json().find("mark") == std::string::npos);
}

TEST_CASE("ports are left out when the packet does not carry them") {
    Fixture f(Direction::egress, Verdict::denied, 17);
    f.ev.packet.dst = v4(10, 0, 0, 1);
    f.ev.packet.has_ports = false; // a non-first fragment
    f.ev.packet.has_transport = false;
    f.msg.mark.reset();
    CHECK(f.json().find(
              R"("packet":{"src_ip":"10.255.15.7","dst_ip":"10.0.0.1","protocol":"udp"}}})") !=
          std::string::npos);
}

TEST_CASE("an ICMP packet without its header has no type and code") {
    Fixture f(Direction::egress, Verdict::denied, 1);
    f.ev.packet.has_icmp = false;
    f.msg.mark.reset();
    CHECK(f.json().find(R"("protocol":"icmp"}}})") != std::string::npos);
}

TEST_CASE("IPv6 addresses are in RFC 5952 form and ICMPv6 has type and code") {
    Fixture f(Direction::egress, Verdict::allowed, 58);
    f.ev.packet.l3 = L3::ipv6;
    f.ev.packet.src = v6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
    f.ev.packet.dst =
        v6({0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x1b, 0x21, 0xff, 0xfe, 0x00, 0, 0x0a});
    f.ev.packet.has_icmp = true;
    f.ev.packet.icmp_type = 128;
    f.msg.mark.reset();
    CHECK(
        f.json().find(
            R"("packet":{"src_ip":"2001:db8::1","dst_ip":"fe80::21b:21ff:fe00:a","protocol":"icmpv6","type":128,"code":0}}})") !=
        std::string::npos);
}

TEST_CASE("other protocols are named by their IANA keyword, else by their number as a string") {
    Fixture f(Direction::egress, Verdict::denied, 47);
    f.ev.packet.dst = v4(10, 0, 0, 1);
    f.msg.mark.reset();
    CHECK(f.json().find(
              R"("packet":{"src_ip":"10.255.15.7","dst_ip":"10.0.0.1","protocol":"gre"}}})") !=
          std::string::npos);
    f.ev.packet.protocol = 253;
    CHECK(f.json().find(R"("protocol":"253"}}})") != std::string::npos);
}

TEST_CASE("the timestamp always has nine decimals") {
    Fixture f(Direction::egress, Verdict::denied, 6);
    f.ev.time = {1700000000, 1000};
    CHECK(f.json().rfind(R"({"timestamp":"1700000000.000001000","source")", 0) == 0);
    f.ev.time = {0, 0};
    CHECK(f.json().rfind(R"({"timestamp":"0.000000000","source")", 0) == 0);
}

TEST_CASE("optional extras come after the seed keys, in data.packet and in data") {
    Fixture f(Direction::ingress, Verdict::allowed, 6);
    f.ev.packet.dst = v4(10, 255, 15, 13);
    f.ev.packet.dst_port = 8080;
    f.ev.packet.tcp_flags = tcp_flag::syn | tcp_flag::ack;
    f.ev.packet.length = 60;
    f.ev.packet.ttl = 63;
    f.ev.in_name = "s-010255015007";
    f.ev.out_name = "s-010255015013";
    ClassDef cls;
    cls.name = "c2c-ingress-allowed";
    f.ev.cls = &cls;
    f.msg.prefix = "OK_0002_e9e8959f-3828-4136-8 ";
    f.ev.prefix = f.msg.prefix;
    JsonOptions opt;
    opt.tcp_flags = opt.length = opt.ttl = opt.interfaces = opt.class_name = opt.prefix = opt.host =
        true;
    opt.host_ip = "10.0.16.15";
    opt.host_guid = "0455ec2b-11fa-41ab-9d1c-f3a575cd55ea";
    const auto line = f.json(opt);
    CHECK(
        line.find(
            R"("packet":{"src_ip":"10.255.15.7","src_port":35236,"dst_ip":"10.255.15.13","dst_port":8080,"protocol":"tcp","mark":"0x2","tcp_flags":"SYN,ACK","length":60,"ttl":63},"in_interface":"s-010255015007","out_interface":"s-010255015013","class":"c2c-ingress-allowed","prefix":"OK_0002_e9e8959f-3828-4136-8 ","host_ip":"10.0.16.15","host_guid":"0455ec2b-11fa-41ab-9d1c-f3a575cd55ea"}})"
            "\n") != std::string::npos);
    // The seed part is unchanged.
    const auto seed = f.json();
    CHECK(line.rfind(seed.substr(0, seed.size() - 4), 0) == 0); // all but "}}}\n"
    const auto parsed = nlohmann::json::parse(line);
    CHECK(parsed["data"]["packet"]["mark"] == "0x2");
}

TEST_CASE("the source name is configurable and escaped") {
    Fixture f(Direction::egress, Verdict::denied, 6);
    JsonOptions opt;
    opt.source = "my \"forwarder\"";
    CHECK(f.json(opt).find(R"("source":"my \"forwarder\"","message")") != std::string::npos);
}

TEST_CASE("json_escape: quote, backslash and control characters are escaped") {
    CHECK(escaped("plain ascii ~!") == "plain ascii ~!");
    CHECK(escaped("a\"b\\c") == R"(a\"b\\c)");
    CHECK(escaped("\b\f\n\r\t") == R"(\b\f\n\r\t)");
    CHECK(escaped(std::string_view("\x00\x01\x1f", 3)) == R"(\u0000\u0001\u001f)");
    CHECK(escaped("/") == "/");
    CHECK(escaped("\x7f") == "\x7f"); // DEL is a valid JSON string character
}

TEST_CASE("json_escape: valid UTF-8 passes through, invalid bytes become U+FFFD") {
    CHECK(escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") ==
          "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    CHECK(escaped("\xef\xbf\xbf\xf4\x8f\xbf\xbf") ==
          "\xef\xbf\xbf\xf4\x8f\xbf\xbf"); // U+FFFF, U+10FFFF
    CHECK(escaped("a\xff"
                  "b") == R"(a\ufffdb)");
    CHECK(escaped("\x80") == R"(\ufffd)");                               // stray continuation byte
    CHECK(escaped("\xc0\xaf") == R"(\ufffd\ufffd)");                     // overlong '/'
    CHECK(escaped("\xe0\x80\xaf") == R"(\ufffd\ufffd\ufffd)");           // overlong, 3 bytes
    CHECK(escaped("\xed\xa0\x80") == R"(\ufffd\ufffd\ufffd)");           // UTF-16 surrogate D800
    CHECK(escaped("\xf4\x90\x80\x80") == R"(\ufffd\ufffd\ufffd\ufffd)"); // > U+10FFFF
    CHECK(escaped("\xe2\x82"
                  "A") == R"(\ufffdA)");         // truncated: one maximal subpart
    CHECK(escaped("x\xe2\x82") == R"(x\ufffd)"); // truncated at the end
    CHECK(escaped("\xf0\x9f\x98") == R"(\ufffd)");
}

TEST_CASE("json_escape finds what needs escaping at every position of a long string") {
    struct Special {
        std::string in, out;
    } specials[] = {{"\"", "\\\""},
                    {"\\", "\\\\"},
                    {"\n", "\\n"},
                    {std::string(1, '\0'), "\\u0000"},
                    {"\x1f", "\\u001f"},
                    {"\xff", "\\ufffd"},
                    {"\xc3\xa9", "\xc3\xa9"},
                    {"\x7f", "\x7f"},
                    {" ", " "}};
    for (std::size_t pos = 0; pos < 40; ++pos) {
        for (const auto &sp : specials) {
            const std::string a(pos, 'a'), b(40 - pos, 'b');
            INFO("position " << pos << ", byte "
                             << static_cast<int>(static_cast<unsigned char>(sp.in[0])));
            CHECK(escaped(a + sp.in + b) == a + sp.out + b);
        }
    }
}

TEST_CASE("every line is valid JSON whatever bytes the strings hold") {
    Fixture f(Direction::ingress, Verdict::denied, 6);
    std::string nasty;
    for (int c = 0; c < 256; ++c) nasty.push_back(static_cast<char>(c));
    const Container c = make_container(nasty, "\xe2\x82", "\"\\", "\xed\xa0\x80");
    f.ev.container = &c;
    f.msg.prefix = nasty;
    f.ev.prefix = nasty;
    f.ev.in_name = nasty;
    JsonOptions opt;
    opt.prefix = opt.interfaces = true;
    const auto line = f.json(opt);
    CHECK(line.back() == '\n');
    CHECK(line.find('\n') == line.size() - 1);
    nlohmann::json j;
    REQUIRE_NOTHROW(j = nlohmann::json::parse(line));
    CHECK(j["data"]["destination"]["space_guid"] == "\"\\");
    CHECK(j["data"]["destination"]["app_guid"] == "\xef\xbf\xbd");
    // Printable ASCII and DEL survive unchanged.
    const std::string id = j["data"]["destination"]["container_id"];
    CHECK(id.substr(0x20, 0x60) == nasty.substr(0x20, 0x60));
}

TEST_CASE("a reused buffer is appended to and not reallocated once it has grown") {
    Fixture f(Direction::ingress, Verdict::allowed, 6);
    std::string out;
    out.reserve(4096);
    const auto *data = out.data();
    format_json(f.ev, {}, out);
    const auto one = out.size();
    format_json(f.ev, {}, out);
    CHECK(out.size() == 2 * one);
    CHECK(out.data() == data);
}

TEST_CASE("prepared options write the same bytes as unprepared ones") {
    for (auto d : {Direction::ingress, Direction::egress})
        for (auto v : {Verdict::allowed, Verdict::denied}) {
            Fixture f(d, v, 17);
            f.ev.packet.dst = v4(173, 194, 210, 139);
            JsonOptions plain;
            plain.source = "netlog \"edge\"\n\xff";
            JsonOptions prepared = plain;
            json_prepare(prepared);
            CAPTURE(f.json(plain));
            CHECK(f.json(prepared) == f.json(plain));
            // the escaped source, as json_escape writes it
            CHECK(f.json(prepared).find(R"("source":"netlog \"edge\"\n\ufffd")") !=
                  std::string::npos);
            prepared.source = "other";
            json_prepare(prepared);
            plain.source = "other";
            CHECK(f.json(prepared) == f.json(plain));
        }
}

TEST_CASE("numbers and timestamps are written in full at every length") {
    // expected text from std::to_string, an independent writer of the same decimal form
    const std::uint64_t values[] = {0,
                                    1,
                                    9,
                                    10,
                                    99,
                                    100,
                                    101,
                                    999,
                                    1000,
                                    9999,
                                    10000,
                                    65535,
                                    99999,
                                    100000,
                                    4294967295ull,
                                    1795420800ull,
                                    18446744073709551615ull};
    for (std::uint64_t v : values) {
        Fixture f(Direction::egress, Verdict::allowed, 17);
        f.ev.packet.src_port = static_cast<std::uint16_t>(v);
        f.ev.time = {static_cast<std::int64_t>(v & 0x7fffffffffffffffull),
                     static_cast<std::uint32_t>(v % 1000000000u)};
        const std::string line = f.json();
        const std::string sec = std::to_string(v & 0x7fffffffffffffffull);
        std::string ns = std::to_string(v % 1000000000u);
        ns.insert(0, 9 - ns.size(), '0');
        CAPTURE(line);
        CHECK(line.find("{\"timestamp\":\"" + sec + "." + ns + "\"") == 0);
        CHECK(line.find("\"src_port\":" + std::to_string(static_cast<std::uint16_t>(v)) + ",") !=
              std::string::npos);
    }
    Fixture f(Direction::egress, Verdict::allowed, 17);
    f.ev.time = {-5, 7};
    CHECK(f.json().find("{\"timestamp\":\"-5.000000007\"") == 0);
}
