// One classified, enriched event: what every output format is made from.
// Views only: the event borrows the NFLOG message, the class and the container.
#pragma once

#include <netlog/classes.h>
#include <netlog/container.h>
#include <netlog/nflog.h>
#include <netlog/packet.h>
#include <netlog/prefix_tag.h>

#include <string_view>

namespace netlog {

struct Event {
    const NflogMessage *msg = nullptr;
    // The LOG rule's prefix, level and flags: the NFLOG prefix with netlog-rules' options
    // tag (prefix_tag.h) split off. Classes, enrichment and every output see this prefix.
    std::string_view prefix;
    std::uint8_t log_level = log_default_level;
    std::uint8_t log_flags = 0;
    Packet packet;
    Timestamp time;                // NFLOG timestamp, else receive time
    const ClassDef *cls = nullptr; // nullptr: prefix matched no class (fallback)
    Captures captures;             // cls's named groups in the prefix (classes.h)
    Direction direction = Direction::egress;
    Verdict verdict = Verdict::denied;
    const Container *container = nullptr; // nullptr: unknown, fields print as ""
    std::string_view in_name, out_name;   // interface names for IN= / OUT= (may be empty)
    std::string_view physin_name, physout_name;
    // The other side of the packet (json extra `peer`; Pipeline::set_peers): ingress, the
    // source container on this cell by IP, else `peer_app` from the packet's mark; egress,
    // the destination container on this cell by IP. nullptr / "": not known.
    const Container *peer = nullptr;
    std::string_view peer_app;
};

} // namespace netlog
