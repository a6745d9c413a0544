#include "cmd/progress.h"

#include "cmd/client_support.h"

namespace torc::cmd {

std::string ProgressText(const nlohmann::json& counts, int64_t total, int bar_width, bool color) {
  auto n = [&](const char* k) { return counts.value(k, int64_t{0}); };
  int64_t done = n("completed");
  std::string out;
  if (bar_width > 0) {
    int64_t filled = total > 0 ? done * bar_width / total : bar_width;
    int64_t bad =
        total > 0 ? (n("failed") + n("canceled") + n("terminated")) * bar_width / total : 0;
    bad = std::min<int64_t>(bad, bar_width - filled);
    out.push_back('[');
    out += Paint(color, "completed", std::string(static_cast<size_t>(filled), '#'));
    out += Paint(color, "failed", std::string(static_cast<size_t>(bad), '!'));
    out.append(static_cast<size_t>(bar_width - filled - bad), '.');
    out += "] ";
  }
  out += std::to_string(done) + "/" + std::to_string(total) + " done";
  struct Part {
    int64_t count;
    const char* label;
    const char* state;
  };
  for (const Part& p :
       {Part{n("running") + n("claimed"), "running", "running"}, Part{n("ready"), "ready", "ready"},
        Part{n("blocked"), "blocked", "blocked"}, Part{n("failed"), "failed", "failed"},
        Part{n("canceled"), "canceled", "canceled"},
        Part{n("terminated"), "terminated", "terminated"},
        Part{n("disabled"), "disabled", "disabled"}})
    if (p.count > 0) out += "  " + Paint(color, p.state, std::to_string(p.count) + " " + p.label);
  return out;
}

}  // namespace torc::cmd
