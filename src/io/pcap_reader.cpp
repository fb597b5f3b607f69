// Offline reading of DLT_NFLOG captures, nanosecond timestamps: classic pcap files natively,
// anything else (pcapng, the other byte order) through libpcap, loaded only then.
#include "pcap_reader.h"
#include "unique_fd.h"

#include <cerrno>
#include <dlfcn.h>
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

// libpcap, opened with dlopen when a capture needs it: linked, it maps libdbus and, through
// it, libsystemd with its compression and crypto libraries into the daemon, which never
// reads a capture (about 1.3 MiB resident).
struct Libpcap {
    decltype(&pcap_open_offline_with_tstamp_precision) open_offline;
    decltype(&pcap_datalink) datalink;
    decltype(&pcap_datalink_val_to_name) datalink_name;
    decltype(&pcap_get_tstamp_precision) tstamp_precision;
    decltype(&pcap_next_ex) next_ex;
    decltype(&pcap_geterr) geterr;
    decltype(&pcap_close) close;
};
constexpr const char *libpcap_soname = "libpcap.so.0.8";

// The library's functions, or why it could not be loaded (kept loaded for the process).
Result<const Libpcap *> load_libpcap() {
    static Libpcap lib;
    static std::string failed;
    static const bool ok = [] {
        void *h = ::dlopen(libpcap_soname, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            failed = ::dlerror();
            return false;
        }
        const auto sym = [h](auto &fn, const char *name) {
            fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(h, name));
            if (!fn) failed = fmt::format("{} has no {}", libpcap_soname, name);
            return fn != nullptr;
        };
        return sym(lib.open_offline, "pcap_open_offline_with_tstamp_precision") &&
               sym(lib.datalink, "pcap_datalink") &&
               sym(lib.datalink_name, "pcap_datalink_val_to_name") &&
               sym(lib.tstamp_precision, "pcap_get_tstamp_precision") &&
               sym(lib.next_ex, "pcap_next_ex") && sym(lib.geterr, "pcap_geterr") &&
               sym(lib.close, "pcap_close");
    }();
    if (!ok) return make_error(failed);
    return &lib;
}

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
    // Records read from buf and not yet handed over (the first `batched` of `batch`): all of
    // them go before buf moves.
    std::vector<PcapRecord> batch(4096);
    std::size_t batched = 0;
    const auto hand_over = [&] {
        if (batched == 0) return;
        on_records(std::span<const PcapRecord>(batch.data(), batched));
        batched = 0;
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
    const std::uint32_t frac_ns = nano ? 1 : 1000; // nanoseconds per unit of the fraction
    struct RecordHeader {
        std::uint32_t sec, frac, caplen, len;
    };
    for (;;) {
        // Every whole record of a valid length already in buf, in a loop of locals (no call,
        // no lambda's captured state). What ends it (the end of buf, a bad length) is then
        // taken by the checks below, record by record, as every record was before.
        {
            const std::uint8_t *const data = buf.data();
            const std::size_t end = have;
            PcapRecord *const out = batch.data();
            const std::size_t room = batch.size();
            std::size_t at = pos, n = batched;
            std::uint64_t records = 0, truncated = 0;
            RecordHeader rh;
            while (end - at >= sizeof rh) {
                std::memcpy(&rh, data + at, sizeof rh);
                if (rh.caplen > 262144u || end - at - sizeof rh < rh.caplen) break;
                ++records;
                truncated += rh.caplen < rh.len;
                out[n] = {Bytes(data + at + sizeof rh, rh.caplen),
                          Timestamp{static_cast<std::int64_t>(rh.sec), rh.frac * frac_ns}};
                at += sizeof rh + rh.caplen;
                if (++n == room) {
                    batched = n;
                    hand_over();
                    n = 0;
                }
            }
            pos = at;
            batched = n;
            stats.records += records;
            stats.truncated += truncated;
        }
        RecordHeader rh;
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
        const Timestamp ts{static_cast<std::int64_t>(rh.sec), rh.frac * frac_ns};
        batch[batched++] = {Bytes(buf.data() + pos + sizeof rh, rh.caplen), ts};
        if (batched == batch.size()) hand_over();
        pos += sizeof rh + rh.caplen;
    }
    hand_over();
    return Result<PcapStats>(stats);
}

// What is wrong with a capture the native reader did not take, said without libpcap: the
// file cannot be read, is no capture, is a classic pcap of another link type, or is a
// format only libpcap reads (pcapng, the other byte order).
Error without_libpcap(const std::string &path, const std::string &why) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return make_error(fmt::format("{}: cannot read the capture: {} (expected a pcap file from "
                                      "`tcpdump -i nflog:GROUP -w FILE`)",
                                      path, std::strerror(errno)));
    const base::UniqueFd closer(fd);
    std::uint8_t h[24] = {};
    std::size_t got = 0;
    while (got < sizeof h) {
        const auto n = ::read(fd, h + got, sizeof h - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    std::uint32_t magic = 0, linktype = 0;
    std::memcpy(&magic, h, 4);
    std::memcpy(&linktype, h + 20, 4);
    const bool classic = magic == 0xa1b2c3d4u || magic == 0xa1b23c4du;
    const bool swapped = magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u;
    const bool pcapng = magic == 0x0a0d0d0au;
    if (got < sizeof h || !(classic || swapped || pcapng))
        return make_error(fmt::format("{}: not a pcap file: record the capture with `tcpdump -i "
                                      "nflog:GROUP -w FILE`",
                                      path));
    if (swapped) linktype = __builtin_bswap32(linktype);
    if ((classic || swapped) && (linktype & 0x03ffffffu) != DLT_NFLOG)
        return make_error(fmt::format("{}: link type {} is not NFLOG: record the capture with "
                                      "`tcpdump -i nflog:GROUP -w FILE`",
                                      path, linktype & 0x03ffffffu));
    return make_error(
        fmt::format("{}: a {} capture, which only libpcap reads here, and libpcap could "
                    "not be loaded ({}): install libpcap0.8, or convert the capture "
                    "with `editcap -F pcap {} OUT`",
                    path, pcapng ? "pcapng" : "byte-swapped pcap", why, path));
}

} // namespace

Result<PcapStats>
pcap_read_nflog(const std::string &path,
                const std::function<void(std::span<const PcapRecord>)> &on_records) {
    if (auto r = read_native(path, on_records)) return std::move(*r);
    const auto loaded = load_libpcap();
    if (!loaded) return without_libpcap(path, loaded.error().message);
    const Libpcap &lib = **loaded;
    const auto close = [&lib](pcap_t *p) { lib.close(p); };
    char err[PCAP_ERRBUF_SIZE] = {};
    std::unique_ptr<pcap_t, decltype(close)> p(
        lib.open_offline(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err), close);
    if (!p)
        return make_error(fmt::format("{}: cannot read the capture: {} (expected a pcap file "
                                      "from `tcpdump -i nflog:GROUP -w FILE`)",
                                      path, err));
    const int dlt = lib.datalink(p.get());
    if (dlt != DLT_NFLOG) {
        const char *name = lib.datalink_name(dlt);
        return make_error(fmt::format(
            "{}: link type {} ({}) is not NFLOG: record the capture with `tcpdump -i nflog:GROUP "
            "-w FILE`",
            path, name ? name : "unknown", dlt));
    }
    const bool nano = lib.tstamp_precision(p.get()) == PCAP_TSTAMP_PRECISION_NANO;
    PcapStats stats;
    for (;;) {
        pcap_pkthdr *h = nullptr;
        const u_char *data = nullptr;
        const int rc = lib.next_ex(p.get(), &h, &data);
        if (rc == PCAP_ERROR_BREAK) break; // end of file
        if (rc != 1)
            return make_error(
                fmt::format("{}: record {}: {}", path, stats.records + 1, lib.geterr(p.get())));
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
