// libpcap offline reading of DLT_NFLOG captures, nanosecond timestamps.
#include "pcap_reader.h"
#include "unique_fd.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <memory>
#include <optional>
#include <pcap/pcap.h>
#include <unistd.h>
#include <vector>

namespace netlog::io {

namespace {
struct PcapClose {
    void operator()(pcap_t *p) const { pcap_close(p); }
};

// The classic pcap file format in this host's byte order (what tcpdump -w writes here),
// read in large blocks: libpcap's per-record stdio reads cost more than parsing the record.
// Returns nullopt for anything else (pcapng, the other byte order, unreadable), which
// libpcap then reads.
std::optional<Result<PcapStats>>
read_native(const std::string &path,
            const std::function<void(std::span<const PcapRecord>)> &on_records) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    const base::UniqueFd closer(fd);
    std::vector<std::uint8_t> buf(1u << 20);
    std::size_t have = 0, pos = 0;
    bool eof = false;
    // Records read from buf and not yet handed over: all of them go before buf moves.
    std::vector<PcapRecord> batch;
    batch.reserve(4096);
    const auto hand_over = [&] {
        if (batch.empty()) return;
        on_records(batch);
        batch.clear();
    };
    // Makes `need` bytes available at buf[pos]; false at the end of the file.
    const auto fill = [&](std::size_t need) {
        if (have - pos >= need) return true;
        hand_over();
        while (have - pos < need && !eof) {
            if (pos > 0) {
                std::memmove(buf.data(), buf.data() + pos, have - pos);
                have -= pos;
                pos = 0;
            }
            if (buf.size() < need) buf.resize(need);
            const auto n = ::read(fd, buf.data() + have, buf.size() - have);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                eof = true;
                break;
            }
            have += static_cast<std::size_t>(n);
        }
        return have - pos >= need;
    };
    struct FileHeader {
        std::uint32_t magic;
        std::uint16_t major, minor;
        std::int32_t zone;
        std::uint32_t sigfigs, snaplen, linktype;
    } fh;
    if (!fill(sizeof fh)) return std::nullopt;
    std::memcpy(&fh, buf.data(), sizeof fh);
    const bool nano = fh.magic == 0xa1b23c4du;
    if ((fh.magic != 0xa1b2c3d4u && !nano) || fh.major != 2 ||
        (fh.linktype & 0x03ffffffu) != DLT_NFLOG)
        return std::nullopt;
    pos = sizeof fh;
    PcapStats stats;
    for (;;) {
        struct RecordHeader {
            std::uint32_t sec, frac, caplen, len;
        } rh;
        if (!fill(sizeof rh)) {
            if (have == pos) break; // end of file
            return Result<PcapStats>(make_error(fmt::format(
                "{}: record {}: truncated dump file; tried to read {} header bytes, only got {}",
                path, stats.records + 1, sizeof rh, have - pos)));
        }
        std::memcpy(&rh, buf.data() + pos, sizeof rh);
        if (rh.caplen > 262144u) { // libpcap's limit (MAXIMUM_SNAPLEN)
            hand_over();
            return Result<PcapStats>(
                make_error(fmt::format("{}: record {}: invalid packet capture length {}", path,
                                       stats.records + 1, rh.caplen)));
        }
        if (!fill(sizeof rh + rh.caplen))
            return Result<PcapStats>(make_error(fmt::format(
                "{}: record {}: truncated dump file; tried to read {} captured bytes, only got {}",
                path, stats.records + 1, rh.caplen, have - pos - sizeof rh)));
        ++stats.records;
        if (rh.caplen < rh.len) ++stats.truncated;
        const Timestamp ts{static_cast<std::int64_t>(rh.sec), nano ? rh.frac : rh.frac * 1000};
        batch.push_back({Bytes(buf.data() + pos + sizeof rh, rh.caplen), ts});
        if (batch.size() == batch.capacity()) hand_over();
        pos += sizeof rh + rh.caplen;
    }
    hand_over();
    return Result<PcapStats>(stats);
}

} // namespace

Result<PcapStats>
pcap_read_nflog(const std::string &path,
                const std::function<void(std::span<const PcapRecord>)> &on_records) {
    if (auto r = read_native(path, on_records)) return std::move(*r);
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
            return make_error(
                fmt::format("{}: record {}: {}", path, stats.records + 1, pcap_geterr(p.get())));
        ++stats.records;
        if (h->caplen < h->len) ++stats.truncated;
        Timestamp ts;
        ts.sec = h->ts.tv_sec;
        ts.nsec = static_cast<std::uint32_t>(nano ? h->ts.tv_usec : h->ts.tv_usec * 1000);
        const PcapRecord one{Bytes(data, h->caplen), ts}; // valid until the next pcap_next_ex
        on_records(std::span<const PcapRecord>(&one, 1));
    }
    return stats;
}

} // namespace netlog::io
