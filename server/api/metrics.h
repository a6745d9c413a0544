// What the server counts for /metrics (Prometheus text format, documented in
// docs/dashboard.md): claims, starts, attempt results and lease expiries seen
// in committed change batches, and the latency of every API request by route
// class. Gauges (jobs by state, allocations, workers) are read from the
// Service when the metrics are rendered. Has its own lock: it never holds the
// service's.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "server/model/model.h"

namespace torc::server {

class Service;

/// Counters and histograms of one server process, plus when each running job
/// started (the core keeps no start time before an attempt ends).
class ServerMetrics {
 public:
  /// Upper bounds (seconds) of the request latency histogram's buckets.
  static constexpr std::array<double, 14> kLatencyBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

  explicit ServerMetrics(double start_time) : start_time_(start_time) {}

  /// Counts what a committed batch did. Called under the service's lock: cheap.
  void ObserveBatch(const ChangeBatch& batch);
  /// Records one API request: its route class (see RouteClass), status and latency.
  void ObserveRequest(const std::string& route, int status, double seconds);
  /// When the running attempt of a job started, if this process saw it start.
  std::optional<double> RunningSince(WorkflowId workflow, JobIndex job) const;
  /// The whole exposition: these counters plus gauges read from `service`.
  std::string Render(Service& service) const;

 private:
  /// Request latencies of one endpoint class, in fixed buckets (Prometheus histogram).
  struct Histogram {
    std::array<uint64_t, kLatencyBuckets.size()> buckets{};  // not cumulative
    uint64_t count = 0;
    double sum = 0;
    std::map<std::string, uint64_t> by_code;  // "2xx", "4xx", ...
  };

  double start_time_;
  mutable std::mutex mu_;
  uint64_t claims_ = 0, starts_ = 0, lease_expiries_ = 0, requeues_ = 0;
  std::map<std::string, uint64_t> results_;  // attempt results by status
  std::map<std::string, Histogram> requests_;
  std::map<std::pair<WorkflowId, JobIndex>, double> running_since_;
};

/// The route class of a request, the `route` label of the latency histogram:
/// "claim", "complete", "start", "heartbeat", "workers", "submit", "workflows",
/// "workflow", "jobs", "job", "job_log", "attempts", "timeline", "events",
/// "actions", "allocations", "health", "metrics", "dashboard" or "other".
std::string RouteClass(const std::string& method, const std::string& path);

}  // namespace torc::server
