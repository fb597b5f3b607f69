// Test driver for the syslog sink: reads commands on stdin, one per line, and answers on
// stdout. Lets an integration test stop and start a real rsyslog between phases.
//   send N       push N messages "msg-<k>" (k counts up over the run)
//   pump MS      pump for MS milliseconds (or until the buffer is empty, if "pump MS drain")
//   stats        print "sent=.. dropped=.. reconnects=.. buffered=.. connected=.."
// Usage: syslog-send ADDRESS [--rfc3164] [--buffer BYTES] [--facility N] [--app NAME]
#include "syslog_sink.h"

#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

using namespace netlog;

static std::int64_t mono_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

int main(int argc, char **argv) {
    if (argc < 2) {
        std::cerr
            << "usage: syslog-send ADDRESS [--rfc3164] [--buffer BYTES] [--facility N] [--app NAME]\n";
        return 2;
    }
    io::SyslogSettings base;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--rfc3164")
            base.protocol = io::SyslogSettings::Protocol::rfc3164;
        else if (a == "--buffer" && i + 1 < argc)
            base.buffer_bytes = std::stoul(argv[++i]);
        else if (a == "--facility" && i + 1 < argc)
            base.facility = std::stoi(argv[++i]);
        else if (a == "--app" && i + 1 < argc)
            base.app_name = argv[++i];
    }
    auto s = io::syslog_parse_address(argv[1], base);
    if (!s) {
        std::cerr << "syslog-send: " << s.error().message << "\n";
        return 2;
    }
    io::SyslogSink sink(*s);
    std::uint64_t k = 0;
    std::string line;
    while (std::getline(std::cin, line)) {
        if (line.rfind("send ", 0) == 0) {
            const auto n = std::stoull(line.substr(5));
            for (std::uint64_t i = 0; i < n; ++i) {
                const auto now = std::chrono::system_clock::now().time_since_epoch();
                const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now).count();
                sink.push(
                    fmt::format("msg-{}", k++),
                    Timestamp{ns / 1'000'000'000, static_cast<std::uint32_t>(ns % 1'000'000'000)});
                sink.pump(mono_ns());
            }
        } else if (line.rfind("pump ", 0) == 0) {
            const bool drain = line.find("drain") != std::string::npos;
            const auto end = mono_ns() + std::stoll(line.substr(5)) * 1'000'000;
            while (mono_ns() < end) {
                sink.pump(mono_ns());
                if (drain && sink.counters().buffered_bytes == 0 && sink.counters().connected)
                    break;
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            }
        } else if (line == "stats") {
            const auto &c = sink.counters();
            std::cout << fmt::format("sent={} dropped={} reconnects={} buffered={} connected={}\n",
                                     c.sent, c.dropped, c.reconnects, c.buffered_bytes,
                                     c.connected ? 1 : 0)
                      << std::flush;
        }
    }
    return 0;
}
