#include "cmd/slurm_setup.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "cmd/client_support.h"
#include "cmd/workflow_file.h"
#include "server/slurm.h"
#include "spec/slurm/setup.h"
#include "spec/units.h"

namespace torc::cmd {
namespace {

/// The cluster: from the cluster file, else from two scontrol calls (TORC_SCONTROL overrides
/// the path). Exits 1 with what to do when neither works.
spec::slurm::Cluster ReadClusterOrDie(const std::string& cluster_file) {
  spec::slurm::Cluster cluster;
  std::string error;
  if (!cluster_file.empty()) {
    std::ifstream in(cluster_file);
    if (!in) Die("cannot read the cluster file " + cluster_file);
    std::stringstream text;
    text << in.rdbuf();
    if (!spec::slurm::ClusterFromJson(text.str(), &cluster, &error))
      Die(cluster_file + ": " + error);
    return cluster;
  }
  const char* env = std::getenv("TORC_SCONTROL");
  std::string scontrol = env && *env ? env : "scontrol";
  std::string partitions, nodes, err;
  int rc = server::RunCommandSplit({scontrol, "show", "partition", "-o"}, &partitions, &err, 30);
  if (rc == 0) rc = server::RunCommandSplit({scontrol, "show", "node", "-o"}, &nodes, &err, 30);
  if (rc != 0)
    Die("cannot read the cluster's partitions (`" + scontrol + " show partition -o` " +
        (rc < 0 ? std::string("could not start") : "exited " + std::to_string(rc) + ": " + err) +
        "); run on the cluster's login node, or pass --cluster-file FILE written there by "
        "`torc slurm generate --save-cluster FILE` (docs/slurm.md)");
  if (!spec::slurm::ParseScontrol(partitions, nodes, &cluster, &error)) Die(error);
  if (cluster.partitions.empty()) Die("scontrol shows no partition this user can use");
  std::string config, ignored;
  if (server::RunCommandSplit({scontrol, "show", "config"}, &config, &ignored, 30) == 0) {
    std::istringstream lines(config);
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("ClusterName", 0) == 0 && line.find('=') != std::string::npos) {
        std::string v = line.substr(line.find('=') + 1);
        v.erase(0, v.find_first_not_of(' '));
        cluster.name = v;
      }
  }
  return cluster;
}

spec::slurm::SetupOptions OptionsOf(const SetupFlags& flags) {
  spec::slurm::SetupOptions o;
  o.account = flags.account;
  o.partition = flags.partition;
  o.max_nodes = flags.max_nodes;
  o.walltime_multiplier = flags.walltime_multiplier;
  o.elastic = flags.elastic;
  return o;
}

spec::Plan LoadOrDie(const std::string& path, std::string* text) {
  auto loaded = LoadWorkflowFile(path, text);
  if (!loaded.ok()) {
    PrintFileErrors(loaded.errors);
    Die(std::to_string(loaded.errors.size()) + " error(s) in " + path);
  }
  return std::move(*loaded.plan);
}

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

void AddSetupFlags(CLI::App* cmd, SetupFlags* flags) {
  cmd->add_option("--account", flags->account, "Slurm account for every allocation");
  cmd->add_option("--partition", flags->partition,
                  "Use only this partition (default: the best that holds each job)");
  cmd->add_option("--max-nodes", flags->max_nodes,
                  "Most nodes one stage's allocations of one kind hold together (default: the "
                  "partition's)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--walltime-multiplier", flags->walltime_multiplier,
                  "Walltime = rounds of jobs x longest runtime x this (default 1.5)")
      ->check(CLI::Range(1.0, 100.0));
  cmd->add_flag("--elastic", flags->elastic,
                "Elastic actions (max_allocations): the server asks for allocations while ready "
                "jobs wait");
  cmd->add_option("--cluster-file", flags->cluster_file,
                  "Read the cluster from this file (written by --save-cluster) instead of scontrol");
}

std::string GenerateSetupOrDie(const std::string& path, const SetupFlags& flags, bool json,
                               std::string* summary) {
  std::string text;
  spec::Plan plan = LoadOrDie(path, &text);
  spec::slurm::Cluster cluster = ReadClusterOrDie(flags.cluster_file);
  spec::slurm::Setup setup;
  std::string error;
  if (!spec::slurm::PlanSetup(plan, cluster, OptionsOf(flags), &setup, &error))
    Die(path + ": " + error);
  std::string out;
  if (!spec::slurm::WriteSetup(text, plan, setup, json, &out, &error)) Die(path + ": " + error);
  // What was written must read back as a valid workflow (a bug here is ours, said plainly).
  auto again = spec::ParsePlan(out, path, json ? spec::Format::kJson : spec::Format::kYaml,
                               WorkflowFileOptions(path));
  if (!again.ok())
    Die("the generated workflow does not validate (a torc bug): " +
        again.errors.front().ToString());
  std::ostringstream s;
  if (setup.groups.empty()) s << "every job already names a scheduler: nothing to add\n";
  for (const auto& g : setup.groups) {
    const auto& sch = setup.schedulers[g.scheduler];
    s << "stage " << g.stage << ": " << g.jobs.size() << " job(s) on " << sch.name
      << " (partition " << sch.partition << "), " << g.blocks << " allocation(s) of "
      << g.num_nodes << " node(s), walltime " << spec::FormatSlurmWalltime(sch.walltime_seconds)
      << (g.stage == 0 ? ", at start" : ", when ready") << (g.elastic ? ", elastic" : "") << "\n";
  }
  for (const auto& n : setup.notes) s << "note: " << n << "\n";
  *summary = s.str();
  return out;
}

void AddSetupCommands(CLI::App* slurm) {
  {
    auto flags = std::make_shared<SetupFlags>();
    auto file = std::make_shared<std::string>();
    auto output = std::make_shared<std::string>();
    auto save = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    auto* cmd = slurm->add_subcommand(
        "generate", "Write the workflow with Slurm schedulers and actions for every job that has "
                    "none, sized from the cluster's partitions and the jobs' requests");
    cmd->add_option("file", *file, "Workflow file");
    AddSetupFlags(cmd, flags.get());
    cmd->add_option("-o,--output", *output, "Write here (default: standard output)");
    cmd->add_flag("--json", *json, "Write the workflow as JSON (default: YAML, or JSON for a "
                                   ".json file)");
    cmd->add_option("--save-cluster", *save,
                    "Write what scontrol says of the cluster to this file (for --cluster-file "
                    "elsewhere); with no workflow file, only that");
    cmd->footer(
        "Examples:\n  torc slurm generate workflow.yaml --account myproject -o with_slurm.yaml\n"
        "  torc slurm generate --save-cluster cluster.json   # on the cluster, for planning "
        "elsewhere");
    cmd->callback([=] {
      if (!save->empty()) {
        spec::slurm::Cluster cluster = ReadClusterOrDie(flags->cluster_file);
        std::ofstream out(*save);
        out << spec::slurm::ClusterToJson(cluster);
        if (!out.flush()) Die("cannot write " + *save);
        std::cerr << "torc: wrote " << *save << " (" << cluster.partitions.size()
                  << " partitions)\n";
        if (file->empty()) return;
      }
      if (file->empty()) Die("torc slurm generate FILE: the workflow file is missing");
      bool as_json = *json || EndsWith(*output, ".json") ||
                     (output->empty() && EndsWith(*file, ".json"));
      std::string summary;
      std::string text = GenerateSetupOrDie(*file, *flags, as_json, &summary);
      std::cerr << summary;
      if (output->empty()) {
        std::cout << text;
        return;
      }
      std::ofstream out(*output);
      out << text;
      if (!out.flush()) Die("cannot write " + *output);
      std::cerr << "torc: wrote " << *output << "; submit it with: torc submit " << *output
                << "\n";
    });
  }
  {
    auto flags = std::make_shared<SetupFlags>();
    auto file = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    auto* cmd = slurm->add_subcommand(
        "plan", "Show the allocations each dependency stage would get, their node-hours, and one "
                "large allocation against many small ones");
    cmd->add_option("file", *file, "Workflow file")->required();
    AddSetupFlags(cmd, flags.get());
    cmd->add_flag("--json", *json, "Print the plan as JSON");
    cmd->footer("Example:\n  torc slurm plan workflow.yaml --cluster-file cluster.json --json");
    cmd->callback([=] {
      std::string text;
      spec::Plan plan = LoadOrDie(*file, &text);
      spec::slurm::Cluster cluster = ReadClusterOrDie(flags->cluster_file);
      spec::slurm::SetupOptions options = OptionsOf(*flags);
      options.all_jobs = true;
      spec::slurm::Setup setup;
      std::string error;
      if (!spec::slurm::PlanSetup(plan, cluster, options, &setup, &error))
        Die(*file + ": " + error);
      std::cout << (*json ? spec::slurm::SetupPlanJson(plan, cluster, setup)
                          : spec::slurm::SetupPlanText(plan, cluster, setup));
    });
  }
}

}  // namespace torc::cmd
