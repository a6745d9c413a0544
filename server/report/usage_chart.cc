// An attempt's time series (CPU % and RSS samples): reading it, its summary and sparkline for
// `torc jobs show`, and the line charts of the report.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "server/report/report.h"
#include "server/report/report_internal.h"

namespace torc::server {

using report::List;
using report::Num;
using report::Printf;

SampleSeries ReadSampleSeries(const nlohmann::json& answer) {
  SampleSeries s;
  s.interval_seconds = answer.is_object() ? Num(answer, "interval_seconds") : 0;
  for (const auto& e : List(answer, "samples")) {
    double t, cpu, rss;
    if (e.is_object() && e.contains("t") && e["t"].is_number() && e.contains("cpu_percent") &&
        e["cpu_percent"].is_number() && e.contains("rss_bytes") && e["rss_bytes"].is_number()) {
      t = e["t"].get<double>();
      cpu = e["cpu_percent"].get<double>();
      rss = e["rss_bytes"].get<double>();
    } else if (e.is_array() && e.size() == 3 && e[0].is_number() && e[1].is_number() &&
               e[2].is_number()) {
      t = e[0].get<double>();
      cpu = e[1].get<double>();
      rss = e[2].get<double>();
    } else {
      continue;
    }
    s.t.push_back(t);
    s.cpu_percent.push_back(cpu);
    s.rss_bytes.push_back(rss);
  }
  return s;
}

SeriesSummary Summarize(const SampleSeries& s) {
  SeriesSummary out;
  out.count = s.size();
  out.interval_seconds = s.interval_seconds;
  for (size_t k = 0; k < s.size(); ++k) {
    out.duration_seconds = std::max(out.duration_seconds, s.t[k]);
    out.peak_rss_bytes = std::max(out.peak_rss_bytes, s.rss_bytes[k]);
    out.peak_cpu_percent = std::max(out.peak_cpu_percent, s.cpu_percent[k]);
  }
  return out;
}

namespace {

/// `values` in at most `width` buckets of consecutive values, each the maximum of its bucket
/// (peaks survive the thinning); the indices of the chosen values.
std::vector<size_t> BucketPeaks(const std::vector<double>& values, size_t width) {
  std::vector<size_t> out;
  const size_t n = values.size();
  if (n <= width) {
    for (size_t k = 0; k < n; ++k) out.push_back(k);
    return out;
  }
  for (size_t b = 0; b < width; ++b) {
    size_t lo = b * n / width, hi = (b + 1) * n / width;
    size_t best = lo;
    for (size_t k = lo; k < hi; ++k)
      if (values[k] > values[best]) best = k;
    out.push_back(best);
  }
  return out;
}

}  // namespace

std::string Sparkline(const std::vector<double>& values, size_t width) {
  static const char* kBlocks[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  if (values.empty() || width == 0) return "";
  double top = *std::max_element(values.begin(), values.end());
  std::string out;
  for (size_t k : BucketPeaks(values, width)) {
    double v = std::max(0.0, values[k]);
    int level = top > 0 ? static_cast<int>(std::ceil(v / top * 8 - 1e-9)) - 1 : 0;
    out += kBlocks[std::clamp(level, 0, 7)];
  }
  return out;
}

namespace {

// The chart's geometry: the plot from (kLeft, kTop) to (kRight, kBottom).
constexpr double kWidth = 560, kHeight = 230, kLeft = 72, kRight = 540, kTop = 28, kBottom = 186;
constexpr size_t kMaxPoints = 500;
const char* kCurveColors[] = {"#1f77b4", "#2e9e44", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"};

/// 1, 2 or 5 times a power of ten, at least `x`.
double Nice125(double x) {
  if (x <= 0) return 1;
  double p = std::pow(10, std::floor(std::log10(x)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= x * (1 - 1e-12)) return m * p;
  return 10 * p;
}

/// The value axis: its unit (a divisor and a name) and its top, a whole number of ticks.
struct ValueAxis {
  double unit = 1;
  std::string unit_name;
  double step = 1, top = 1;  // in units
};

ValueAxis MakeAxis(ChartKind kind, double max_value) {
  ValueAxis a;
  if (kind == ChartKind::kCpu) {
    a.unit_name = "%";
  } else if (max_value >= double(1 << 30)) {
    a.unit = double(1 << 30), a.unit_name = "GiB";
  } else {
    a.unit = double(1 << 20), a.unit_name = "MiB";
  }
  double top = std::max(max_value * 1.1 / a.unit, kind == ChartKind::kCpu ? 10.0 : 1.0);
  a.step = Nice125(top / 4);
  a.top = std::ceil(top / a.step - 1e-9) * a.step;
  return a;
}

std::string TickLabel(double v) {
  return std::fabs(v - std::round(v)) < 1e-9 ? Printf("%.0f", v) : Printf("%g", v);
}

}  // namespace

std::string RenderUsageChartSvg(ChartKind kind, const std::vector<ChartCurve>& curves,
                                const std::vector<RequestLine>& requests) {
  const bool memory = kind == ChartKind::kMemory;
  auto values = [&](const SampleSeries& s) -> const std::vector<double>& {
    return memory ? s.rss_bytes : s.cpu_percent;
  };
  double max_value = 0, max_t = 0;
  for (const auto& c : curves)
    for (size_t k = 0; k < c.series->size(); ++k) {
      max_value = std::max(max_value, values(*c.series)[k]);
      max_t = std::max(max_t, c.series->t[k]);
    }
  for (const auto& r : requests) max_value = std::max(max_value, r.value);
  max_t = std::max(max_t, 1.0);
  ValueAxis axis = MakeAxis(kind, max_value);
  auto x_of = [&](double t) { return kLeft + t / max_t * (kRight - kLeft); };
  auto y_of = [&](double v) { return kBottom - v / axis.unit / axis.top * (kBottom - kTop); };
  std::ostringstream svg;
  svg << Printf("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"usage-chart\" data-kind=\"%s\" "
                "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" "
                "font-size=\"11\" data-top=\"%g\" data-unit=\"%s\">\n",
                memory ? "memory" : "cpu", kWidth, kHeight, kWidth, kHeight, axis.top,
                axis.unit_name.c_str());
  svg << Printf("<text x=\"%.0f\" y=\"14\" font-weight=\"bold\">%s</text>\n", kLeft,
                memory ? "Memory (RSS)" : "CPU (100 % = one CPU)");
  // Value axis: gridlines and labels in the unit.
  for (double v = 0; v <= axis.top + 1e-9; v += axis.step)
    svg << Printf("<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                  "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#555\">%s %s</text>\n",
                  kLeft, y_of(v * axis.unit), kRight, y_of(v * axis.unit), kLeft - 6,
                  y_of(v * axis.unit) + 4, TickLabel(v).c_str(), axis.unit_name.c_str());
  // Time axis: seconds since each attempt's start.
  double step = report::NiceTimeStep(max_t);
  for (double t = 0; t <= max_t + 1e-9; t += step)
    svg << Printf("<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#999\"/>"
                  "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\" fill=\"#555\">%s</text>\n",
                  x_of(t), kBottom, x_of(t), kBottom + 4, x_of(t), kBottom + 16,
                  FormatDuration(t).c_str());
  svg << Printf("<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#555\"/>"
                "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#555\"/>\n",
                kLeft, kTop, kLeft, kBottom, kLeft, kBottom, kRight, kBottom);
  svg << Printf("<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\" fill=\"#555\">time since the "
                "attempt's start</text>\n",
                (kLeft + kRight) / 2, kHeight - 6);
  // One curve per attempt, thinned to kMaxPoints (each point the peak of its share).
  size_t c = 0;
  double legend_x = kLeft + 200;
  for (const auto& curve : curves) {
    const char* color = kCurveColors[c++ % (sizeof kCurveColors / sizeof *kCurveColors)];
    std::vector<size_t> keep = BucketPeaks(values(*curve.series), kMaxPoints);
    svg << Printf("<polyline class=\"series\" data-attempt=\"%lld\" data-points=\"%zu\" "
                  "fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"",
                  static_cast<long long>(curve.attempt), keep.size(), color);
    for (size_t i = 0; i < keep.size(); ++i)
      svg << (i ? " " : "")
          << Printf("%.1f,%.1f", x_of(curve.series->t[keep[i]]),
                    y_of(values(*curve.series)[keep[i]]));
    svg << "\"/>\n"
        << Printf("<text x=\"%.0f\" y=\"14\" fill=\"%s\">attempt %lld</text>\n", legend_x, color,
                  static_cast<long long>(curve.attempt));
    legend_x += 70;
  }
  for (const auto& r : requests) {
    double y = y_of(r.value);
    svg << Printf("<line class=\"request\" data-value=\"%.0f\" x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" "
                  "y2=\"%.1f\" stroke=\"#d62728\" stroke-dasharray=\"6 4\"/>"
                  "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#d62728\">",
                  r.value, kLeft, y, kRight, y, kRight - 2, y - 3)
        << HtmlEscape(r.label) << "</text>\n";
  }
  svg << "</svg>";
  return svg.str();
}

}  // namespace torc::server
