// WriteSetup: the workflow file with the generated setup written in (spec/slurm/setup.h).
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <map>

#include <nlohmann/json.hpp>
#include <re2/re2.h>

#include "spec/slurm/setup.h"
#include "spec/units.h"

namespace torc::spec::slurm {
namespace {

/// Groups with at most this many jobs list them by name; larger ones by the name pattern of
/// each entry wholly in the group (checked to match exactly those jobs).
constexpr size_t kMaxListedJobs = 64;

/// "^prefix.+suffix$" for a name template ("work_{i}" -> "^work_.+$").
std::string NamePattern(const std::string& name_template) {
  std::string out = "^";
  for (size_t k = 0; k < name_template.size(); ++k) {
    char c = name_template[k];
    if (c == '{') {
      size_t close = name_template.find('}', k);
      if (close != std::string::npos) {
        out += ".+";
        k = close;
        continue;
      }
    }
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') out += '\\';
    out += c;
  }
  return out + "$";
}

/// The `jobs` / `job_name_regexes` of a group's action: names, or patterns that match
/// exactly the group's jobs in this plan.
void ListJobs(const Plan& plan, const YAML::Node& entries, const StageGroup& g, YAML::Node* action) {
  std::vector<std::string> patterns;
  bool by_pattern = g.jobs.size() > kMaxListedJobs;
  if (by_pattern) {
    std::map<Index, size_t> in_group, in_plan;
    for (Index j : g.jobs) ++in_group[plan.job_entry[j]];
    for (Index e : plan.job_entry) ++in_plan[e];
    std::vector<bool> wanted(plan.jobs.size(), false);
    for (Index j : g.jobs) wanted[j] = true;
    for (const auto& [e, n] : in_group) {
      std::string pattern = NamePattern(entries[e]["name"].as<std::string>(""));
      RE2 re(pattern);
      // It matches every job of its entry (the name template); it may also match other jobs
      // of this group, never one outside it.
      bool exact = re.ok() && n == in_plan[e];
      for (Index j = 0; exact && j < plan.jobs.size(); ++j)
        if (RE2::PartialMatch(plan.jobs[j].name, re)) exact = wanted[j];
      if (!exact) {
        by_pattern = false;
        break;
      }
      patterns.push_back(pattern);
    }
  }
  if (by_pattern) {
    for (const auto& p : patterns) (*action)["job_name_regexes"].push_back(p);
  } else {
    for (Index j : g.jobs) (*action)["jobs"].push_back(plan.jobs[j].name);
  }
}

std::string GroupWhy(const Setup& setup, const StageGroup& g) {
  std::string jobs = std::to_string(g.jobs.size()) + (g.jobs.size() == 1 ? " job" : " jobs");
  std::string when = g.stage == 0 ? "no dependencies: allocated when the workflow starts"
                                  : "stage " + std::to_string(g.stage) +
                                        ": allocated once these jobs are ready, not before";
  std::string size = std::to_string(g.jobs_per_node) + " per node at a time, " +
                     std::to_string(g.blocks) + " allocation(s) of " +
                     std::to_string(g.num_nodes) + " node(s), " + std::to_string(g.waves) +
                     " round(s) of " + FormatSlurmWalltime(g.runtime_seconds);
  return jobs + " (" + when + "); " + size + (g.elastic ? "; elastic" : "") + " [" +
         setup.schedulers[g.scheduler].name + "]";
}

// ---- YAML output, keeping the file's own scalars as they were quoted ----------------------

void Emit(YAML::Emitter& out, const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      out << YAML::BeginMap;
      for (const auto& kv : node) {
        out << YAML::Key;
        Emit(out, kv.first);
        out << YAML::Value;
        Emit(out, kv.second);
      }
      out << YAML::EndMap;
      break;
    case YAML::NodeType::Sequence:
      out << YAML::BeginSeq;
      for (const auto& item : node) Emit(out, item);
      out << YAML::EndSeq;
      break;
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (s.find('\n') != std::string::npos) out << YAML::Literal << s;
      else if (node.Tag() == "!") out << YAML::DoubleQuoted << s;
      else out << s;
      break;
    }
    default:
      out << YAML::Null;
  }
}

nlohmann::ordered_json ToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::ordered_json o = nlohmann::ordered_json::object();
      for (const auto& kv : node) o[kv.first.Scalar()] = ToJson(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::ordered_json a = nlohmann::ordered_json::array();
      for (const auto& item : node) a.push_back(ToJson(item));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() == "!") return s;
      if (s == "true" || s == "false") return s == "true";
      if (s == "null" || s == "~") return nullptr;
      char* end = nullptr;
      long long i = std::strtoll(s.c_str(), &end, 10);
      if (!s.empty() && *end == '\0') return i;
      double d = std::strtod(s.c_str(), &end);
      if (!s.empty() && *end == '\0' && std::isfinite(d)) return d;
      return s;
    }
    default:
      return nullptr;
  }
}

}  // namespace

bool WriteSetup(const std::string& text, const Plan& plan, const Setup& setup, bool json,
                std::string* out, std::string* error) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    *error = std::string("cannot re-read the workflow file: ") + e.what();
    return false;
  }
  if (!root.IsMap() || !root["jobs"].IsSequence()) {
    *error = "cannot re-read the workflow file: no 'jobs' list";
    return false;
  }
  YAML::Node entries = root["jobs"];
  for (size_t e = 0; e < setup.entry_scheduler.size() && e < entries.size(); ++e)
    if (!setup.entry_scheduler[e].empty()) entries[e]["scheduler"] = setup.entry_scheduler[e];
  std::vector<std::string> comments;  // in order: schedulers, then actions
  for (const auto& s : setup.schedulers) {
    YAML::Node n;
    n["name"] = s.name;
    if (!s.account.empty()) n["account"] = s.account;
    n["partition"] = s.partition;
    n["nodes"] = s.nodes;
    n["walltime"] = FormatSlurmWalltime(s.walltime_seconds);
    if (!s.gres.empty()) n["gres"] = s.gres;
    if (!s.mem.empty()) n["mem"] = s.mem;
    if (!s.extra.empty()) n["extra"] = s.extra;
    root["slurm_schedulers"].push_back(n);
    comments.push_back("scheduler " + s.name + ": " + s.why);
  }
  for (const auto& g : setup.groups) {
    YAML::Node a;
    a["trigger_type"] = g.stage == 0 ? "on_workflow_start" : "on_jobs_ready";
    a["action_type"] = "schedule_nodes";
    a["scheduler"] = setup.schedulers[g.scheduler].name;
    a["scheduler_type"] = "slurm";
    if (g.stage > 0) ListJobs(plan, entries, g, &a);
    if (g.elastic) a["max_allocations"] = g.blocks;
    else a["num_allocations"] = g.blocks;
    root["actions"].push_back(a);
    comments.push_back("action: " + GroupWhy(setup, g));
  }
  if (json) {
    *out = ToJson(root).dump(2) + "\n";
    return true;
  }
  YAML::Emitter emitter;
  emitter.SetIndent(2);
  emitter.SetSeqFormat(YAML::Block);
  Emit(emitter, root);
  if (!emitter.good()) {
    *error = "cannot write the workflow: " + emitter.GetLastError();
    return false;
  }
  std::string header = "# Slurm setup written by `torc slurm generate` (docs/slurm.md, \"Generated "
                       "setup\"):\n";
  for (const auto& c : comments) header += "#   " + c + "\n";
  for (const auto& n : setup.notes) header += "#   note: " + n + "\n";
  *out = header + emitter.c_str() + "\n";
  return true;
}

}  // namespace torc::spec::slurm
