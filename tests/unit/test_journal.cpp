// Journal entries: framing, fields, PRIORITY, and the journal's field-name rules
// (../shared/facts/ecs.md section 6: A-Z, 0-9, '_', not first a digit or '_', <= 64 chars).
#include <doctest/doctest.h>
#include <netlog/container.h>
#include <netlog/format.h>
#include <netlog/journal.h>
#include <netlog/pipeline.h>

#include <map>
#include <string>
#include <vector>

using namespace netlog;

namespace {

using Fields = std::multimap<std::string, std::string>;

std::vector<Fields> read_entries(std::string_view buf) {
    JournalEntries r(buf);
    std::vector<std::string_view> f;
    std::vector<Fields> out;
    while (r.next(f)) {
        Fields m;
        for (auto x : f) {
            const auto eq = x.find('=');
            REQUIRE(eq != std::string_view::npos);
            m.emplace(std::string(x.substr(0, eq)), std::string(x.substr(eq + 1)));
        }
        out.push_back(std::move(m));
    }
    CHECK_FALSE(r.broken());
    CHECK(r.offset() == buf.size());
    return out;
}

bool valid_name(std::string_view n) {
    if (n.empty() || n.size() > 64 || n[0] == '_' || (n[0] >= '0' && n[0] <= '9')) return false;
    for (char c : n)
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
    return true;
}

struct Tcp {
    NflogMessage msg;
    ClassDef cls;
    Container c;
    Event ev;
    explicit Tcp(std::string_view prefix = "DENY_C2C_cb40f81e-52ce-41c5-") {
        msg.prefix = prefix;
        msg.mark = 2;
        cls.name = "c2c-ingress-denied";
        c.handle = "cb40f81e-52ce-41c5-7a89-f01e";
        c.app_guid = "c5836386-b934-424a-8d93-5894115b3130";
        c.space_guid = "8bd0678d-c5fd-4991-8a5c-a75c75440e0b";
        c.organization_guid = "d95a6357-6124-48fe-80f9-c8ff6c250a6e";
        ev.msg = &msg;
        const LogOptionsView tag = prefix_tag_split(msg.prefix); // as the pipeline does
        ev.prefix = tag.prefix;
        ev.log_level = tag.level;
        ev.log_flags = tag.flags;
        ev.cls = &cls;
        ev.container = &c;
        ev.direction = Direction::ingress;
        ev.verdict = Verdict::denied;
        ev.time = {1495732374, 512016535};
        ev.in_name = "s-010255015013";
        ev.packet.l3 = L3::ipv4;
        ev.packet.src = ip_from_text("10.255.15.13");
        ev.packet.dst = ip_from_text("10.255.15.7");
        ev.packet.protocol = 6;
        ev.packet.has_ports = true;
        ev.packet.src_port = 36004;
        ev.packet.dst_port = 8080;
    }
};

std::string entry(const Event &ev, const JournalOptions &o, std::string_view line) {
    std::string out;
    const auto at = journal_message_begin(out);
    out += line;
    journal_message_end(out, at);
    journal_event_fields(ev, o, out);
    return out;
}

} // namespace

TEST_CASE("a journal entry carries MESSAGE and the NETLOG_* fields an operator queries") {
    Tcp t;
    JournalOptions o;
    o.enabled = true;
    const auto e = read_entries(entry(t.ev, o, "{\"a\":1}\n"));
    REQUIRE(e.size() == 1);
    const auto &f = e[0];
    for (const auto &[k, v] : f) {
        const auto &key = k; // clang 14 cannot capture a structured binding
        CAPTURE(key);
        CHECK(valid_name(k));
        CHECK(!v.empty()); // absent rather than empty
    }
    const std::map<std::string, std::string> want = {
        {"MESSAGE", "{\"a\":1}"}, // the line without its '\n'
        {"PRIORITY", "6"},
        {"SYSLOG_IDENTIFIER", "netlogd"},
        {"NETLOG_MESSAGE", "ingress-denied"},
        {"NETLOG_CLASS", "c2c-ingress-denied"},
        {"NETLOG_TIMESTAMP", "1495732374.512016535"},
        {"NETLOG_SRC_IP", "10.255.15.13"},
        {"NETLOG_DST_IP", "10.255.15.7"},
        {"NETLOG_SRC_PORT", "36004"},
        {"NETLOG_DST_PORT", "8080"},
        {"NETLOG_PROTOCOL", "tcp"},
        // the bar's own packet (facts/ecs.md section 4)
        {"NETLOG_COMMUNITY_ID", "1:CCX0ljfrDpHlCepFJA4vanPvERc="},
        {"NETLOG_PREFIX", "DENY_C2C_cb40f81e-52ce-41c5-"},
        {"NETLOG_MARK", "0x2"},
        {"NETLOG_IN_INTERFACE", "s-010255015013"},
        {"NETLOG_CONTAINER_ID", "cb40f81e-52ce-41c5-7a89-f01e"},
        {"NETLOG_APP_GUID", "c5836386-b934-424a-8d93-5894115b3130"},
        {"NETLOG_SPACE_GUID", "8bd0678d-c5fd-4991-8a5c-a75c75440e0b"},
        {"NETLOG_ORGANIZATION_GUID", "d95a6357-6124-48fe-80f9-c8ff6c250a6e"},
    };
    CHECK(f.size() == want.size());
    for (const auto &[k, v] : want) {
        const auto &key = k; // clang 14 cannot capture a structured binding
        CAPTURE(key);
        REQUIRE(f.count(k) == 1);
        CHECK(f.find(k)->second == v);
    }
}

TEST_CASE("PRIORITY: the output's setting, else the LOG rule's level for klog, else info") {
    Tcp tagged("DENY_x~nl20a"); // level 2 (crit)
    Tcp plain("DENY_x");
    JournalOptions json_out, klog_out, fixed;
    json_out.enabled = klog_out.enabled = fixed.enabled = true;
    klog_out.klog = true;
    klog_out.identifier = "kernel";
    fixed.priority = 5;
    fixed.klog = true;
    CHECK(journal_priority(tagged.ev, json_out) == 6);
    CHECK(journal_priority(tagged.ev, klog_out) == 2);
    CHECK(journal_priority(plain.ev, klog_out) == 4); // LOG's default level
    CHECK(journal_priority(tagged.ev, fixed) == 5);
    const auto e = read_entries(entry(tagged.ev, klog_out, "DENY_x IN= OUT= \n"));
    CHECK(e[0].find("PRIORITY")->second == "2");
    CHECK(e[0].find("SYSLOG_IDENTIFIER")->second == "kernel");
    CHECK(e[0].find("SYSLOG_FACILITY")->second == "0");
    CHECK(e[0].find("NETLOG_PREFIX")->second == "DENY_x"); // without the options tag
    CHECK(e[0].find("MESSAGE")->second == "DENY_x IN= OUT= ");
}

TEST_CASE("journal values keep any byte, and entries follow each other in one buffer") {
    Tcp a("line\nbreak\x01");
    Tcp b;
    b.ev.container = nullptr;
    b.ev.packet.has_ports = false;
    b.ev.packet.protocol = 1;
    b.ev.packet.has_icmp = true;
    b.ev.packet.icmp_type = 8;
    JournalOptions o;
    o.enabled = true;
    o.host_ip = "10.0.16.15";
    std::string buf = entry(a.ev, o, "first\n") + entry(b.ev, o, "second\n");
    const auto e = read_entries(buf);
    REQUIRE(e.size() == 2);
    CHECK(e[0].find("NETLOG_PREFIX")->second == "line\nbreak\x01");
    CHECK(e[0].find("NETLOG_HOST_IP")->second == "10.0.16.15");
    CHECK(e[1].count("NETLOG_CONTAINER_ID") == 0);
    CHECK(e[1].count("NETLOG_SRC_PORT") == 0);
    CHECK(e[1].find("NETLOG_ICMP_TYPE")->second == "8");
    CHECK(e[1].find("NETLOG_ICMP_CODE")->second == "0");
    CHECK(e[1].find("MESSAGE")->second == "second");
    CHECK(journal_count_entries(buf) == 2);
    // a cut buffer: whole entries only, and the reader says it is broken
    const std::string cut = buf.substr(0, buf.size() - 3);
    CHECK(journal_count_entries(cut) == 1);
    JournalEntries r(cut);
    std::vector<std::string_view> f;
    CHECK(r.next(f));
    CHECK_FALSE(r.next(f));
    CHECK(r.broken());
}

TEST_CASE("the pipeline frames a journal output's lines, summaries included, in its format") {
    auto parsed = rules_parse("nflog: {group: 42}\nclasses:\n  - {name: asg-egress-denied, "
                              "log_prefix: '^DENY_', direction: egress, verdict: denied}\n",
                              "rules.yaml");
    REQUIRE_MESSAGE(parsed.ok(), parsed.error().message);
    const RulesFile &rules = *parsed;
    Config c;
    OutputConfig o;
    o.type = OutputType::journal;
    o.format = OutputFormat::ecs;
    o.journal.identifier = "netlog-test";
    const auto spec = output_spec(c, o);
    CHECK(spec.journal.enabled);
    CHECK(spec.journal.identifier == "netlog-test");
    CHECK_FALSE(spec.journal.klog);
    OutputConfig file;
    file.type = OutputType::file;
    CHECK_FALSE(output_spec(c, file).journal.enabled);

    PipelineOptions po;
    po.outputs.push_back(spec);
    Pipeline p(rules, po);
    Tcp t;
    t.ev.cls = &rules.classes[0];
    std::string out;
    p.format(t.ev, 0, out);
    const auto e = read_entries(out);
    REQUIRE(e.size() == 1);
    const auto msg = e[0].find("MESSAGE")->second;
    CHECK(msg.rfind("{\"@timestamp\":\"2017-05-25T17:12:54.512016535Z\"", 0) == 0);
    CHECK(msg.back() == '}');
    CHECK(e[0].find("SYSLOG_IDENTIFIER")->second == "netlog-test");
}

TEST_CASE("a rate-limit summary in the journal says what was suppressed, for whom, how many") {
    ClassDef cls;
    cls.name = "asg-egress-denied";
    Container c;
    c.handle = "h1";
    SuppressionEvent s;
    s.cls = &cls;
    s.container = &c;
    s.ip = ip_from_text("10.255.15.7");
    s.count = 17;
    JournalOptions o;
    o.enabled = true;
    std::string out;
    const auto at = journal_message_begin(out);
    format_suppression_klog(s, out);
    journal_message_end(out, at);
    journal_summary_fields(s, o, out);
    const auto e = read_entries(out);
    REQUIRE(e.size() == 1);
    CHECK(e[0].find("NETLOG_MESSAGE")->second == "egress-denied-suppressed");
    CHECK(e[0].find("NETLOG_SUPPRESSED")->second == "17");
    CHECK(e[0].find("NETLOG_SRC_IP")->second == "10.255.15.7");
    CHECK(e[0].count("NETLOG_DST_IP") == 0);
    CHECK(e[0].find("NETLOG_CONTAINER_ID")->second == "h1");
    CHECK(e[0].find("NETLOG_CLASS")->second == "asg-egress-denied");
    CHECK(e[0].find("PRIORITY")->second == "6");
    CHECK(e[0].find("MESSAGE")->second.rfind("netlog: suppressed 17 asg-egress-denied events", 0) ==
          0);
}
