#include <doctest/doctest.h>
#include <algorithm>
#include <cstring>
#include "counters.h"
#include "metrics.h"

using namespace netlog;

// Captured on this machine (kernel 6.18) inside a namespace while `tcpdump -i nflog:77`
// was bound: /proc/net/netfilter/nfnetlink_log and /proc/net/netlink.
static constexpr std::string_view real_nfnetlink_log = "   77  17913     0 2 65531    100  1\n";
static constexpr std::string_view real_netlink =
    "sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode\n"
    "00000000d9a80924 0   0          00000000 0        0        0     2        0        53788   \n"
    "000000005cf3817e 12  0          00000000 0        0        0     2        0        53795   \n"
    "00000000fa2fd012 12  17913      00000000 4352     0        0     2        37       53812   \n";

TEST_CASE("the kernel's NFLOG group table is read from /proc/net/netfilter/nfnetlink_log") {
    const auto g = kernel_parse_nfnetlink_log(real_nfnetlink_log);
    REQUIRE(g.size() == 1);
    CHECK(g[0].group == 77);
    CHECK(g[0].portid == 17913);
    CHECK(g[0].queue_len == 0);
    CHECK(g[0].copy_mode == 2); // NFULNL_COPY_PACKET
    CHECK(g[0].copy_range == 65531);
    CHECK(g[0].flush_timeout == 100);
    CHECK(kernel_parse_nfnetlink_log("garbage\n  1 2\n").empty());
}

TEST_CASE("our socket's drops are read from /proc/net/netlink by port id, netfilter only") {
    KernelSocketView v;
    REQUIRE(kernel_parse_netlink(real_netlink, 17913, v));
    CHECK(v.drops == 37);
    CHECK(v.rmem == 4352);
    CHECK_FALSE(kernel_parse_netlink(real_netlink, 4242, v));
}

TEST_CASE("metrics render in the Prometheus text format with HELP, TYPE and labels") {
    MetricsSnapshot m;
    m.ready = true;
    m.received = 10;
    m.kernel_logged = 12;
    m.dropped[static_cast<std::size_t>(DropReason::seq_gap)] = 2;
    m.outputs.push_back({"/var/log/netlog/a \"b\".log", "file", "json", 10, 4500, 0, 0, 1, 0});
    m.classes.push_back({"asg-egress-denied", 7, 3});
    m.reconcile_latency.observe(0.004);
    m.reconcile_latency.observe(0.2);
    const auto t = metrics_render(m);
    CHECK(
        t.find("# TYPE netlog_events_received_total counter\nnetlog_events_received_total 10\n") !=
        std::string::npos);
    CHECK(t.find("netlog_events_dropped_total{reason=\"seq_gap\"} 2\n") != std::string::npos);
    CHECK(t.find("netlog_events_dropped_total{reason=\"queue_full\"} 0\n") != std::string::npos);
    CHECK(t.find("output=\"/var/log/netlog/a \\\"b\\\".log\"") != std::string::npos);
    CHECK(t.find("netlog_events_suppressed_total{class=\"asg-egress-denied\"} 3\n") !=
          std::string::npos);
    CHECK(t.find("netlog_rule_reconcile_latency_seconds_bucket{le=\"0.005\"} 1\n") !=
          std::string::npos);
    CHECK(t.find("netlog_rule_reconcile_latency_seconds_bucket{le=\"0.25\"} 2\n") !=
          std::string::npos);
    CHECK(t.find("netlog_rule_reconcile_latency_seconds_bucket{le=\"+Inf\"} 2\n") !=
          std::string::npos);
    CHECK(t.find("netlog_rule_reconcile_latency_seconds_count 2\n") != std::string::npos);
    // every sample line's family has a TYPE line before it; every name starts with netlog_
    std::size_t pos = 0;
    while (pos < t.size()) {
        auto nl = t.find('\n', pos);
        auto line = t.substr(pos, nl - pos);
        pos = nl + 1;
        if (line.rfind("# ", 0) == 0) continue;
        CHECK(line.rfind("netlog_", 0) == 0);
        auto name = line.substr(0, line.find_first_of(" {"));
        for (auto suf : {"_bucket", "_sum", "_count"})
            if (name.size() > std::strlen(suf) &&
                name.compare(name.size() - std::strlen(suf), std::string::npos, suf) == 0 &&
                t.find("# TYPE " + name + " ") == std::string::npos)
                name = name.substr(0, name.size() - std::strlen(suf));
        CHECK_MESSAGE(t.find("# TYPE " + name + " ") != std::string::npos, name);
    }
}

TEST_CASE("the identity says whether every kernel event is accounted for") {
    MetricsSnapshot m;
    m.kernel_logged = 100;
    m.emitted = 88;
    m.suppressed = 5;
    m.in_flight = 2;
    m.dropped[static_cast<std::size_t>(DropReason::queue_full)] = 5;
    m.dropped[static_cast<std::size_t>(DropReason::sink)] = 50; // lines, not events: not summed
    CHECK(metrics_identity(m).find("identity holds") != std::string::npos);
    m.kernel_logged = 101;
    CHECK(metrics_identity(m).find("IDENTITY BROKEN: 1 events unaccounted") != std::string::npos);
}

TEST_CASE("metrics text parses back into the snapshot it was rendered from") {
    MetricsSnapshot m;
    m.ready = true;
    m.start_time_seconds = 1763888000.25;
    m.received = 50'000;
    m.kernel_logged = 50'123;
    m.emitted = 49'000;
    m.unclassified = 7;
    m.enobufs_errors = 3;
    m.dropped[static_cast<std::size_t>(DropReason::kernel_enobufs)] = 100;
    m.dropped[static_cast<std::size_t>(DropReason::seq_gap)] = 23;
    m.dropped[static_cast<std::size_t>(DropReason::queue_full)] = 900;
    m.dropped[static_cast<std::size_t>(DropReason::decode_error)] = 1;
    m.dropped[static_cast<std::size_t>(DropReason::sink)] = 4;
    m.dropped[static_cast<std::size_t>(DropReason::unclassified)] = 2;
    m.outputs.push_back(
        {"/var/log/netlog/a \"b\"\\c.log", "file", "json", 49'000, 9'000'000, 4, 1, 2, 0});
    m.outputs.push_back({"tcp://127.0.0.1:5514", "syslog", "klog", 48'990, 8'000'000, 10, 3, 0, 5});
    m.classes.push_back({"asg-egress-denied", 0, 90});
    m.classes.push_back({"unclassified", 0, 7});
    m.suppressed = 97;
    m.suppression_summaries = 4;
    m.store_reloads_ok = 5;
    m.store_reloads_failed = 1;
    m.containers = 250;
    m.rule_reconciles = 2;
    m.reconcile_latency.observe(0.004);
    m.reconcile_latency.observe(7);
    m.queue_depth = 12;
    m.queue_capacity = 65536;
    m.in_flight = 0;
    m.kernel_groups.push_back({42, 17913, 3, 2, 128, 20, 1});
    m.kernel_socket = {17913, 4352, 37};

    const auto text = metrics_render(m);
    const auto parsed = metrics_parse(text);
    REQUIRE(parsed.ok());
    const MetricsSnapshot &p = *parsed;
    CHECK(p.ready);
    CHECK(p.received == 50'000);
    CHECK(p.kernel_logged == 50'123);
    CHECK(p.emitted == 49'000);
    CHECK(p.dropped == m.dropped);
    CHECK(p.suppressed == 97);
    REQUIRE(p.outputs.size() == 2);
    CHECK(p.outputs[0].name == m.outputs[0].name);
    CHECK(p.outputs[1].reconnects == 5);
    CHECK(p.reconcile_latency.total == 2);
    CHECK(p.reconcile_latency.counts.back() == 1);
    REQUIRE(p.kernel_groups.size() == 1);
    CHECK(p.kernel_groups[0].copy_range == 128);
    CHECK(p.kernel_socket.drops == 37);
    // the whole text survives the round trip, byte for byte
    CHECK(metrics_render(p) == text);
    // and so does the identity a person reads
    CHECK(metrics_identity(p) == metrics_identity(m));
}

TEST_CASE("a metrics line that is not a sample is refused with the line") {
    const auto bad = metrics_parse("netlog_up 1\nnetlog_events_received_total{reason=\"x} 3\n");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message.find("netlog_events_received_total{reason=") != std::string::npos);
    CHECK_FALSE(metrics_parse("netlog_up one\n").ok());
    // other exporters' families and comments are ignored
    const auto other =
        metrics_parse("# HELP go_goroutines x\ngo_goroutines 7\nnetlog_events_emitted_total 3\n");
    REQUIRE(other.ok());
    CHECK(other->emitted == 3);
}

TEST_CASE("an event is emitted or suppressed, never both: the counters line and emitted()") {
    CountersSnapshot s;
    s.received = 100;
    s.pipeline.processed = 100;
    s.pipeline.emitted = 90; // built, before the rate limit
    s.pipeline.decode_errors = 4;
    s.pipeline.unclassified_dropped = 6;
    s.rate_limit.enabled = true;
    s.rate_limit.suppressed_total = 30;
    s.rate_limit.summaries = 3;
    CHECK(s.emitted() == 60);
    CHECK(s.received == s.emitted() + s.rate_limit.suppressed_total + s.pipeline.decode_errors +
                            s.pipeline.unclassified_dropped);
    const auto line = counters_line(s);
    CHECK(line.find("emitted=60 ") != std::string::npos);
    CHECK(line.find("suppressed=30 suppression_summaries=3") != std::string::npos);
}

TEST_CASE("identity across the threads: what the kernel logged is read, lost in a gap or an "
          "overrun, dropped by the full queue, or still queued; the pipeline settles the rest") {
    // A kernel that logged 1,000 events (NFLOG sequence numbers 0..999 of one group): the
    // reader saw 950 of them (30 missing after an ENOBUFS overrun, 20 in other gaps), the
    // full queue dropped 100, 40 wait in the queue, the pipeline took 810: 700 built (of
    // which the rate limit suppressed 50), 60 decode errors, 50 unclassified and dropped.
    CountersSnapshot s;
    s.received = 950;
    s.lost_enobufs = 30;
    s.lost_gap = 20;
    s.queue_dropped = 100;
    s.pipeline.processed = 810;
    s.pipeline.emitted = 700;
    s.pipeline.decode_errors = 60;
    s.pipeline.unclassified_dropped = 50;
    s.rate_limit.suppressed_total = 50;
    s.outputs.push_back({"file", 650, 0, 7, 0, 0}); // 7 lines the output could not write
    const Accounting a = s.accounting();
    CHECK(a.kernel_logged == 1000);
    CHECK(a.emitted == 650);
    CHECK(a.suppressed == 50);
    CHECK(a.in_flight == 40);
    CHECK(a.drops(DropReason::sink) == 7);
    CHECK(a.lost() == 30 + 20 + 100 + 60 + 50);
    CHECK(a.holds());

    // Rendered and scraped back (what `netlogd --stats` does), the identity still holds.
    MetricsSnapshot m;
    static_cast<Accounting &>(m) = a;
    m.classes.push_back({"c2c-ingress-denied", 0, 50}); // suppressed is exposed per class
    const auto parsed = metrics_parse(metrics_render(m));
    REQUIRE(parsed.ok());
    const MetricsSnapshot &back = *parsed;
    CHECK(back.kernel_logged == 1000);
    CHECK(back.holds());
    CHECK(metrics_identity(back).find("identity holds") != std::string::npos);

    // One event the pipeline lost track of: the identity says so.
    s.pipeline.processed = 811;
    CHECK_FALSE(s.accounting().holds());
}

// /proc/self/stat of a python3 process after a 1.3 s busy loop and /proc/stat's btime,
// captured on this machine (kernel 6.18, CLK_TCK 100, 4 KiB pages). Expected values: what
// Debian's python3-prometheus-client 0.16 ProcessCollector reported for the same two files
// (virtual 16961536, resident 13692928, start 1796204525.96, cpu 0.28).
static constexpr std::string_view real_self_stat =
    "27266 (python3) S 27264 27264 11966 0 -1 4194304 2847 6565 3 0 28 0 7 0 20 0 1 0 197796 "
    "16961536 3343 18446744073709551615 94734230790144 94734230790485 140729740514432 0 0 0 "
    "65536 16781318 0 1 0 0 17 1 0 0 0 0 0 94734230801840 94734230802456 94735228911616 "
    "140729740515302 140729740515541 140729740515541 140729740517327 0\n";
static constexpr double real_btime = 1796202548; // /proc/stat: "btime 1796202548"

TEST_CASE("process metrics are read from /proc/self/stat as the Prometheus clients read them") {
    ProcessView v;
    REQUIRE(process_parse_stat(real_self_stat, real_btime, 100, 4096, v));
    CHECK(v.known);
    CHECK(v.virtual_bytes == 16961536);
    CHECK(v.resident_bytes == 13692928);
    CHECK(v.start_time_seconds == doctest::Approx(1796204525.96));
    CHECK(v.cpu_seconds == doctest::Approx(0.28));
}

TEST_CASE("a command name with spaces and parentheses does not shift the stat fields") {
    // /proc/PID/stat of a copy of sleep(1) named "a) b (c", captured on this machine; ps
    // said VSZ 2920 KiB and a start at 1796204521 (lstart, whole seconds).
    const std::string_view stat =
        "27013 (a) b (c) S 1 27009 11966 0 -1 4194304 140 0 0 0 0 0 0 0 20 0 1 0 197302 2990080 "
        "391 18446744073709551615 94844725485568 94844725503497 140732454303488 0 0 0 0 6 0 1 0 "
        "0 17 0 0 0 0 0 0 94844725517584 94844725518848 94845782130688 140732454304396 "
        "140732454304412 140732454304412 140732454305771 0\n";
    ProcessView v;
    REQUIRE(process_parse_stat(stat, real_btime, 100, 4096, v));
    CHECK(v.virtual_bytes / 1024 == 2920);
    CHECK(static_cast<long>(v.start_time_seconds) == 1796204521);
    CHECK_FALSE(process_parse_stat("27013 (x S 1 2", real_btime, 100, 4096, v));
    CHECK_FALSE(process_parse_stat(stat, real_btime, 0, 4096, v));
}

TEST_CASE("the descriptor limit is the soft 'Max open files' of /proc/self/limits") {
    // the first lines of /proc/self/limits of a shell on this machine (soft limit 20000)
    const std::string_view limits =
        "Limit                     Soft Limit           Hard Limit           Units     \n"
        "Max cpu time              unlimited            unlimited            seconds   \n"
        "Max processes             96362                96362                processes \n"
        "Max open files            20000                20000                files     \n";
    CHECK(process_parse_max_fds(limits) == 20000);
    CHECK(process_parse_max_fds(
              "Max open files            unlimited            unlimited            files\n") == 0);
}

namespace {

// Every family's HELP/TYPE and samples in the order they appear: the families in order of
// their first line, and whether some family's lines are split by another's.
struct Blocks {
    std::vector<std::string> order;
    bool split = false;
};

Blocks family_blocks(const std::string &text) {
    Blocks b;
    std::string current;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto nl = text.find('\n', pos);
        const auto line = text.substr(pos, nl - pos);
        pos = nl + 1;
        std::string name;
        if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
            name = line.substr(7, line.find(' ', 7) - 7);
        } else {
            name = line.substr(0, line.find_first_of(" {"));
            for (const char *suffix : {"_bucket", "_sum", "_count"}) {
                const std::string s = suffix;
                if (name.size() > s.size() &&
                    name.compare(name.size() - s.size(), s.size(), s) == 0 &&
                    std::find(b.order.begin(), b.order.end(),
                              name.substr(0, name.size() - s.size())) != b.order.end())
                    name = name.substr(0, name.size() - s.size());
            }
        }
        if (name == current) continue;
        if (std::find(b.order.begin(), b.order.end(), name) != b.order.end()) b.split = true;
        b.order.push_back(name);
        current = name;
    }
    return b;
}

} // namespace

TEST_CASE("each metric family is one block: HELP, TYPE, then all its samples") {
    MetricsSnapshot m;
    m.outputs.push_back({"/a.log", "file", "json", 1, 2, 3, 4, 5, 6});
    m.outputs.push_back({"/b.log", "file", "klog", 1, 2, 3, 4, 5, 6});
    m.kernel_groups.push_back({1, 2, 3, 4, 5, 6, 7});
    m.kernel_groups.push_back({2, 2, 3, 4, 5, 6, 7});
    m.http.enabled = true;
    m.process.known = true;
    m.version = "1.2.3";
    const auto t = metrics_render(m);
    const auto b = family_blocks(t);
    CHECK_FALSE(b.split);
    CHECK(std::count(b.order.begin(), b.order.end(), "netlog_output_lines_total") == 1);
    CHECK(
        t.find(
            "# TYPE netlog_output_reopens_total counter\nnetlog_output_reopens_total{output=\"/a.log\",type=\"file\",format=\"json\"} 5\nnetlog_output_reopens_total{output=\"/b.log\"") !=
        std::string::npos);
    CHECK(t.find("netlog_build_info{version=\"1.2.3\"} 1\n") != std::string::npos);
    for (const char *f :
         {"process_cpu_seconds_total", "process_resident_memory_bytes",
          "process_virtual_memory_bytes", "process_start_time_seconds", "process_open_fds",
          "process_max_fds", "netlog_http_connections_refused_total"})
        CHECK_MESSAGE(t.find(std::string("# TYPE ") + f + " ") != std::string::npos, f);
}
