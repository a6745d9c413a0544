// What `torc slurm generate` and `torc slurm plan` know of a cluster: its partitions, each with
// its time limit and the shapes of its nodes. Read from `scontrol show partition -o` and
// `scontrol show node -o` (the CLI runs them), or from a cluster file written by
// `--save-cluster` (JSON, docs/slurm.md "Generated setup"), so that planning works elsewhere.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace torc::spec::slurm {

/// One kind of node of a partition and how many the partition has.
struct NodeShape {
  int64_t cpus = 0;
  int64_t memory_bytes = 0;  // RealMemory
  int64_t gpus = 0;          // from Gres "gpu[:type]:N"
  int64_t count = 0;
};

/// A Slurm partition as planning sees it.
struct Partition {
  std::string name;
  bool is_default = false;
  int64_t max_time_seconds = 0;  // MaxTime; 0: UNLIMITED
  int64_t max_nodes = 0;         // MaxNodes per job; 0: UNLIMITED
  bool up = true;                // State=UP
  std::vector<NodeShape> nodes;  // distinct shapes, largest CPUs first

  int64_t TotalNodes() const;
};

/// The partitions of one cluster.
struct Cluster {
  std::string name;  // ClusterName when known ("" else)
  std::vector<Partition> partitions;
};

/// Builds the cluster from the text of `scontrol show partition -o` and `scontrol show node -o`
/// (one record per line, Key=Value words). False with *error naming the line it could not read.
bool ParseScontrol(const std::string& partitions_text, const std::string& nodes_text,
                   Cluster* cluster, std::string* error);

/// The cluster file's JSON (pretty-printed), and back. ReadClusterJson's errors name the field.
std::string ClusterToJson(const Cluster& cluster);
bool ClusterFromJson(const std::string& text, Cluster* cluster, std::string* error);

}  // namespace torc::spec::slurm
