// libpcap offline reading of DLT_NFLOG captures, nanosecond timestamps.
#include "pcap_reader.h"

#include <fmt/format.h>
#include <pcap/pcap.h>

#include <memory>

namespace netlog::io {

namespace {
struct PcapClose {
    void operator()(pcap_t *p) const { pcap_close(p); }
};
} // namespace

Result<PcapStats> pcap_read_nflog(const std::string &path,
                                  const std::function<void(Bytes, Timestamp)> &on_record) {
    char err[PCAP_ERRBUF_SIZE] = {};
    std::unique_ptr<pcap_t, PcapClose> p(
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err));
    if (!p)
        return make_error(fmt::format("{}: cannot read the capture: {} (expected a pcap file "
                                      "from `tcpdump -i nflog:GROUP -w FILE`)",
                                      path, err));
    const int dlt = pcap_datalink(p.get());
    if (dlt != DLT_NFLOG) {
        const char *name = pcap_datalink_val_to_name(dlt);
        return make_error(fmt::format(
            "{}: link type {} ({}) is not NFLOG: record the capture with `tcpdump -i nflog:GROUP "
            "-w FILE`",
            path, name ? name : "unknown", dlt));
    }
    const bool nano = pcap_get_tstamp_precision(p.get()) == PCAP_TSTAMP_PRECISION_NANO;
    PcapStats stats;
    for (;;) {
        pcap_pkthdr *h = nullptr;
        const u_char *data = nullptr;
        const int rc = pcap_next_ex(p.get(), &h, &data);
        if (rc == PCAP_ERROR_BREAK) break; // end of file
        if (rc != 1)
            return make_error(fmt::format("{}: record {}: {}", path, stats.records + 1,
                                          pcap_geterr(p.get())));
        ++stats.records;
        if (h->caplen < h->len) ++stats.truncated;
        Timestamp ts;
        ts.sec = h->ts.tv_sec;
        ts.nsec = static_cast<std::uint32_t>(nano ? h->ts.tv_usec : h->ts.tv_usec * 1000);
        on_record(Bytes(data, h->caplen), ts);
    }
    return stats;
}

} // namespace netlog::io
