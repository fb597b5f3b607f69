// Test helper: read the real captures in tests/data (see tests/data/README.md).
// A DLT_NFLOG pcap gives one byte vector per record; a .batches file gives each recv()
// buffer the raw netlink listener got (u32 little-endian length, then the bytes).
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace netlog::test {

using ByteVec = std::vector<std::uint8_t>;

inline ByteVec read_data_file(const std::string &name) {
    const std::string path = std::string(NETLOG_TEST_DATA) + "/" + name;
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot open test data " + path);
    return ByteVec(std::istreambuf_iterator<char>(f), {});
}

inline std::uint32_t le32(const std::uint8_t *p) {
    return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
           std::uint32_t{p[3]} << 24;
}

// Records of a little-endian, microsecond pcap file (what tcpdump writes on x86).
inline std::vector<ByteVec> read_pcap_records(const std::string &name,
                                              std::uint32_t *linktype = nullptr) {
    const ByteVec f = read_data_file(name);
    if (f.size() < 24 || le32(f.data()) != 0xa1b2c3d4)
        throw std::runtime_error(name + ": not a little-endian pcap file");
    if (linktype) *linktype = le32(f.data() + 20);
    std::vector<ByteVec> out;
    std::size_t off = 24;
    while (off + 16 <= f.size()) {
        const std::uint32_t caplen = le32(f.data() + off + 8);
        off += 16;
        if (off + caplen > f.size()) throw std::runtime_error(name + ": truncated record");
        out.emplace_back(f.begin() + static_cast<std::ptrdiff_t>(off),
                         f.begin() + static_cast<std::ptrdiff_t>(off + caplen));
        off += caplen;
    }
    return out;
}

inline std::vector<ByteVec> read_batches(const std::string &name) {
    const ByteVec f = read_data_file(name);
    std::vector<ByteVec> out;
    std::size_t off = 0;
    while (off + 4 <= f.size()) {
        const std::uint32_t len = le32(f.data() + off);
        off += 4;
        if (off + len > f.size()) throw std::runtime_error(name + ": truncated batch");
        out.emplace_back(f.begin() + static_cast<std::ptrdiff_t>(off),
                         f.begin() + static_cast<std::ptrdiff_t>(off + len));
        off += len;
    }
    return out;
}

} // namespace netlog::test
