// netlogd's outputs: opening the sinks a config names, telling which ones a reload keeps,
// and the pipeline's lines into their buffers.
#pragma once

#include "sinks.h"

#include <netlog/config.h>
#include <netlog/pipeline.h>
#include <netlog/result.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace netlog::daemon {

// Output `i` of the config, opened; a refusal names the entry's FILE:LINE:COL and key.
Result<std::unique_ptr<io::Sink>> open_output(const OutputConfig &o, std::size_t i);

// What identifies an output across a reload: equal keys keep the running sink.
std::string output_key(const OutputConfig &o);

// The pipeline's lines go to the sinks' buffers; a buffer past 1 MiB is written at once.
// A syslog output sends each event's line at its LOG rule's level.
class SinkLines final : public LineOutputs {
  public:
    explicit SinkLines(std::vector<std::unique_ptr<io::Sink>> &sinks) : sinks_(sinks) {}
    std::string &line(std::size_t i, int level, std::string_view route) override {
        if (level >= 0) sinks_[i]->next_line_level(static_cast<std::uint8_t>(level));
        last_ = &sinks_[i]->buffer_for(route);
        return *last_;
    }
    void line_done(std::size_t i) override;

  private:
    std::vector<std::unique_ptr<io::Sink>> &sinks_;
    std::string *last_ = nullptr; // the buffer the last line went to
};

} // namespace netlog::daemon
