// Replay: pcap records -> nflog_parse_dlt_record -> Pipeline -> stdout.
#include "replay.h"

#include "ifnames.h"
#include "limit.h"
#include "load.h"
#include "pcap_reader.h"
#include "sinks.h"
#include "store_watcher.h"

#include <netlog/accounting.h>
#include <netlog/pipeline.h>

#include <fmt/format.h>

#include <algorithm>

namespace netlog::daemon {

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

    PipelineOptions popt;
    popt.unclassified = cfg.unclassified;
    popt.outputs.push_back(output_spec(cfg, out));
    Pipeline pipeline(*rules, std::move(popt));
    pipeline.set_containers(index.get());
    io::IfNames names;
    if (o.resolve_interfaces) pipeline.set_interfaces(&names);
    // Rate limiting as live, on the capture's clock (limit.h).
    Config stage_cfg = cfg;
    stage_cfg.outputs = {out};
    auto stage_r = OutputStage::make(stage_cfg, *rules);
    if (!stage_r) {
        fmt::print(stderr, "netlogd: {}\n", stage_r.error().message);
        return 1;
    }
    auto &stage = **stage_r;
    stage.set_containers(index.get());

    auto sink = io::make_stdout_sink();
    std::uint64_t bad_records = 0;
    Event ev;
    auto stats = io::pcap_read_nflog(o.capture, [&](Bytes rec, Timestamp ts) {
        auto msg = nflog_parse_dlt_record(rec);
        if (!msg) {
            ++bad_records;
            if (bad_records == 1)
                fmt::print(stderr, "netlogd: {}: record skipped: {}\n", o.capture,
                           msg.error().message);
            return;
        }
        if (pipeline.build(*msg, ts, ev) &&
            stage.admit(ev, ts.sec * 1'000'000'000 + ts.nsec, sink->buffer()))
            stage.format(pipeline, ev, 0, sink->buffer());
        if (sink->buffer().size() > (1u << 20)) sink->flush();
    });
    stage.flush(0, sink->buffer(), true);
    sink->flush();
    if (!stats) {
        fmt::print(stderr, "netlogd: {}\n", stats.error().message);
        return 1;
    }
    const auto &c = pipeline.counters();
    // Every record is an event the kernel logged: emitted, suppressed or dropped.
    Accounting a;
    a.kernel_logged = stats->records;
    a.suppressed = stage.counters().suppressed_total;
    a.emitted = c.emitted - std::min(c.emitted, a.suppressed);
    a.drops(DropReason::decode_error) = c.decode_errors + bad_records;
    a.drops(DropReason::unclassified) = c.unclassified_dropped;
    fmt::print(stderr,
               "netlogd: replay {}: records={} emitted={} decode_errors={} unclassified={} "
               "unclassified_dropped={} enriched={} (rules {})\n",
               o.capture, stats->records, a.emitted, a.drops(DropReason::decode_error),
               c.unclassified, c.unclassified_dropped, c.enriched, rules_source);
    if (stage.limiting()) {
        const auto &rl = stage.counters();
        fmt::print(stderr, "netlogd: replay {}: suppressed={} suppression_summaries={}\n", o.capture,
                   rl.suppressed_total, rl.summaries);
    }
    return sink->counters().dropped ? 1 : 0;
}

} // namespace netlog::daemon
