#include "server/api/metrics.h"

#include <cstdio>
#include <sstream>
#include <vector>

#include "server/service.h"

namespace torc::server {
namespace {

/// A label value with \, " and newline escaped as the text format requires.
std::string Label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out.push_back(c);
  }
  return out;
}

std::string Number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void Header(std::ostringstream& out, const char* name, const char* type, const char* help) {
  out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
}

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> parts;
  std::string part;
  for (char c : path) {
    if (c == '/') {
      if (!part.empty()) parts.push_back(part);
      part.clear();
    } else {
      part.push_back(c);
    }
  }
  if (!part.empty()) parts.push_back(part);
  return parts;
}

}  // namespace

std::string RouteClass(const std::string& method, const std::string& path) {
  if (path == "/" || path == "/index.html") return "dashboard";
  if (path == "/metrics") return "metrics";
  auto p = Split(path);
  if (p.size() < 3 || p[0] != "api" || p[1] != "v1") return "other";
  p.erase(p.begin(), p.begin() + 2);
  if (p[0] == "health") return "health";
  if (p[0] != "workflows") return "other";
  if (p.size() == 1) return method == "POST" ? "submit" : "workflows";
  if (p.size() == 2) return "workflow";
  const std::string& what = p[2];
  if (what == "claim" || what == "complete" || what == "start" || what == "events" ||
      what == "actions" || what == "allocations" || what == "attempts" || what == "timeline")
    return what;
  if (what == "workers") return p.size() == 5 && p[4] == "heartbeat" ? "heartbeat" : "workers";
  if (what == "jobs") {
    if (p.size() == 3) return "jobs";
    if (p.size() == 5 && p[4] == "log") return "job_log";
    return "job";
  }
  if (what == "status" || what == "cancel" || what == "restart") return "workflow";
  return "other";
}

void ServerMetrics::ObserveBatch(const ChangeBatch& batch) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [job, d] : batch.jobs) {
    auto key = std::make_pair(batch.workflow, job);
    if (d.status == JobStatus::kClaimed) ++claims_;
    if (d.status == JobStatus::kRunning) {
      ++starts_;
      running_since_[key] = batch.time;
    } else {
      running_since_.erase(key);
    }
  }
  for (const auto& r : batch.results) ++results_[ToString(r.status)];
  for (const auto& e : batch.events) {
    if (e.kind == "lease_expired") ++lease_expiries_;
    if (e.kind == "requeued") ++requeues_;
  }
}

void ServerMetrics::ObserveRequest(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  Histogram& h = requests_[route];
  size_t b = 0;
  while (b < kLatencyBuckets.size() && seconds > kLatencyBuckets[b]) ++b;
  if (b < kLatencyBuckets.size()) ++h.buckets[b];
  ++h.count;
  h.sum += seconds;
  ++h.by_code[std::to_string(status / 100) + "xx"];
}

std::optional<double> ServerMetrics::RunningSince(WorkflowId workflow, JobIndex job) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = running_since_.find({workflow, job});
  if (it == running_since_.end()) return std::nullopt;
  return it->second;
}

namespace {

// The gauges read from the service, one workflow at a time (never both locks at once).
void RenderServiceGauges(Service& service, std::ostringstream& out) {
  Header(out, "torc_workflows", "gauge", "Workflows the server holds.");
  auto ids = service.WorkflowIds();
  out << "torc_workflows " << ids.size() << "\n";
  std::ostringstream jobs, workers, allocations, info;
  for (WorkflowId id : ids) {
    std::string wf = std::to_string(id);
    service.WithWorkflow(id, [&](WorkflowEntry& e) {
      info << "torc_workflow_info{workflow=\"" << wf << "\",name=\"" << Label(e.row.name)
           << "\",owner=\"" << Label(e.row.owner) << "\"} 1\n";
      auto counts = e.core->Counts();
      for (int s = 0; s < kNumJobStatuses; ++s)
        jobs << "torc_jobs{workflow=\"" << wf << "\",state=\""
             << ToString(static_cast<JobStatus>(s)) << "\"} " << counts[s] << "\n";
      size_t alive = 0;
      for (const auto& [wid, w] : e.core->workers()) alive += w.alive ? 1 : 0;
      workers << "torc_workers{workflow=\"" << wf << "\"} " << alive << "\n";
      return ServiceStatus::Ok();
    });
    std::map<std::string, uint64_t> by_state;
    for (const char* s : {"pending", "running", "done", "failed", "canceled"}) by_state[s] = 0;
    for (const auto& a : service.Allocations(id)) ++by_state[a.state];
    for (const auto& [state, n] : by_state)
      allocations << "torc_allocations{workflow=\"" << wf << "\",state=\"" << Label(state)
                  << "\"} " << n << "\n";
  }
  Header(out, "torc_workflow_info", "gauge", "One series per workflow: its name and owner.");
  out << info.str();
  Header(out, "torc_jobs", "gauge", "Jobs per workflow and state.");
  out << jobs.str();
  Header(out, "torc_workers", "gauge", "Workers with a live lease, per workflow.");
  out << workers.str();
  Header(out, "torc_allocations", "gauge", "Slurm allocations the server asked for, by state.");
  out << allocations.str();
}

}  // namespace

std::string ServerMetrics::Render(Service& service) const {
  std::ostringstream out;
  RenderServiceGauges(service, out);

  std::lock_guard<std::mutex> lock(mu_);
  Header(out, "torc_claims_total", "counter", "Jobs handed to workers by claims.");
  out << "torc_claims_total " << claims_ << "\n";
  Header(out, "torc_jobs_started_total", "counter", "Attempts workers reported as started.");
  out << "torc_jobs_started_total " << starts_ << "\n";
  Header(out, "torc_jobs_completed_total", "counter", "Attempts that ended with exit code 0.");
  auto completed = results_.find("completed");
  out << "torc_jobs_completed_total " << (completed == results_.end() ? 0 : completed->second)
      << "\n";
  Header(out, "torc_attempts_ended_total", "counter", "Attempt results recorded, by status.");
  for (const char* s : {"completed", "failed", "terminated", "canceled"}) {
    auto it = results_.find(s);
    out << "torc_attempts_ended_total{status=\"" << s << "\"} "
        << (it == results_.end() ? 0 : it->second) << "\n";
  }
  Header(out, "torc_lease_expiries_total", "counter", "Worker leases that expired.");
  out << "torc_lease_expiries_total " << lease_expiries_ << "\n";
  Header(out, "torc_requeues_total", "counter",
         "Attempts given up (lease expired, worker left, walltime) and run again.");
  out << "torc_requeues_total " << requeues_ << "\n";

  Header(out, "torc_http_request_duration_seconds", "histogram",
         "API request latency in the handler, by route class.");
  for (const auto& [route, h] : requests_) {
    uint64_t cumulative = 0;
    for (size_t b = 0; b < kLatencyBuckets.size(); ++b) {
      cumulative += h.buckets[b];
      out << "torc_http_request_duration_seconds_bucket{route=\"" << route << "\",le=\""
          << Number(kLatencyBuckets[b]) << "\"} " << cumulative << "\n";
    }
    out << "torc_http_request_duration_seconds_bucket{route=\"" << route << "\",le=\"+Inf\"} "
        << h.count << "\n";
    out << "torc_http_request_duration_seconds_sum{route=\"" << route << "\"} " << Number(h.sum)
        << "\n";
    out << "torc_http_request_duration_seconds_count{route=\"" << route << "\"} " << h.count
        << "\n";
  }
  Header(out, "torc_http_requests_total", "counter", "API requests by route class and status class.");
  for (const auto& [route, h] : requests_)
    for (const auto& [code, n] : h.by_code)
      out << "torc_http_requests_total{route=\"" << route << "\",code=\"" << code << "\"} " << n
          << "\n";
  Header(out, "torc_server_start_time_seconds", "gauge", "When this server process started.");
  char start[32];
  std::snprintf(start, sizeof start, "%.3f", start_time_);
  out << "torc_server_start_time_seconds " << start << "\n";
  return out.str();
}

}  // namespace torc::server
