#include "worker/allocation.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <ctime>
#include <set>
#include <sstream>

#include "worker/slurm_text.h"

namespace torc::worker {

using namespace text;

namespace {

constexpr int64_t kBytesPerMB = 1024 * 1024;

/// Reads the environment through the seam, treating empty values as unset.
struct EnvReader {
  const DiscoveryEnv& env;
  std::optional<std::string> Get(const char* name) const {
    const char* v = env.getenv ? env.getenv(name) : nullptr;
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  }
};

std::string Quoted(const char* name, const std::string& value) {
  return std::string(name) + "='" + value + "'";
}

// An environment variable holding a non-negative count ("4000").
bool CountVar(const EnvReader& env, const char* name, std::optional<int64_t>* out,
              std::string* error) {
  auto text = env.Get(name);
  out->reset();
  if (!text) return true;
  int64_t v = 0;
  if (!ParseCount(Trim(*text), &v)) {
    *error = Quoted(name, *text) + " is not a non-negative integer";
    return false;
  }
  *out = v;
  return true;
}

// mb megabytes times factor, in bytes; false on overflow.
bool MegabytesToBytes(int64_t mb, int64_t factor, int64_t* bytes) {
  __int128 b = static_cast<__int128>(mb) * kBytesPerMB;  // both below 2^63: no overflow
  if (b > INT64_MAX) return false;
  b *= factor;
  if (b > INT64_MAX) return false;
  *bytes = static_cast<int64_t>(b);
  return true;
}

// GPU indices from a comma-separated list. Strict (SLURM_JOB_GPUS): every
// entry a distinct number. Lenient (CUDA_VISIBLE_DEVICES, which may hold
// UUIDs): if any entry is not a number, the devices are numbered 0..n-1.
bool ParseGpuList(const char* name, const std::string& text, bool strict, std::vector<int>* gpus,
                  std::string* error) {
  gpus->clear();
  std::string_view list = Trim(text);
  // Slurm's "no devices" marker when a job has GPU gres without device files.
  if (list.empty() || list == "NoDevFiles") return true;
  std::vector<std::string_view> items = Split(list, ',');
  if (!strict) {
    // CUDA stops at a negative index: "-1" hides every device.
    for (size_t i = 0; i < items.size(); ++i) {
      std::string_view item = Trim(items[i]);
      if (item.size() > 1 && item[0] == '-' && AllDigits(item.substr(1))) {
        items.resize(i);
        break;
      }
    }
  }
  std::vector<int> values;
  std::set<int64_t> seen;
  for (std::string_view item : items) {
    int64_t v = 0;
    if (!ParseCount(Trim(item), &v) || v > INT_MAX || !seen.insert(v).second) break;
    values.push_back(static_cast<int>(v));
  }
  if (values.size() == items.size()) {
    *gpus = std::move(values);
    return true;
  }
  if (strict) {
    *error = Quoted(name, text) + " is not a list of distinct GPU indices";
    return false;
  }
  for (size_t i = 0; i < items.size(); ++i) gpus->push_back(static_cast<int>(i));
  return true;
}

// CPUs per node: SLURM_JOB_CPUS_PER_NODE when it has one count per node, else
// SLURM_CPUS_ON_NODE for all, else the machine's. *source names where they came from.
bool SlurmCpus(const EnvReader& env, size_t node_count, std::vector<int64_t>* cpus,
               std::string* source, std::string* error) {
  cpus->clear();
  if (auto text = env.Get("SLURM_JOB_CPUS_PER_NODE")) {
    std::string why;
    if (!ExpandCountList(*text, cpus, &why)) {
      *error = Quoted("SLURM_JOB_CPUS_PER_NODE", *text) + " is not a valid count list: " + why;
      return false;
    }
    *source = Quoted("SLURM_JOB_CPUS_PER_NODE", *text);
  }
  if (cpus->size() != node_count) {
    std::optional<int64_t> on_node;
    if (!CountVar(env, "SLURM_CPUS_ON_NODE", &on_node, error)) return false;
    cpus->assign(node_count, on_node ? *on_node : env.env.machine_cpus());
    *source = on_node ? Quoted("SLURM_CPUS_ON_NODE", std::to_string(*on_node)) : "the machine";
  }
  return true;
}

// Memory of each node: SLURM_MEM_PER_NODE (MB; 0 is Slurm's "all of it"), else
// SLURM_MEM_PER_CPU (MB) times the node's CPUs, else the machine's.
bool SlurmMemory(const EnvReader& env, const std::vector<int64_t>& cpus,
                 std::vector<int64_t>* memory, std::string* error) {
  std::optional<int64_t> per_node, per_cpu;
  if (!CountVar(env, "SLURM_MEM_PER_NODE", &per_node, error)) return false;
  if (!CountVar(env, "SLURM_MEM_PER_CPU", &per_cpu, error)) return false;
  memory->clear();
  for (int64_t node_cpus : cpus) {
    int64_t bytes = 0;
    if (per_node && *per_node > 0) {
      if (!MegabytesToBytes(*per_node, 1, &bytes)) {
        *error = Quoted("SLURM_MEM_PER_NODE", std::to_string(*per_node)) + " is too large";
        return false;
      }
    } else if (!per_node && per_cpu) {
      if (!MegabytesToBytes(*per_cpu, std::max<int64_t>(node_cpus, 0), &bytes)) {
        *error = Quoted("SLURM_MEM_PER_CPU", std::to_string(*per_cpu)) + " is too large";
        return false;
      }
    } else {
      bytes = env.env.machine_memory_bytes();
    }
    memory->push_back(bytes);
  }
  return true;
}

// Nodes, CPUs, memory and GPUs of the Slurm allocation (before overrides).
bool DiscoverSlurmNodes(const EnvReader& env, const DiscoveryOptions& options, Allocation* out,
                        std::string* error) {
  const char* list_var = "SLURM_JOB_NODELIST";
  auto list = env.Get(list_var);
  if (!list) list = env.Get(list_var = "SLURM_NODELIST");
  if (!list) {
    *error = Quoted("SLURM_JOB_ID", out->slurm_job_id) +
             " is set but neither SLURM_JOB_NODELIST nor SLURM_NODELIST is";
    return false;
  }
  std::vector<std::string> names;
  std::string why;
  if (!ExpandHostlist(*list, &names, &why)) {
    *error = Quoted(list_var, *list) + " is not a valid hostlist: " + why;
    return false;
  }
  std::vector<int64_t> cpus, memory;
  std::string cpus_source;
  if (!SlurmCpus(env, names.size(), &cpus, &cpus_source, error)) return false;
  if (!SlurmMemory(env, cpus, &memory, error)) return false;
  std::vector<int> gpus;
  if (auto text = env.Get("SLURM_JOB_GPUS")) {
    if (!ParseGpuList("SLURM_JOB_GPUS", *text, true, &gpus, error)) return false;
  } else if (auto cuda = env.Get("CUDA_VISIBLE_DEVICES")) {
    ParseGpuList("CUDA_VISIBLE_DEVICES", *cuda, false, &gpus, error);
  }
  for (size_t i = 0; i < names.size(); ++i)
    out->nodes.push_back(NodeInfo{std::move(names[i]), cpus[i], memory[i], gpus});

  if (options.this_node_only) {
    auto self = env.Get("SLURMD_NODENAME");
    auto it = out->nodes.begin();  // without SLURMD_NODENAME: the first node
    if (self) {
      it = std::find_if(out->nodes.begin(), out->nodes.end(),
                        [&](const NodeInfo& n) { return n.name == *self; });
      if (it == out->nodes.end()) {
        *error = Quoted("SLURMD_NODENAME", *self) + " is not in " + Quoted(list_var, *list);
        return false;
      }
    }
    NodeInfo node = std::move(*it);
    out->nodes.assign(1, std::move(node));
  }

  // Checked here so the message names the variable the value came from; --cpus replaces it.
  for (const auto& node : out->nodes) {
    if (node.cpus < 1 && !options.cpus) {
      *error = cpus_source + " gives node " + node.name + " " + std::to_string(node.cpus) +
               " CPUs; at least 1 is needed";
      return false;
    }
  }
  return true;
}

// The allocation's start and end time from one squeue call ("%S %e"); each nullopt when
// unknown or unlimited.
void SlurmTimes(const DiscoveryEnv& env, const DiscoveryOptions& options,
                const std::string& job_id, Allocation* out) {
  if (!env.run) return;
  std::string output;
  int code = env.run({options.squeue, "-h", "-j", job_id, "-o", "%S %e"}, &output);
  if (code != 0) return;
  std::istringstream first(output.substr(0, output.find('\n')));
  std::string start, end;
  first >> start >> end;
  out->start_time = ParseSlurmTime(start);
  out->end_time = ParseSlurmTime(end);
}

// The value of `key=` in "k1=v1<sep>k2=v2...", where key starts the text or follows sep; "" if
// absent.
std::string KeyValue(const std::string& text, const std::string& key, char sep) {
  for (size_t p = text.find(key + "="); p != std::string::npos; p = text.find(key + "=", p + 1)) {
    if (p > 0 && text[p - 1] != sep) continue;
    size_t start = p + key.size() + 1;
    return text.substr(start, text.find(sep, start) - start);
  }
  return "";
}

// What one `scontrol show job -o ID` says: the end time ("EndTime=2026-11-22T10:20:44",
// "Unknown" without a time limit) and the memory per node from the allocated TRES
// ("TRES=cpu=8,mem=8000M,node=2").
struct ScontrolJob {
  std::optional<double> start_time, end_time;
  std::optional<int64_t> memory_per_node;
};

std::optional<ScontrolJob> SlurmScontrolJob(const DiscoveryEnv& env,
                                            const DiscoveryOptions& options,
                                            const std::string& job_id) {
  ScontrolJob job;
  std::string output;
  // The batch script of one worker per node reads it once for all (TORC_SLURM_JOB).
  const char* shared = env.getenv ? env.getenv("TORC_SLURM_JOB") : nullptr;
  if (shared && std::string_view(shared).starts_with("JobId=" + job_id + " ")) {
    output = shared;
  } else if (env.run({options.scontrol, "show", "job", "-o", job_id}, &output) != 0) {
    return std::nullopt;
  }
  output = output.substr(0, output.find('\n'));
  job.end_time = ParseSlurmTime(KeyValue(output, "EndTime", ' '));
  job.start_time = ParseSlurmTime(KeyValue(output, "StartTime", ' '));
  // Newer Slurm prints AllocTRES= (and ReqTRES=) where 22.05 prints TRES=.
  std::string tres = KeyValue(output, "AllocTRES", ' ');
  if (tres.empty()) tres = KeyValue(output, "TRES", ' ');
  std::string mem = KeyValue(tres, "mem", ','), nodes = KeyValue(tres, "node", ',');
  if (mem.empty() || nodes.empty()) return job;
  char unit = mem.back();
  double amount = std::atof(mem.c_str());
  double scale = unit == 'G' ? 1024.0 * 1024 * 1024 : unit == 'T' ? 1024.0 * 1024 * 1024 * 1024
                                                      : unit == 'K' ? 1024.0 : 1024.0 * 1024;
  int64_t n = std::atoll(nodes.c_str());
  if (amount <= 0 || n <= 0) return job;
  job.memory_per_node = static_cast<int64_t>(amount * scale / static_cast<double>(n));
  return job;
}

bool ValidateOptions(const DiscoveryOptions& options, std::string* error) {
  if (options.cpus && *options.cpus < 1) {
    *error = "--cpus must be at least 1, not " + std::to_string(*options.cpus);
    return false;
  }
  if (options.memory_bytes && *options.memory_bytes < 0) {
    *error = "--memory must not be negative, not " + std::to_string(*options.memory_bytes);
    return false;
  }
  if (options.gpus && (*options.gpus < 0 || *options.gpus > INT_MAX)) {
    *error = "--gpus must be between 0 and " + std::to_string(INT_MAX) + ", not " +
             std::to_string(*options.gpus);
    return false;
  }
  if (options.time_limit_seconds && !(*options.time_limit_seconds >= 0)) {
    *error =
        "--time-limit must not be negative, not " + std::to_string(*options.time_limit_seconds);
    return false;
  }
  return true;
}

void ApplyOverrides(const DiscoveryOptions& options, double now, Allocation* out) {
  for (auto& node : out->nodes) {
    if (options.cpus) node.cpus = *options.cpus;
    if (options.memory_bytes) node.memory_bytes = *options.memory_bytes;
    if (options.gpus) {
      node.gpus.clear();
      for (int g = 0; g < static_cast<int>(*options.gpus); ++g) node.gpus.push_back(g);
    }
  }
  if (options.time_limit_seconds) {
    double end = now + *options.time_limit_seconds;
    out->end_time = out->end_time ? std::min(*out->end_time, end) : end;
  }
}

}  // namespace

double ClaimableRuntime(const Allocation& a, double now, double startup_allowance) {
  if (!a.end_time) return 1e18;
  double gone = a.start_time ? std::clamp(now - *a.start_time, 0.0, startup_allowance) : 0.0;
  return *a.end_time - now + gone;
}

bool DiscoverAllocation(const DiscoveryEnv& env, const DiscoveryOptions& options, double now,
                        Allocation* out, std::string* error) {
  *out = Allocation{};
  if (!ValidateOptions(options, error)) return false;
  EnvReader reader{env};
  auto job_id = options.ignore_slurm ? std::nullopt : reader.Get("SLURM_JOB_ID");
  if (job_id) {
    out->in_slurm = true;
    out->slurm_job_id = *job_id;
    int64_t restarts = 0;
    if (auto text = reader.Get("SLURM_RESTART_COUNT"); text && ParseCount(Trim(*text), &restarts))
      out->restart_count = static_cast<uint32_t>(std::min<int64_t>(restarts, UINT32_MAX));
    if (!DiscoverSlurmNodes(reader, options, out, error)) return false;
    // `--mem=0` (whole nodes, as torc's own scripts ask) sets no SLURM_MEM_* variable:
    // ask Slurm what the allocation holds (TRES mem / nodes) rather than trust the
    // machine's size. That one scontrol call also gives the end time, which
    // otherwise comes from squeue: one Slurm command either way, as the worker's
    // start-up is on every allocation's critical path.
    if (!reader.Get("SLURM_MEM_PER_NODE") && !reader.Get("SLURM_MEM_PER_CPU") && env.run) {
      auto job = SlurmScontrolJob(env, options, out->slurm_job_id);
      // scontrol failed: the walltime still matters more than the memory; ask squeue.
      if (job) {
        out->end_time = job->end_time;
        out->start_time = job->start_time;
      } else {
        SlurmTimes(env, options, out->slurm_job_id, out);
      }
      if (job && job->memory_per_node)
        for (auto& node : out->nodes) node.memory_bytes = *job->memory_per_node;
    } else {
      SlurmTimes(env, options, out->slurm_job_id, out);
    }
  } else {
    NodeInfo node;
    node.name = env.hostname();
    node.cpus = env.machine_cpus();
    node.memory_bytes = env.machine_memory_bytes();
    if (auto cuda = reader.Get("CUDA_VISIBLE_DEVICES"))
      ParseGpuList("CUDA_VISIBLE_DEVICES", *cuda, false, &node.gpus, error);
    out->nodes.push_back(std::move(node));
  }
  ApplyOverrides(options, now, out);
  for (const auto& node : out->nodes) {
    if (node.cpus < 1) {
      *error = "node " + node.name + " reports " + std::to_string(node.cpus) + " CPUs; pass --cpus";
      return false;
    }
    if (node.memory_bytes < 0) {
      *error = "node " + node.name + " reports " + std::to_string(node.memory_bytes) +
               " bytes of memory; pass --memory";
      return false;
    }
  }
  return true;
}

std::string SlurmStopReason(const DiscoveryEnv& env, const DiscoveryOptions& options,
                            const std::string& job_id) {
  std::string output;
  if (!env.run || env.run({options.scontrol, "show", "job", "-o", job_id}, &output) != 0)
    return "";
  output = output.substr(0, output.find('\n'));
  const std::string state = KeyValue(output, "JobState", ' ');
  const std::string preempt_time = KeyValue(output, "PreemptTime", ' ');
  // Requeued while this run went on (PreemptMode=REQUEUE, measured: by the time the batch
  // shell gets its SIGTERM the job reads COMPLETING with PreemptTime=None and Restarts one more
  // than this run's SLURM_RESTART_COUNT).
  int64_t restarts = 0, own = 0;
  const char* own_text = env.getenv ? env.getenv("SLURM_RESTART_COUNT") : nullptr;
  if (own_text) ParseCount(Trim(own_text), &own);
  const bool requeued = ParseCount(KeyValue(output, "Restarts", ' '), &restarts) && restarts > own;
  if ((!preempt_time.empty() && preempt_time != "None") || state == "PREEMPTED" ||
      state == "REQUEUED" || state == "PENDING" || requeued)
    return "preempted";
  if (state == "TIMEOUT" || KeyValue(output, "Reason", ' ') == "TimeLimit") return "walltime";
  return "";
}

StepLimit SlurmStepLimit(const DiscoveryEnv& env, const DiscoveryOptions& options) {
  StepLimit limit;
  EnvReader reader{env};
  // Slurm's own steps (batch 0xFFFFFFFB, extern, interactive, ...) have ids near 2^32: they are
  // not numbered steps, and the batch script (torc's slurm mode) is one of them.
  int64_t step = 0;
  if (auto id = reader.Get("SLURM_STEP_ID"); id && ParseCount(Trim(*id), &step) && step < 0xFFFFFFF0)
    limit.steps_before = step + 1;
  std::string output;
  if (!env.run || env.run({options.scontrol, "show", "config"}, &output) != 0) return limit;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    const size_t eq = line.find('=');
    if (eq == std::string::npos || Trim(std::string_view(line).substr(0, eq)) != "MaxStepCount")
      continue;
    int64_t max = 0;
    if (ParseCount(Trim(std::string_view(line).substr(eq + 1)), &max) && max > 0) {
      limit.max_steps = max;
      limit.from_slurm = true;
    }
    break;
  }
  return limit;
}

}  // namespace torc::worker
