#include <doctest/doctest.h>
#include <netlog/summary.h>
#include <nlohmann/json.hpp>

using namespace netlog;

TEST_CASE("RFC 3339 times agree with date(1)") {
    // Expected values computed with GNU date, e.g. `date -u -d @1500923950 +%FT%T`.
    struct {
        std::int64_t sec;
        std::uint32_t ns;
        const char *text;
    } cases[] = {
        {1714779307, 123456789, "2024-05-03T23:35:07.123456789Z"}, // the facts' rfc3339 sample
        {1500923950, 331232071, "2017-07-24T19:19:10.331232071Z"}, // the facts' epoch sample
        {951825600, 0, "2000-02-29T12:00:00.000000000Z"},
        {-1, 5, "1969-12-31T23:59:59.000000005Z"},
    };
    for (auto &c : cases) {
        std::string out;
        append_rfc3339(out, Timestamp{c.sec, c.ns});
        CHECK(out == c.text);
    }
}

static SuppressionEvent sample(const ClassDef *cls, const Container *ct) {
    SuppressionEvent s;
    s.direction = Direction::egress;
    s.verdict = Verdict::denied;
    s.cls = cls;
    s.container = ct;
    s.ip.family = L3::ipv4;
    s.ip.bytes = {10, 255, 15, 7};
    s.count = 1234;
    s.first = {1714779307, 1};
    s.last = {1714779317, 2};
    return s;
}

TEST_CASE("a suppression summary is a valid JSON line saying how many, when, for whom") {
    ClassDef cls;
    cls.name = "asg-egress-denied";
    Container ct;
    ct.handle = "d5978989-1401-49ff-46cd-33e5";
    ct.app_guid = "bc6f229d";
    ct.space_guid = "b9f8\"6312";
    ct.organization_guid = "604b\\d59e";
    std::string out;
    format_suppression_json(sample(&cls, &ct), JsonOptions{}, out);
    REQUIRE(out.back() == '\n');
    const auto j = nlohmann::json::parse(out);
    CHECK(j["message"] == "egress-denied-suppressed");
    CHECK(j["source"] == "network-log-forwarder");
    CHECK(j["log_level"] == 1);
    CHECK(j["timestamp"] == "1714779317.000000002");
    CHECK(j["data"]["count"] == 1234);
    CHECK(j["data"]["source"]["container_id"] == "d5978989-1401-49ff-46cd-33e5");
    CHECK(j["data"]["source"]["space_guid"] == "b9f8\"6312");
    CHECK(j["data"]["source"]["organization_guid"] == "604b\\d59e");
    CHECK(j["data"]["first"] == "1714779307.000000001");
    CHECK(j["data"]["class"] == "asg-egress-denied");
    CHECK(j["data"]["ip"] == "10.255.15.7");
    CHECK(out.rfind("{\"timestamp\":", 0) == 0); // timestamp first, as in every event

    std::string none;
    format_suppression_json(sample(nullptr, nullptr), JsonOptions{}, none);
    const auto n = nlohmann::json::parse(none);
    CHECK(n["data"]["source"]["app_guid"] == "");
}

TEST_CASE("iptables-logger summaries keep the timestamp style of their output") {
    ClassDef cls;
    cls.name = "asg-egress-denied";
    IptablesLoggerOptions rfc;
    rfc.host_ip = "10.0.16.15";
    rfc.host_guid = "0455ec2b";
    std::string a;
    format_suppression_iptables_logger(sample(&cls, nullptr), rfc, a);
    const auto ja = nlohmann::json::parse(a);
    CHECK(a.rfind("{\"timestamp\":\"2024-05-03T23:35:17.000000002Z\",\"level\":\"info\",", 0) == 0);
    CHECK(ja["message"] == "cfnetworking.iptables.egress-denied-suppressed");
    CHECK(ja["data"]["suppressed"]["count"] == 1234);
    CHECK(ja["data"]["source"]["host_ip"] == "10.0.16.15");
    CHECK_FALSE(ja.contains("log_level"));
    IptablesLoggerOptions ep = rfc;
    ep.time_style = IptablesLoggerOptions::TimeStyle::epoch;
    std::string b;
    format_suppression_iptables_logger(sample(&cls, nullptr), ep, b);
    const auto jb = nlohmann::json::parse(b);
    CHECK(jb["timestamp"] == "1714779317.000000002");
    CHECK(jb["log_level"] == 1);
    // data's keys in the order of iptables-logger's Go map (sorted): the container first
    CHECK(b.find(R"("log_level":1,"data":{"source":{"container_id":"",)") != std::string::npos);
    CHECK(b.find(R"("host_guid":"0455ec2b"},"suppressed":{"direction":"egress",)") !=
          std::string::npos);
}

TEST_CASE("klog summaries are one printable line") {
    ClassDef cls;
    cls.name = "asg-egress-denied";
    Container ct;
    ct.handle = "bad\nhandle";
    std::string out;
    format_suppression_klog(sample(&cls, &ct), out);
    CHECK(out == "netlog: suppressed 1234 asg-egress-denied events for 10.255.15.7 (container "
                 "bad?handle) from 1714779307.000000001 to 1714779317.000000002\n");
}
