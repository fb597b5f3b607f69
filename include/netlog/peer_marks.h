// Who sent a c2c packet: Cloud Foundry's policy agent gives each app in a c2c policy a
// packet mark (its tag) and names the app in the rules it writes (facts/cloudfoundry.md §6):
//   mark set:   -s <ip> -j MARK --set-xmark 0x<tag> -m comment --comment src:<app guid>
//   mark allow: -d <ip> ... -m mark --mark 0x<tag> -j ACCEPT -m comment --comment
//               src:<source app guid>_dst:<destination app guid>
// PeerMarks is the mark -> source app guid map read from a ruleset (any backend: the rules'
// mark_set / mark_match / note). Pure: the io layer reads the ruleset and keeps it current.
#pragma once

#include <netlog/ruleplan.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

namespace netlog {

class PeerMarks {
  public:
    // Every family's ruleset at once. A mark two rules name with different apps (a policy
    // change half seen) is ambiguous and answers "".
    static PeerMarks from_rulesets(std::span<const Ruleset> rulesets);

    // The source app guid of packets carrying `mark`; "" when no rule explains it.
    std::string_view app(std::uint32_t mark) const;

    std::size_t size() const { return apps_.size(); }    // marks with one app
    std::size_t ambiguous() const { return ambiguous_; } // marks with several
    bool operator==(const PeerMarks &) const = default;

  private:
    std::unordered_map<std::uint32_t, std::string> apps_;
    std::size_t ambiguous_ = 0;
};

// The source app guid a policy agent's comment names: "src:<guid>" -> guid, and
// "src:<guid>_dst:<guid>" -> the first; "" for any other comment.
std::string_view peer_comment_source(std::string_view comment);

} // namespace netlog
