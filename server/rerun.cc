#include "server/rerun.h"

#include <algorithm>
#include <deque>

#include "spec/digest.h"
#include "spec/inputs.h"

namespace torc::server {
namespace {

/// "'a', 'b', 'c' (and 4 more)".
std::string FirstNames(const std::vector<std::string>& names) {
  constexpr size_t kShown = 3;
  std::string out;
  for (size_t i = 0; i < names.size() && i < kShown; ++i)
    out += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > kShown) out += " (and " + std::to_string(names.size() - kShown) + " more)";
  return out;
}

std::string JobSetProblem(const spec::Plan& old_plan, const spec::Plan& new_plan) {
  std::set<std::string> before, after;
  for (const auto& j : old_plan.jobs) before.insert(j.name);
  for (const auto& j : new_plan.jobs) after.insert(j.name);
  std::vector<std::string> added, removed;
  for (const auto& j : new_plan.jobs)
    if (!before.count(j.name)) added.push_back(j.name);
  for (const auto& j : old_plan.jobs)
    if (!after.count(j.name)) removed.push_back(j.name);
  std::string out = "the jobs changed (" + std::to_string(old_plan.jobs.size()) + " -> " +
                    std::to_string(new_plan.jobs.size()) + " jobs";
  if (!added.empty()) out += "; added " + FirstNames(added);
  if (!removed.empty()) out += "; removed " + FirstNames(removed);
  if (added.empty() && removed.empty()) out += "; the same names in another order";
  return out + ")";
}

bool SameGroups(const spec::Plan& a, const spec::Plan& b, const spec::Job& ja,
                const spec::Job& jb) {
  if (ja.dependency_groups.size() != jb.dependency_groups.size()) return false;
  for (size_t i = 0; i < ja.dependency_groups.size(); ++i)
    if (a.dependency_groups[ja.dependency_groups[i]].members !=
        b.dependency_groups[jb.dependency_groups[i]].members)
      return false;
  return true;
}

/// The jobs that wait for each job, through depends_on (files and user_data included) and
/// dependency groups, without expanding a group once per user.
class Children {
 public:
  explicit Children(const spec::Plan& plan)
      : group_users_(plan.dependency_groups.size()),
        member_groups_(plan.jobs.size()),
        direct_(plan.jobs.size()) {
    for (JobIndex j = 0; j < plan.jobs.size(); ++j) {
      for (spec::Index p : plan.jobs[j].depends_on) direct_[p].push_back(j);
      for (spec::Index g : plan.jobs[j].dependency_groups) group_users_[g].push_back(j);
    }
    for (uint32_t g = 0; g < plan.dependency_groups.size(); ++g)
      for (spec::Index m : plan.dependency_groups[g].members) member_groups_[m].push_back(g);
  }
  /// Calls fn(child) for each job waiting for `j`; a group's users only the first time one of
  /// its members is visited (its users are then all reached).
  template <typename Fn>
  void Visit(JobIndex j, std::vector<char>* group_seen, Fn fn) const {
    for (JobIndex c : direct_[j]) fn(c);
    for (uint32_t g : member_groups_[j]) {
      if ((*group_seen)[g]) continue;
      (*group_seen)[g] = 1;
      for (JobIndex c : group_users_[g]) fn(c);
    }
  }

 private:
  std::vector<std::vector<JobIndex>> group_users_, member_groups_, direct_;
};

bool HasEnded(JobStatus s) {
  return s == JobStatus::kCompleted || s == JobStatus::kFailed || s == JobStatus::kCanceled ||
         s == JobStatus::kTerminated;
}

/// Per file of the new plan: why a job reading it is out of date ("" when it is not). Only
/// pure inputs (read, produced by no job) are compared.
std::vector<std::string> ChangedInputs(const RerunFacts& f) {
  const spec::Plan& plan = *f.new_plan;
  std::vector<std::string> why(plan.files.size());
  // Every pure input: MissingInputs with nothing existing lists them all.
  for (const auto& input : spec::MissingInputs(plan, [](const std::string&) { return false; })) {
    const std::string& path = plan.files[input.file].path;
    auto before = f.old_stamps->find(path);
    if (before == f.old_stamps->end()) continue;  // no stamp recorded: nothing to compare
    auto now = f.new_stamps->find(path);
    if (now == f.new_stamps->end()) why[input.file] = "input file " + path + " is gone";
    else if (StampChanged(before->second, now->second))
      why[input.file] = "input file " + path + " changed";
  }
  return why;
}

}  // namespace

bool ParseStamps(const nlohmann::json& json, FileStamps* out, std::string* error) {
  out->clear();
  if (!json.is_object()) {
    *error = "input_stamps must be an object {\"path\": [size, mtime_ns]}";
    return false;
  }
  for (const auto& [path, v] : json.items()) {
    if (!v.is_array() || v.size() < 2 || v.size() > 3 || !v[0].is_number_integer() ||
        !v[1].is_number_integer() ||
        (v.size() == 3 && (!v[2].is_string() || v[2].get_ref<const std::string&>().empty() ||
                           v[2].get_ref<const std::string&>().size() > 128))) {
      *error = "input_stamps[\"" + path + "\"] must be [size, mtime_ns] (two integers) or "
               "[size, mtime_ns, \"hash\"] (a hash of 1 to 128 characters)";
      return false;
    }
    FileStamp stamp{v[0].get<int64_t>(), v[1].get<int64_t>(), ""};
    if (v.size() == 3) stamp.hash = v[2].get<std::string>();
    (*out)[path] = std::move(stamp);
  }
  return true;
}

nlohmann::json StampsJson(const FileStamps& stamps) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [path, s] : stamps) {
    out[path] = {s.size, s.mtime_ns};
    if (!s.hash.empty()) out[path].push_back(s.hash);
  }
  return out;
}

bool StampChanged(const FileStamp& before, const FileStamp& now) {
  if (before.size != now.size) return true;
  if (!before.hash.empty() && !now.hash.empty()) return before.hash != now.hash;
  return before.mtime_ns != now.mtime_ns;
}

std::string UpdateScopeProblem(const spec::Plan& old_plan, const spec::Plan& new_plan) {
  bool same_names = old_plan.jobs.size() == new_plan.jobs.size();
  for (size_t j = 0; same_names && j < new_plan.jobs.size(); ++j)
    same_names = old_plan.jobs[j].name == new_plan.jobs[j].name;
  if (!same_names) return JobSetProblem(old_plan, new_plan);
  std::vector<std::string> rewired;
  for (size_t j = 0; j < new_plan.jobs.size(); ++j) {
    const spec::Job &a = old_plan.jobs[j], &b = new_plan.jobs[j];
    if (a.depends_on == b.depends_on && SameGroups(old_plan, new_plan, a, b)) continue;
    // Other groups may still mean the same parents.
    if (old_plan.AllParents(a) != new_plan.AllParents(b)) rewired.push_back(b.name);
  }
  if (!rewired.empty())
    return "the dependencies of " + std::to_string(rewired.size()) + " job(s) changed: " +
           FirstNames(rewired);
  if (old_plan.actions.size() != new_plan.actions.size())
    return "the number of actions changed (" + std::to_string(old_plan.actions.size()) + " -> " +
           std::to_string(new_plan.actions.size()) + ")";
  return "";
}

RerunDecision DecideReruns(const RerunFacts& f) {
  const spec::Plan &old_plan = *f.old_plan, &plan = *f.new_plan;
  const std::vector<JobDynamic>& states = *f.states;
  const std::vector<std::string> changed_input = ChangedInputs(f);
  // Why each job is out of date; empty: it is not (yet).
  std::vector<std::vector<std::string>> why(plan.jobs.size());
  std::deque<JobIndex> reached;
  for (JobIndex j = 0; j < plan.jobs.size(); ++j) {
    JobStatus s = states[j].status;
    if (!HasEnded(s)) continue;
    const spec::Job& job = plan.jobs[j];
    why[j] = spec::DescribeChanges(spec::DigestOf(old_plan, old_plan.jobs[j]),
                                   spec::DigestOf(plan, job));
    for (spec::Index file : job.input_files)
      if (!changed_input[file].empty()) why[j].push_back(changed_input[file]);
    if (s == JobStatus::kCompleted)
      for (spec::Index file : job.output_files)
        if (f.missing_outputs->count(plan.files[file].path))
          why[j].push_back("output file " + plan.files[file].path + " is missing");
    if (!why[j].empty()) reached.push_back(j);
  }
  if (reached.empty()) return {};
  // Everything downstream of an out-of-date job runs again (or waits again).
  RerunDecision out;
  Children children(plan);
  std::vector<char> visited(plan.jobs.size(), 0), group_seen(plan.dependency_groups.size(), 0);
  for (JobIndex j : reached) visited[j] = 1;
  while (!reached.empty()) {
    JobIndex j = reached.front();
    reached.pop_front();
    children.Visit(j, &group_seen, [&](JobIndex c) {
      if (visited[c]) return;
      visited[c] = 1;
      JobStatus s = states[c].status;
      if (s == JobStatus::kDisabled) return;
      if (HasEnded(s)) why[c].push_back("upstream job '" + plan.jobs[j].name + "' reruns");
      else if (s == JobStatus::kReady) out.wait_again.push_back(c);
      reached.push_back(c);
    });
  }
  for (JobIndex j = 0; j < plan.jobs.size(); ++j)
    if (!why[j].empty()) out.rerun.push_back({j, std::move(why[j])});
  std::sort(out.wait_again.begin(), out.wait_again.end());
  return out;
}

}  // namespace torc::server
