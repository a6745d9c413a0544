// Server benchmarks against a real `torc server run` over HTTP.
//
//   server_bench TORC_BINARY submit N          time to submit an N-job sweep (POST to 201)
//   server_bench TORC_BINARY dispatch N T B    T simulated workers claim and complete N
//                                              independent jobs in batches of B, no processes
//   server_bench TORC_BINARY workers N T B     T simulated workers as torc's own send it: each
//                                              claims B jobs, reports their start in one claim
//                                              and their results (times, usage, nodes) in the
//                                              claim that takes the next B; one connection each
//   server_bench TORC_BINARY memory N          server resident memory holding N jobs
//
// SERVER_BENCH_TLS=1 starts the server with --tls (HTTPS, as on a cluster address).
// Prints one JSON line per run.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../server/server_process.h"

using namespace torc;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string Sweep(long n) {
  return "name: sweep\njobs:\n  - name: job_{i}\n    command: python run.py --index {i}\n"
         "    parameters:\n      i: \"1:" +
         std::to_string(n) + "\"\n";
}

/// CPU seconds (user + system) the process `pid` has used so far.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int k = 3; k <= 15 && fields >> field; ++k)
    if (k >= 14) ticks += std::stod(field);  // utime, stime
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

int64_t Submit(server::ApiClient& c, long n, double* seconds) {
  auto t0 = Clock::now();
  auto r = c.Call("POST", "/workflows", {{"spec_text", Sweep(n)}, {"file_name", "sweep.yaml"}});
  *seconds = Seconds(t0);
  if (r.status != 201) {
    std::fprintf(stderr, "submit failed: %s\n", r.body.dump().c_str());
    std::exit(1);
  }
  return r.body["workflow_id"];
}

/// The server's CPU and the wall time of `threads` threads running `body` to their end.
struct Measured {
  double seconds = 0, cpu = 0;
};
template <typename Body>
Measured OnThreads(testing::ServerProcess& server, int threads, Body body) {
  const double cpu0 = CpuSeconds(server.pid());
  auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(body);
  for (auto& t : pool) t.join();
  return {Seconds(t0), CpuSeconds(server.pid()) - cpu0};
}

/// Submits an n-job sweep; its path under /workflows.
std::string SubmitSweep(testing::ServerProcess& server, long n) {
  auto c = server.Client(std::chrono::seconds(120));
  double submit_s = 0;
  return "/workflows/" + std::to_string(Submit(*c, n, &submit_s));
}

int Dispatch(testing::ServerProcess& server, long n, int threads, int batch) {
  const std::string base = SubmitSweep(server, n);
  std::atomic<long> done{0};
  const Measured m = OnThreads(server, threads, [&] {
    auto client = server.Client(std::chrono::seconds(120));
    int64_t w = client->Call("POST", base + "/workers", {{"hostname", "bench"}}).body["worker_id"];
    json nodes =
        json::array({{{"free_cpus", batch}, {"free_memory_bytes", 1LL << 50}, {"idle", true}}});
    while (true) {
      auto r = client->Call("POST", base + "/claim",
                            {{"worker_id", w}, {"max_jobs", batch}, {"nodes", nodes}});
      const json& jobs = r.body["jobs"];
      if (jobs.empty()) {
        if (r.body["workflow_complete"].get<bool>() || done >= n) return;
        continue;
      }
      json results = json::array();
      for (const auto& j : jobs)
        results.push_back({{"id", j["id"]}, {"attempt", j["attempt"]}, {"status", "completed"}});
      auto a = client->Call("POST", base + "/complete", {{"worker_id", w}, {"results", results}});
      if (a.status != 200) {
        std::fprintf(stderr, "complete failed: %d %s\n", a.status, a.error.c_str());
        std::exit(1);
      }
      done += static_cast<long>(jobs.size());
    }
  });
  const double s = m.seconds, cpu = m.cpu;
  std::printf(
      "{\"case\": \"dispatch\", \"jobs\": %ld, \"threads\": %d, \"batch\": %d, "
      "\"seconds\": %.3f, \"jobs_per_second\": %.0f, \"server_cpu_us_per_job\": %.1f, "
      "\"server_peak_rss_mib\": %.1f}\n",
      done.load(), threads, batch, s, static_cast<double>(done) / s,
      cpu / static_cast<double>(std::max(1L, done.load())) * 1e6,
      static_cast<double>(server.MemoryKiB("VmHWM:")) / 1024.0);
  return done == n ? 0 : 1;
}

/// What a real worker's claims carry (worker/worker.cc): start notices, then full results.
int Workers(testing::ServerProcess& server, long n, int threads, int batch) {
  const std::string base = SubmitSweep(server, n);
  std::atomic<long> done{0}, requests{0};
  const Measured m = OnThreads(server, threads, [&] {
    auto client = server.Client(std::chrono::seconds(120));
    const json resources = {
        {"num_cpus", batch}, {"memory_bytes", 1LL << 34}, {"num_gpus", 0}, {"num_nodes", 1}};
    int64_t w = client
                    ->Call("POST", base + "/workers",
                           {{"hostname", "bench"}, {"pid", 1}, {"resources", resources}})
                    .body["worker_id"];
    auto node = [&](int free) {
      return json::array({{{"free_cpus", free},
                           {"free_gpus", 0},
                           {"free_memory_bytes", 1LL << 34},
                           {"idle", free == batch},
                           {"total_cpus", batch},
                           {"total_gpus", 0},
                           {"total_memory_bytes", 1LL << 34}}});
    };
    auto claim = [&](json body) {
      ++requests;
      auto r = client->Call("POST", base + "/claim", body);
      if (r.status != 200) {
        std::fprintf(stderr, "claim failed: %d %s\n", r.status, r.body.dump().c_str());
        std::exit(1);
      }
      return r.body;
    };
    json jobs = claim({{"worker_id", w}, {"max_jobs", batch}, {"nodes", node(batch)}})["jobs"];
    while (!jobs.empty()) {
      json started = json::array(), results = json::array();
      for (const auto& j : jobs)
        started.push_back({{"id", j["id"]}, {"attempt", j["attempt"]}, {"nodes", "bench"}});
      claim({{"worker_id", w}, {"max_jobs", 0}, {"nodes", node(0)}, {"started", started}});
      const double now =
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
              .count();
      for (const auto& j : jobs) {
        json usage = json::array(
            {{{"cpu_seconds", 0.007}, {"node", "bench"}, {"peak_rss_bytes", 13156352}}});
        results.push_back({{"id", j["id"]},
                           {"attempt", j["attempt"]},
                           {"status", "completed"},
                           {"exit_code", 0},
                           {"signal", 0},
                           {"reason", ""},
                           {"start_time", now - 1},
                           {"end_time", now},
                           {"cpu_seconds", 0.007},
                           {"peak_rss_bytes", 13156352},
                           {"nodes", "bench"},
                           {"node_usage", usage}});
      }
      done += static_cast<long>(jobs.size());
      jobs = claim({{"worker_id", w},
                    {"max_jobs", batch},
                    {"nodes", node(batch)},
                    {"results", results}})["jobs"];
    }
  });
  const double s = m.seconds, cpu = m.cpu;
  std::printf(
      "{\"case\": \"workers\", \"jobs\": %ld, \"threads\": %d, \"batch\": %d, "
      "\"seconds\": %.3f, \"requests\": %ld, \"server_cpu_us_per_job\": %.1f, "
      "\"server_cpu_us_per_request\": %.1f}\n",
      done.load(), threads, batch, s, requests.load(),
      cpu / static_cast<double>(std::max(1L, done.load())) * 1e6,
      cpu / static_cast<double>(std::max(1L, requests.load())) * 1e6);
  return done == n ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: server_bench TORC_BINARY submit|dispatch|workers|memory N [T B]\n");
    return 2;
  }
  std::string mode = argv[2];
  long n = std::atol(argv[3]);
  testing::TempDir dir;
  // SERVER_BENCH_TLS=1: the server speaks HTTPS (--tls), as it does on a cluster's address.
  const char* tls = std::getenv("SERVER_BENCH_TLS");
  std::vector<std::string> extra;
  if (tls != nullptr && std::string(tls) == "1") extra.push_back("--tls");
  testing::ServerProcess server(argv[1], dir.path(), extra);
  server.Start();
  if (mode == "dispatch")
    return Dispatch(server, n, argc > 4 ? std::atoi(argv[4]) : 2,
                    argc > 5 ? std::atoi(argv[5]) : 1000);
  if (mode == "workers")
    return Workers(server, n, argc > 4 ? std::atoi(argv[4]) : 2,
                   argc > 5 ? std::atoi(argv[5]) : 16);
  auto c = server.Client(std::chrono::seconds(300));
  double seconds = 0;
  long before = server.MemoryKiB();
  Submit(*c, n, &seconds);
  if (mode == "submit") {
    std::printf("{\"case\": \"submit\", \"jobs\": %ld, \"seconds\": %.3f}\n", n, seconds);
  } else {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::printf(
        "{\"case\": \"memory\", \"jobs\": %ld, \"rss_before_mib\": %.1f, "
        "\"rss_mib\": %.1f, \"peak_rss_mib\": %.1f}\n",
        n, before / 1024.0, server.MemoryKiB() / 1024.0, server.MemoryKiB("VmHWM:") / 1024.0);
  }
  return 0;
}
