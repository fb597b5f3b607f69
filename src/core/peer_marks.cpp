// The policy agent's mark -> app map (peer_marks.h).
#include <netlog/peer_marks.h>

#include <unordered_set>

namespace netlog {

std::string_view peer_comment_source(std::string_view comment) {
    constexpr std::string_view src = "src:", dst = "_dst:";
    if (!comment.starts_with(src)) return {};
    comment.remove_prefix(src.size());
    if (const auto d = comment.find(dst); d != std::string_view::npos)
        comment = comment.substr(0, d);
    // A guid has no blank (AppendComment turns blanks into '_'), nor another "src:".
    if (comment.find_first_of(" \t:") != std::string_view::npos) return {};
    return comment;
}

PeerMarks PeerMarks::from_rulesets(std::span<const Ruleset> rulesets) {
    PeerMarks m;
    std::unordered_set<std::uint32_t> ambiguous;
    for (const Ruleset &rs : rulesets)
        for (const FwChain &c : rs.chains)
            for (const FwRule &r : c.rules) {
                const auto mark = r.mark_set ? r.mark_set : r.mark_match;
                if (!mark || *mark == 0) continue;
                const auto app = peer_comment_source(r.note);
                if (app.empty() || ambiguous.count(*mark)) continue;
                auto [it, added] = m.apps_.try_emplace(*mark, app);
                if (!added && it->second != app) {
                    m.apps_.erase(it);
                    ambiguous.insert(*mark);
                }
            }
    m.ambiguous_ = ambiguous.size();
    return m;
}

std::string_view PeerMarks::app(std::uint32_t mark) const {
    const auto it = apps_.find(mark);
    return it == apps_.end() ? std::string_view{} : std::string_view(it->second);
}

} // namespace netlog
