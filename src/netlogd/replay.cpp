// Replay: pcap records -> nflog_parse_dlt_record -> Pipeline::process_message (as live)
// -> stdout.
#include "replay.h"

#include "ifnames.h"
#include "load.h"
#include "pcap_reader.h"
#include "pipeline_setup.h"
#include "sinks.h"
#include "store_watcher.h"

#include <netlog/accounting.h>
#include <netlog/pipeline.h>

#include <fmt/format.h>

#include <algorithm>

namespace netlog::daemon {

namespace {

// Every line to stdout's buffer (one output).
class StdoutLines final : public LineOutputs {
  public:
    explicit StdoutLines(io::Sink &s) : s_(s) {}
    std::string &line(std::size_t, int, std::string_view) override { return s_.buffer_for({}); }

  private:
    io::Sink &s_;
};

} // namespace

int replay(const ReplayOptions &o) {
    Config cfg;
    std::unique_ptr<RulesFile> rules;
    std::string rules_source = builtin_rules_name;
    if (!o.config_path.empty()) {
        auto l = load_config(o.config_path);
        if (!l) {
            fmt::print(stderr, "netlogd: {}\n", l.error().message);
            return 1;
        }
        cfg = std::move(l->config);
        rules = std::move(l->rules);
        rules_source = l->rules_source;
    }
    if (!o.rules_path.empty()) {
        auto r = load_rules(o.rules_path);
        if (!r) {
            fmt::print(stderr, "netlogd: {}\n", r.error().message);
            return 1;
        }
        rules = std::move(*r);
        rules_source = o.rules_path;
    }
    if (!rules) rules = builtin_rules();

    std::shared_ptr<const ContainerIndex> index;
    if (!cfg.store_path.empty()) {
        auto idx = StoreWatcher::load(cfg.store_path, std::chrono::milliseconds(1000));
        if (!idx) {
            fmt::print(stderr, "netlogd: {}\n", idx.error().message);
            return 1;
        }
        index = *idx;
    }

    OutputConfig out;
    out.type = OutputType::stdout_;
    if (!cfg.outputs.empty()) out = cfg.outputs.front();
    if (out.type == OutputType::journal) out.type = OutputType::stdout_; // replay prints lines
    out.format = o.format.value_or(cfg.outputs.empty() ? OutputFormat::json : out.format);
    if (out.format != OutputFormat::json) out.extras = {};

    // As live: the same options (rate limit on the capture's clock, kernel prefix), one
    // output.
    Config one = cfg;
    one.outputs = {out};
    auto setup = pipeline_setup(one);
    auto made = Pipeline::make(*rules, std::move(setup.options));
    if (!made) {
        fmt::print(stderr, "netlogd: {}\n", made.error().message);
        return 1;
    }
    auto &pipeline = **made;
    pipeline.set_containers(index.get());
    io::IfNames names;
    if (o.resolve_interfaces) pipeline.set_interfaces(&names);
    HostLocalTime local_time;
    pipeline.set_local_time(&local_time);

    auto sink = io::make_stdout_sink();
    StdoutLines lines(*sink);
    std::uint64_t bad_records = 0;
    BatchTime t;
    NflogMessage msg; // each record parsed into it in turn
    auto stats = io::pcap_read_nflog(o.capture, [&](std::span<const io::PcapRecord> records) {
        for (const auto &[rec, ts] : records) {
            t.received = ts;
            t.now_ns = ts.sec * 1'000'000'000 + ts.nsec;
            if (auto ok = nflog_parse_dlt_record(rec, msg); !ok) {
                pipeline.count_bad_message();
                if (++bad_records == 1)
                    fmt::print(stderr, "netlogd: {}: record skipped: {}\n", o.capture,
                               ok.error().message);
                continue;
            }
            pipeline.process_message(msg, t, lines);
            if (sink->buffer().size() > (1u << 20)) sink->flush();
        }
    });
    pipeline.flush(t, lines, true);
    sink->flush();
    if (!stats) {
        fmt::print(stderr, "netlogd: {}\n", stats.error().message);
        return 1;
    }
    const auto &c = pipeline.counters();
    // Every record is an event the kernel logged: emitted, suppressed or dropped.
    const Accounting a = pipeline.accounting();
    fmt::print(stderr,
               "netlogd: replay {}: records={} emitted={} decode_errors={} unclassified={} "
               "unclassified_dropped={} filtered={} enriched={} (rules {})\n",
               o.capture, stats->records, a.emitted, a.drops(DropReason::decode_error),
               c.unclassified, c.unclassified_dropped, c.filtered, c.enriched, rules_source);
    if (pipeline.limiting()) {
        const auto &rl = pipeline.rate_limit_counters();
        fmt::print(stderr, "netlogd: replay {}: suppressed={} suppression_summaries={}\n",
                   o.capture, rl.suppressed_total, rl.summaries);
    }
    return sink->counters().dropped ? 1 : 0;
}

} // namespace netlog::daemon
