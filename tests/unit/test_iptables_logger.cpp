// Cloud Foundry iptables-logger compatibility. Golden data: the sample JSON of
// ../shared/facts/cloudfoundry.md §4 (minified, key order kept), both timestamp styles.
// Expected epochs of the RFC 3339 times were computed with `date -u -d ... +%s`.
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

Container facts_container() {
    Container c;
    c.handle = "bfce786c-ab07-40ad-79f9-8f21";
    c.app_guid = "bc6f229d-5e4a-4c41-a63f-e8795496c283";
    c.space_guid = "b9f86312-a7d7-4bcf-b70f-a440436c210b";
    c.organization_guid = "604bd59e-4139-4734-a3be-4e97836eb790";
    return c;
}

// The facts sample: egress allowed TCP 10.255.73.3:51858 -> 8.8.8.8:80, mark 0x1.
struct Sample {
    NflogMessage msg;
    Container container = facts_container();
    Event ev;
    IptablesLoggerOptions opt;
    Sample() {
        msg.mark = 1;
        ev.msg = &msg;
        ev.time = {1500923950, 331232071};
        ev.direction = Direction::egress;
        ev.verdict = Verdict::allowed;
        ev.container = &container;
        ev.packet.l3 = L3::ipv4;
        ev.packet.protocol = 6;
        ev.packet.src = v4(10, 255, 73, 3);
        ev.packet.dst = v4(8, 8, 8, 8);
        ev.packet.has_transport = ev.packet.has_ports = true;
        ev.packet.src_port = 51858;
        ev.packet.dst_port = 80;
        opt.host_ip = "10.0.16.15";
        opt.host_guid = "0455ec2b-11fa-41ab-9d1c-f3a575cd55ea";
    }
    std::string line() const {
        std::string out;
        format_iptables_logger(ev, opt, out);
        return out;
    }
};

const std::string facts_data =
    R"("data":{"packet":{"direction":"egress","allowed":true,"src_ip":"10.255.73.3","dst_ip":"8.8.8.8","src_port":51858,"dst_port":80,"protocol":"TCP","mark":"0x1","icmp_type":0,"icmp_code":0},"source":{"container_id":"bfce786c-ab07-40ad-79f9-8f21","app_guid":"bc6f229d-5e4a-4c41-a63f-e8795496c283","space_guid":"b9f86312-a7d7-4bcf-b70f-a440436c210b","organization_guid":"604bd59e-4139-4734-a3be-4e97836eb790","host_ip":"10.0.16.15","host_guid":"0455ec2b-11fa-41ab-9d1c-f3a575cd55ea"}}})";

} // namespace

TEST_CASE("the facts sample is reproduced byte for byte in the epoch (deprecated) style") {
    Sample s;
    s.opt.time_style = IptablesLoggerOptions::TimeStyle::epoch;
    CHECK(
        s.line() ==
        R"({"timestamp":"1500923950.331232071","source":"cfnetworking.iptables","message":"cfnetworking.iptables.egress-allowed","log_level":1,)" +
            facts_data + "\n");
}

TEST_CASE("the rfc3339 style has the UTC time with nine decimals, level info and no log_level") {
    Sample s;
    s.ev.time = {1714779307, 123456789};
    CHECK(
        s.line() ==
        R"({"timestamp":"2024-05-03T23:35:07.123456789Z","level":"info","source":"cfnetworking.iptables","message":"cfnetworking.iptables.egress-allowed",)" +
            facts_data + "\n");
    s.ev.time = {1500923950, 331232071};
    CHECK(s.line().rfind(R"({"timestamp":"2017-07-24T19:19:10.331232071Z","level":"info",)", 0) ==
          0);
    s.ev.time = {951782400, 0}; // a leap day
    CHECK(s.line().rfind(R"({"timestamp":"2000-02-29T00:00:00.000000000Z",)", 0) == 0);
    s.ev.time = {-1, 5};
    CHECK(s.line().rfind(R"({"timestamp":"1969-12-31T23:59:59.000000005Z",)", 0) == 0);
}

TEST_CASE("ingress puts the container under destination and says so in the message") {
    Sample s;
    s.ev.direction = Direction::ingress;
    s.ev.verdict = Verdict::denied;
    const auto line = s.line();
    CHECK(line.find(R"("message":"cfnetworking.iptables.ingress-denied")") != std::string::npos);
    CHECK(line.find(R"("packet":{"direction":"ingress","allowed":false,)") != std::string::npos);
    CHECK(line.find(R"(},"destination":{"container_id":"bfce786c-ab07-40ad-79f9-8f21",)") !=
          std::string::npos);
}

TEST_CASE("ICMP has zero ports and its type and code; TCP and UDP have zero type and code") {
    Sample s;
    s.ev.packet.protocol = 1;
    s.ev.packet.has_ports = false;
    s.ev.packet.has_icmp = true;
    s.ev.packet.icmp_type = 8;
    s.ev.packet.icmp_code = 0;
    s.msg.mark.reset();
    CHECK(
        s.line().find(
            R"("src_port":0,"dst_port":0,"protocol":"ICMP","mark":"","icmp_type":8,"icmp_code":0})") !=
        std::string::npos);
    Sample u;
    u.ev.packet.protocol = 17;
    u.ev.packet.icmp_type = 3; // stale values must not leak into UDP
    CHECK(
        u.line().find(
            R"("src_port":51858,"dst_port":80,"protocol":"UDP","mark":"0x1","icmp_type":0,"icmp_code":0})") !=
        std::string::npos);
}

TEST_CASE("mark is an empty string when the kernel would print no MARK") {
    Sample s;
    s.msg.mark = 0;
    CHECK(s.line().find(R"("mark":"",)") != std::string::npos);
    s.msg.mark = 0xABC;
    CHECK(s.line().find(R"("mark":"0xabc",)") != std::string::npos);
}

TEST_CASE("protocols are the kernel's PROTO= words, other protocols their number") {
    Sample s;
    s.ev.packet.l3 = L3::ipv6;
    s.ev.packet.protocol = 58;
    s.ev.packet.has_ports = false;
    s.ev.packet.has_icmp = true;
    s.ev.packet.icmp_type = 128;
    CHECK(s.line().find(R"("protocol":"ICMPv6","mark":"0x1","icmp_type":128,)") !=
          std::string::npos);
    s.ev.packet.protocol = 47;
    s.ev.packet.has_icmp = false;
    CHECK(s.line().find(R"("protocol":"47",)") != std::string::npos);
}

TEST_CASE("a non-first fragment has zero ports, as the kernel printed none") {
    Sample s;
    s.ev.packet.has_ports = false;
    s.ev.packet.has_transport = false;
    s.ev.packet.is_fragment = true;
    CHECK(s.line().find(R"("src_port":0,"dst_port":0,"protocol":"TCP",)") != std::string::npos);
}

TEST_CASE("an unknown container has empty strings and still the host fields") {
    Sample s;
    s.ev.container = nullptr;
    CHECK(
        s.line().find(
            R"("source":{"container_id":"","app_guid":"","space_guid":"","organization_guid":"","host_ip":"10.0.16.15","host_guid":"0455ec2b-11fa-41ab-9d1c-f3a575cd55ea"}}})") !=
        std::string::npos);
}

TEST_CASE("the lines parse as JSON and strings are escaped") {
    Sample s;
    s.container.handle = "a\"b\n\xff";
    s.opt.host_guid = "g\\";
    const auto j = nlohmann::json::parse(s.line());
    CHECK(j["data"]["source"]["container_id"] == "a\"b\n\xef\xbf\xbd");
    CHECK(j["data"]["source"]["host_guid"] == "g\\");
    CHECK(j["data"]["packet"]["allowed"] == true);
}
