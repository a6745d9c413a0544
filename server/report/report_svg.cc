// The timeline and the dependency graph as SVG, and the formatting helpers the
// report shares.
#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "server/report/report.h"
#include "server/report/report_internal.h"

namespace torc::server {

using report::List;
using report::Num;
using report::Str;

namespace report {

double NiceTimeStep(double span) {
  static const double kSteps[] = {1,    2,    5,     10,    15,    30,    60,    120,
                                  300,  600,  900,   1800,  3600,  7200,  10800, 21600,
                                  43200, 86400, 172800, 604800};
  for (double s : kSteps)
    if (span / s <= 8) return s;
  return std::ceil(span / 8 / 604800) * 604800;
}

std::string Printf(const char* format, ...) {
  char buf[1024];
  va_list args;
  va_start(args, format);
  int n = std::vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  if (n < 0) return "";
  if (static_cast<size_t>(n) < sizeof buf) return std::string(buf, static_cast<size_t>(n));
  std::string out(static_cast<size_t>(n) + 1, '\0');
  va_start(args, format);
  std::vsnprintf(out.data(), out.size(), format, args);
  va_end(args);
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace report

std::string HtmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string FormatDuration(double s) {
  char buf[64];
  if (s < 0) s = 0;
  if (s < 10) std::snprintf(buf, sizeof buf, "%.1f s", s);
  else if (s < 60) std::snprintf(buf, sizeof buf, "%.0f s", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%d min %d s", int(s) / 60, int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%d h %d min", int(s) / 3600, int(s) % 3600 / 60);
  return buf;
}

std::string FormatBytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, u == 0 || b >= 100 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

const char* StateColor(const std::string& state) {
  static const std::map<std::string, const char*> kColors = {
      {"completed", "#2e9e44"}, {"failed", "#d62728"},  {"terminated", "#ff7f0e"},
      {"canceled", "#8c8c8c"},  {"running", "#1f77b4"}, {"claimed", "#9ecae1"},
      {"ready", "#f2d64b"},     {"blocked", "#d9d9d9"}, {"disabled", "#bbbbbb"}};
  auto it = kColors.find(state);
  return it == kColors.end() ? "#666666" : it->second;
}

std::vector<std::string> ExpandHostList(const std::string& list) {
  std::vector<std::string> out;
  // Split on commas outside brackets.
  std::vector<std::string> items;
  std::string cur;
  int depth = 0;
  for (char c : list) {
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (c == ',' && depth == 0) {
      items.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  items.push_back(cur);
  for (const auto& item : items) {
    size_t open = item.find('['), close = item.find(']');
    if (open == std::string::npos || close == std::string::npos || close < open) {
      if (!item.empty()) out.push_back(item);
      continue;
    }
    std::string prefix = item.substr(0, open), suffix = item.substr(close + 1);
    std::stringstream ranges(item.substr(open + 1, close - open - 1));
    std::string range;
    while (std::getline(ranges, range, ',')) {
      size_t dash = range.find('-');
      std::string lo = range.substr(0, dash), hi = dash == std::string::npos ? lo : range.substr(dash + 1);
      char* end = nullptr;
      long a = std::strtol(lo.c_str(), &end, 10), b = std::strtol(hi.c_str(), &end, 10);
      for (long k = a; k <= b && out.size() < 4096; ++k) {
        std::string num = std::to_string(k);
        while (num.size() < lo.size()) num = "0" + num;  // keep zero padding: n[01-04]
        out.push_back(prefix + num + suffix);
      }
    }
  }
  return out;
}

namespace {

struct Bar {
  std::string row, job, state;
  int64_t attempt = 0;
  double start = 0, end = 0;
  int lane = 0;
};

/// "n2" before "n10".
bool NaturalLess(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      size_t i2 = i, j2 = j;
      while (i2 < a.size() && std::isdigit(static_cast<unsigned char>(a[i2]))) ++i2;
      while (j2 < b.size() && std::isdigit(static_cast<unsigned char>(b[j2]))) ++j2;
      std::string x = a.substr(i, i2 - i), y = b.substr(j, j2 - j);
      x.erase(0, std::min(x.find_first_not_of('0'), x.size()));
      y.erase(0, std::min(y.find_first_not_of('0'), y.size()));
      if (x.size() != y.size()) return x.size() < y.size();
      if (x != y) return x < y;
      i = i2;
      j = j2;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

/// The bars of every attempt; stops adding at `limit` (host lists can be long) and counts
/// the attempts left out in *skipped. `jobs_per_state` counts, for each state, the jobs with
/// a started attempt in it (drawn or not; a job on several nodes counts once).
std::vector<Bar> CollectBars(const nlohmann::json& data, size_t limit, size_t* unknown_start,
                             size_t* skipped, std::map<std::string, size_t>* jobs_per_state) {
  std::vector<Bar> bars;
  double now = Num(data, "now");
  auto rows_of = [](const std::string& nodes, const std::string& fallback) {
    auto rows = ExpandHostList(nodes);
    if (rows.empty()) rows.push_back(fallback);
    return rows;
  };
  for (const auto& job : List(data, "jobs")) {
    std::string name = Str(job, "name");
    std::set<std::string> states;
    for (const auto& a : List(job, "attempts")) {
      double start = Num(a, "start_time"), end = Num(a, "end_time");
      if (start <= 0) continue;
      states.insert(Str(a, "status"));
      if (bars.size() >= limit) {
        ++*skipped;
        continue;
      }
      std::string fallback = "worker " + std::to_string(static_cast<int64_t>(Num(a, "worker")));
      for (const auto& row : rows_of(Str(a, "nodes"), fallback))
        bars.push_back({row, name, Str(a, "status"), static_cast<int64_t>(Num(a, "attempt")), start,
                        std::max(start, end), 0});
    }
    auto cur = job.find("current");
    if (cur != job.end() && cur->is_object() && Str(*cur, "status") == "running") {
      double start = Num(*cur, "start_time");
      if (start > 0) {
        std::string fallback =
            "worker " + std::to_string(static_cast<int64_t>(Num(*cur, "worker")));
        bars.push_back({rows_of(Str(*cur, "hostname"), fallback)[0], name, "running",
                        static_cast<int64_t>(Num(*cur, "attempt")), start, std::max(start, now),
                        0});
        states.insert("running");
      } else {
        ++*unknown_start;
      }
    }
    for (const auto& state : states) ++(*jobs_per_state)[state];
  }
  return bars;
}

// The timeline's geometry: row labels on the left, then the plot; bars start at kTop.
constexpr double kLabelW = 160, kPlotW = 900, kTop = 44, kLaneH = 11, kRowGap = 5;

/// Where time `t` is on a timeline from t0 to t1.
double TimelineX(double t, double t0, double t1) { return kLabelW + (t - t0) / (t1 - t0) * kPlotW; }

/// Rows (nodes, in natural order), each with the end time of the last bar in each lane.
using Lanes = std::map<std::string, std::vector<double>, decltype(&NaturalLess)>;

/// Splits each row into lanes so that bars of one row never overlap; sets every bar's lane.
/// `bars` must be sorted by start.
Lanes AssignLanes(std::vector<Bar>* bars) {
  Lanes lanes(&NaturalLess);
  for (auto& b : *bars) {
    auto& ends = lanes[b.row];
    size_t l = 0;
    while (l < ends.size() && ends[l] > b.start) ++l;
    if (l == ends.size()) ends.push_back(0);
    ends[l] = b.end;
    b.lane = static_cast<int>(l);
  }
  return lanes;
}

/// The legend: the states present, each with the number of jobs that have an attempt in it
/// (not bars: an attempt on several nodes has a bar on each). Returns where it ends.
double WriteLegend(std::ostringstream& svg, const std::map<std::string, size_t>& jobs_per_state) {
  char buf[512];
  double lx = kLabelW;
  for (const auto& [state, n] : jobs_per_state) {
    std::string label = state + " (" + std::to_string(n) + (n == 1 ? " job)" : " jobs)");
    std::snprintf(buf, sizeof buf,
                  "<rect x=\"%.1f\" y=\"4\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                  "<text class=\"legend\" x=\"%.1f\" y=\"13\" data-legend-state=\"%s\" "
                  "data-jobs=\"%zu\">%s</text>\n",
                  lx, StateColor(state), lx + 14, HtmlEscape(state).c_str(), n,
                  HtmlEscape(label).c_str());
    svg << buf;
    lx += 24 + 6.5 * static_cast<double>(label.size());
  }
  return lx;
}

/// The time axis from t0 to t1: ticks relative to the first start, lines down to `height`.
void WriteTimeAxis(std::ostringstream& svg, double t0, double t1, double height) {
  char buf[512];
  double step = report::NiceTimeStep(t1 - t0);
  for (double t = 0; t <= t1 - t0 + 1e-9; t += step) {
    double x = TimelineX(t0 + t, t0, t1);
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#555\">+%s</text>\n",
                  x, kTop - 6, x, height - 10, x, kTop - 10, FormatDuration(t).c_str());
    svg << buf;
  }
}

/// One attempt on one node: a bar at height `y`, with its job, attempt and state.
void WriteBar(std::ostringstream& svg, const Bar& b, double y, double t0, double t1) {
  char buf[512];
  double x = TimelineX(b.start, t0, t1), w = std::max(1.5, TimelineX(b.end, t0, t1) - x);
  std::snprintf(buf, sizeof buf,
                "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                "fill=\"%s\" data-state=\"%s\" data-attempt=\"%lld\" data-job=\"",
                x, y, w, kLaneH - 2, StateColor(b.state), HtmlEscape(b.state).c_str(),
                static_cast<long long>(b.attempt));
  svg << buf << HtmlEscape(b.job) << "\" data-node=\"" << HtmlEscape(b.row) << "\"><title>"
      << HtmlEscape(b.job) << " #" << b.attempt << ": " << HtmlEscape(b.state) << ", "
      << FormatDuration(b.end - b.start) << " on " << HtmlEscape(b.row) << "</title></rect>\n";
}

/// The jobs (given by their parents) in layers, a layer being the longest path from a root
/// (the graph is acyclic: the server refuses cycles); each layer ordered by the mean position
/// of the parents (fewer crossings).
std::vector<std::vector<size_t>> OrderedLayers(const std::vector<std::vector<size_t>>& parents) {
  const size_t n = parents.size();
  std::vector<int> layer(n, -1);
  std::function<int(size_t)> layer_of = [&](size_t k) {
    if (layer[k] >= 0) return layer[k];
    int l = 0;
    for (size_t p : parents[k]) l = std::max(l, layer_of(p) + 1);
    return layer[k] = l;
  };
  int layers = 0;
  for (size_t k = 0; k < n; ++k) layers = std::max(layers, layer_of(k) + 1);
  std::vector<std::vector<size_t>> rows(static_cast<size_t>(layers));
  std::vector<double> pos(n, 0);
  for (int l = 0; l < layers; ++l) {
    auto& row = rows[static_cast<size_t>(l)];
    for (size_t k = 0; k < n; ++k)
      if (layer[k] == l) {
        double sum = 0;
        for (size_t p : parents[k]) sum += pos[p];
        pos[k] = parents[k].empty() ? static_cast<double>(row.size())
                                    : sum / static_cast<double>(parents[k].size());
        row.push_back(k);
      }
    std::stable_sort(row.begin(), row.end(), [&](size_t a, size_t b) { return pos[a] < pos[b]; });
    for (size_t i = 0; i < row.size(); ++i) pos[row[i]] = static_cast<double>(i);
  }
  return rows;
}

}  // namespace

std::string RenderTimelineSvg(const nlohmann::json& data) {
  constexpr size_t kMaxBars = 20000;
  size_t unknown_start = 0, skipped = 0;
  std::map<std::string, size_t> jobs_per_state;
  std::vector<Bar> bars =
      CollectBars(data, 4 * kMaxBars, &unknown_start, &skipped, &jobs_per_state);
  std::ostringstream svg;
  if (bars.empty()) {
    svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" width=\"600\" "
           "height=\"40\" data-bars=\"0\"><text x=\"10\" y=\"25\" font-family=\"sans-serif\" "
           "font-size=\"13\">No attempt has started yet.</text></svg>";
    return svg.str();
  }
  std::sort(bars.begin(), bars.end(), [](const Bar& a, const Bar& b) { return a.start < b.start; });
  size_t dropped = (bars.size() > kMaxBars ? bars.size() - kMaxBars : 0) + skipped;
  bars.resize(std::min(bars.size(), kMaxBars));
  double t0 = bars.front().start, t1 = t0;
  for (const auto& b : bars) t1 = std::max(t1, b.end);
  if (t1 - t0 < 1) t1 = t0 + 1;
  Lanes lanes = AssignLanes(&bars);
  std::map<std::string, double> row_y;
  double y = kTop;
  for (const auto& [row, ends] : lanes) {
    row_y[row] = y;
    y += static_cast<double>(ends.size()) * kLaneH + kRowGap;
  }
  double height = y + 10, width = kLabelW + kPlotW + 20;
  char buf[512];
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" width=\"" << width
      << "\" height=\"" << height << "\" viewBox=\"0 0 " << width << " " << height
      << "\" font-family=\"sans-serif\" font-size=\"11\" data-bars=\"" << bars.size()
      << "\" data-rows=\"" << lanes.size() << "\">\n";
  double lx = WriteLegend(svg, jobs_per_state);
  if (dropped || unknown_start) {
    std::snprintf(buf, sizeof buf, "<text x=\"%.1f\" y=\"13\" fill=\"#a00\">", lx + 10);
    svg << buf;
    if (dropped) svg << dropped << " more bars not drawn. ";
    if (unknown_start) svg << unknown_start << " running jobs started before this server did.";
    svg << "</text>\n";
  }
  WriteTimeAxis(svg, t0, t1, height);
  for (const auto& [row, y0] : row_y) {
    std::snprintf(buf, sizeof buf, "<text x=\"4\" y=\"%.1f\" class=\"row\">", y0 + 9);
    svg << buf << HtmlEscape(row.size() > 24 ? row.substr(0, 23) + "…" : row) << "</text>\n";
  }
  for (const auto& b : bars) WriteBar(svg, b, row_y[b.row] + b.lane * kLaneH, t0, t1);
  svg << "</svg>";
  return svg.str();
}

std::string RenderDagSvg(const nlohmann::json& data, size_t max_jobs) {
  const auto& jobs = List(data, "jobs");
  if (jobs.empty() || jobs.size() > max_jobs) return "";
  std::map<int64_t, size_t> index;  // job id -> position in `jobs`
  for (size_t k = 0; k < jobs.size(); ++k) {
    if (!jobs[k].contains("parents")) return "";
    index[static_cast<int64_t>(Num(jobs[k], "id"))] = k;
  }
  std::vector<std::vector<size_t>> parents(jobs.size());
  for (size_t k = 0; k < jobs.size(); ++k)
    for (const auto& p : jobs[k]["parents"])
      if (p.is_number() && index.count(p.get<int64_t>())) parents[k].push_back(index[p.get<int64_t>()]);
  std::vector<std::vector<size_t>> rows = OrderedLayers(parents);
  const int layers = static_cast<int>(rows.size());
  constexpr double kW = 150, kH = 26, kGapX = 16, kGapY = 46, kMargin = 10;
  size_t widest = 0;
  for (const auto& row : rows) widest = std::max(widest, row.size());
  double width = kMargin * 2 + static_cast<double>(widest) * (kW + kGapX);
  double height = kMargin * 2 + layers * (kH + kGapY);
  std::vector<double> x(jobs.size()), y(jobs.size());
  for (size_t l = 0; l < rows.size(); ++l) {
    double row_w = static_cast<double>(rows[l].size()) * (kW + kGapX);
    for (size_t i = 0; i < rows[l].size(); ++i) {
      x[rows[l][i]] = (width - row_w) / 2 + static_cast<double>(i) * (kW + kGapX) + kGapX / 2;
      y[rows[l][i]] = kMargin + static_cast<double>(l) * (kH + kGapY);
    }
  }
  std::ostringstream svg;
  char buf[512];
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"dag\" width=\"" << width
      << "\" height=\"" << height << "\" viewBox=\"0 0 " << width << " " << height
      << "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  for (size_t k = 0; k < jobs.size(); ++k)
    for (size_t p : parents[k]) {
      double x1 = x[p] + kW / 2, y1 = y[p] + kH, x2 = x[k] + kW / 2, y2 = y[k];
      std::snprintf(buf, sizeof buf,
                    "<path d=\"M%.1f %.1fC%.1f %.1f %.1f %.1f %.1f %.1f\" fill=\"none\" "
                    "stroke=\"#999\"/>\n",
                    x1, y1, x1, (y1 + y2) / 2, x2, (y1 + y2) / 2, x2, y2);
      svg << buf;
    }
  for (size_t k = 0; k < jobs.size(); ++k) {
    std::string name = Str(jobs[k], "name"), state = Str(jobs[k], "status");
    std::string shown = name.size() > 22 ? name.substr(0, 21) + "…" : name;
    std::snprintf(buf, sizeof buf,
                  "<g class=\"dag-node\" data-state=\"%s\"><rect x=\"%.1f\" y=\"%.1f\" "
                  "width=\"%.1f\" height=\"%.1f\" rx=\"4\" fill=\"%s\" stroke=\"#555\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
                  HtmlEscape(state).c_str(), x[k], y[k], kW, kH, StateColor(state), x[k] + kW / 2,
                  y[k] + kH / 2 + 4);
    svg << buf << HtmlEscape(shown) << "</text><title>" << HtmlEscape(name) << ": "
        << HtmlEscape(state) << "</title></g>\n";
  }
  svg << "</svg>";
  return svg.str();
}

}  // namespace torc::server
