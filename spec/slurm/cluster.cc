#include "spec/slurm/cluster.h"

#include <algorithm>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "spec/units.h"

namespace torc::spec::slurm {
namespace {

/// The Key=Value words of one `scontrol -o` record. A word without '=' continues the value
/// before it (`OS=Linux 6.1 #1 SMP` is one value).
std::map<std::string, std::string> Fields(const std::string& line) {
  std::map<std::string, std::string> out;
  std::istringstream words(line);
  std::string last;
  for (std::string w; words >> w;) {
    size_t eq = w.find('=');
    if (eq == std::string::npos || eq == 0) {
      if (!last.empty()) out[last] += " " + w;
      continue;
    }
    last = w.substr(0, eq);
    out[last] = w.substr(eq + 1);
  }
  return out;
}

bool ParseCount(const std::string& text, int64_t* value) {
  if (text.empty() || text.size() > 18) return false;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *value = v;
  return true;
}

/// GPUs in a Gres value: "gpu:2", "gpu:a100:4(S:0-1)", "gpu:a100:2,gpu:v100:1", "(null)".
int64_t GpusOf(std::string gres) {
  std::string plain;
  int depth = 0;
  for (char c : gres) {
    if (c == '(') ++depth;
    else if (c == ')') depth = std::max(0, depth - 1);
    else if (depth == 0) plain += c;
  }
  int64_t total = 0;
  std::istringstream items(plain);
  for (std::string item; std::getline(items, item, ',');) {
    if (item.rfind("gpu", 0) != 0) continue;
    size_t colon = item.rfind(':');
    int64_t n = 0;
    if (colon != std::string::npos && ParseCount(item.substr(colon + 1), &n)) total += n;
  }
  return total;
}

/// "UNLIMITED"/"INFINITE" as 0, else a Slurm time or a count; false when it is neither.
bool ParseLimit(const std::string& text, bool is_time, int64_t* value) {
  if (text.empty() || text == "UNLIMITED" || text == "INFINITE" || text == "NONE") {
    *value = 0;
    return true;
  }
  std::string ignored;
  return is_time ? ParseSlurmWalltime(text, value, &ignored) : ParseCount(text, value);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.find_first_not_of(" \t\r") != std::string::npos) out.push_back(line);
  return out;
}

}  // namespace

int64_t Partition::TotalNodes() const {
  int64_t n = 0;
  for (const auto& s : nodes) n += s.count;
  return n;
}

bool ParseScontrol(const std::string& partitions_text, const std::string& nodes_text,
                   Cluster* cluster, std::string* error) {
  *cluster = {};
  std::map<std::string, size_t> index;
  int line_no = 0;
  for (const std::string& line : Lines(partitions_text)) {
    ++line_no;
    auto f = Fields(line);
    Partition p;
    p.name = f["PartitionName"];
    if (p.name.empty()) {
      *error = "scontrol show partition, line " + std::to_string(line_no) +
               ": no PartitionName= in '" + line.substr(0, 60) + "'";
      return false;
    }
    p.is_default = f["Default"] == "YES";
    p.up = f.count("State") == 0 || f["State"] == "UP";
    if (!ParseLimit(f["MaxTime"], true, &p.max_time_seconds) ||
        !ParseLimit(f["MaxNodes"], false, &p.max_nodes)) {
      *error = "scontrol show partition, partition " + p.name + ": cannot read MaxTime='" +
               f["MaxTime"] + "' or MaxNodes='" + f["MaxNodes"] + "'";
      return false;
    }
    index[p.name] = cluster->partitions.size();
    cluster->partitions.push_back(std::move(p));
  }
  line_no = 0;
  for (const std::string& line : Lines(nodes_text)) {
    ++line_no;
    auto f = Fields(line);
    NodeShape shape;
    shape.count = 1;
    const std::string& cpus = f.count("CPUEfctv") ? f["CPUEfctv"] : f["CPUTot"];
    int64_t mb = 0;
    if (f["NodeName"].empty() || !ParseCount(cpus, &shape.cpus) ||
        !ParseCount(f["RealMemory"], &mb)) {
      *error = "scontrol show node, line " + std::to_string(line_no) +
               ": no NodeName=, CPUTot= or RealMemory= in '" + line.substr(0, 60) + "'";
      return false;
    }
    shape.memory_bytes = mb << 20;
    shape.gpus = GpusOf(f["Gres"]);
    std::istringstream parts(f["Partitions"]);
    for (std::string name; std::getline(parts, name, ',');) {
      auto it = index.find(name);
      if (it == index.end()) continue;  // a partition this user cannot see
      auto& shapes = cluster->partitions[it->second].nodes;
      auto same = std::find_if(shapes.begin(), shapes.end(), [&](const NodeShape& s) {
        return s.cpus == shape.cpus && s.memory_bytes == shape.memory_bytes &&
               s.gpus == shape.gpus;
      });
      if (same == shapes.end()) shapes.push_back(shape);
      else ++same->count;
    }
  }
  for (auto& p : cluster->partitions)
    std::sort(p.nodes.begin(), p.nodes.end(), [](const NodeShape& a, const NodeShape& b) {
      return std::tie(b.cpus, b.memory_bytes, b.gpus) < std::tie(a.cpus, a.memory_bytes, a.gpus);
    });
  return true;
}

std::string ClusterToJson(const Cluster& cluster) {
  nlohmann::ordered_json parts = nlohmann::ordered_json::array();
  for (const auto& p : cluster.partitions) {
    nlohmann::ordered_json nodes = nlohmann::ordered_json::array();
    for (const auto& s : p.nodes)
      nodes.push_back({{"count", s.count},
                       {"cpus", s.cpus},
                       {"memory_mb", s.memory_bytes >> 20},
                       {"gpus", s.gpus}});
    parts.push_back({{"name", p.name},
                     {"default", p.is_default},
                     {"up", p.up},
                     {"max_time", p.max_time_seconds ? FormatSlurmWalltime(p.max_time_seconds)
                                                     : "UNLIMITED"},
                     {"max_nodes_per_job", p.max_nodes},
                     {"nodes", nodes}});
  }
  nlohmann::ordered_json j = {{"torc_cluster", 1}, {"name", cluster.name}, {"partitions", parts}};
  return j.dump(2) + "\n";
}

bool ClusterFromJson(const std::string& text, Cluster* cluster, std::string* error) {
  *cluster = {};
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("partitions") ||
      !j["partitions"].is_array()) {
    *error = "not a torc cluster file (a JSON object with 'partitions', as written by "
             "`torc slurm generate --save-cluster FILE`)";
    return false;
  }
  if (j.contains("name") && j["name"].is_string()) cluster->name = j["name"];
  size_t k = 0;
  for (const auto& pj : j["partitions"]) {
    std::string where = "partitions[" + std::to_string(k++) + "]";
    auto count = [&](const nlohmann::json& o, const char* key, int64_t* out, bool required) {
      if (!o.contains(key)) return !required;
      if (!o[key].is_number_integer() || o[key].get<int64_t>() < 0) return false;
      *out = o[key].get<int64_t>();
      return true;
    };
    Partition p;
    if (!pj.is_object() || !pj.contains("name") || !pj["name"].is_string() ||
        pj["name"].get<std::string>().empty()) {
      *error = where + ": needs a 'name'";
      return false;
    }
    p.name = pj["name"];
    p.is_default = pj.value("default", false);
    p.up = pj.value("up", true);
    std::string max_time = pj.value("max_time", std::string("UNLIMITED"));
    if (!ParseLimit(max_time, true, &p.max_time_seconds) ||
        !count(pj, "max_nodes_per_job", &p.max_nodes, false)) {
      *error = where + " (" + p.name + "): 'max_time' must be a Slurm time or UNLIMITED and "
               "'max_nodes_per_job' a count";
      return false;
    }
    if (!pj.contains("nodes") || !pj["nodes"].is_array()) {
      *error = where + " (" + p.name + "): needs 'nodes', a list of {count, cpus, memory_mb, gpus}";
      return false;
    }
    for (const auto& nj : pj["nodes"]) {
      NodeShape s;
      int64_t mb = 0;
      if (!nj.is_object() || !count(nj, "count", &s.count, true) ||
          !count(nj, "cpus", &s.cpus, true) || !count(nj, "memory_mb", &mb, true) ||
          !count(nj, "gpus", &s.gpus, false)) {
        *error = where + " (" + p.name + "): each node shape needs 'count', 'cpus' and "
                 "'memory_mb' (counts) and may have 'gpus'";
        return false;
      }
      s.memory_bytes = mb << 20;
      p.nodes.push_back(s);
    }
    cluster->partitions.push_back(std::move(p));
  }
  return true;
}

}  // namespace torc::spec::slurm
