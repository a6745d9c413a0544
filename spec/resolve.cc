#include "spec/resolve.h"

#include <algorithm>

#include "spec/name_index.h"

namespace torc::spec {
namespace {

void SortUnique(std::vector<Index>* v) {
  std::sort(v->begin(), v->end());
  v->erase(std::unique(v->begin(), v->end()), v->end());
}

/// What a job's references resolve to, before implicit dependencies are added.
struct ResolvedRefs {
  Index requirements = kNone, scheduler = kNone, failure_handler = kNone;
  std::vector<Index> depends_on, groups;
  std::vector<Index> input_files, output_files, input_user_data, output_user_data;
};

class Resolver {
 public:
  Resolver(const RawWorkflow& wf, Expansion* exp, Diagnostics* diags)
      : wf_(wf), exp_(exp), plan_(exp->plan), diags_(diags) {}

  void Run() {
    for (NameIndex* index : {&jobs_, &files_, &user_data_}) index->set_max_tests(exp_->max_regex_tests);
    IndexNames();
    if (!diags_->empty()) return;
    template_refs_.resize(wf_.jobs.size());
    for (Index j = 0; j < plan_.jobs.size(); ++j) ResolveJob(j);
    AddImplicitDependencies();
    ResolveActions();
  }

 private:
  // ---- names --------------------------------------------------------------
  template <typename T, typename NameOf, typename LocOf>
  void IndexKind(const std::vector<T>& items, const char* kind, NameIndex* index, NameOf name_of,
                 LocOf loc_of) {
    for (Index i = 0; i < items.size(); ++i) {
      const std::string& name = name_of(items[i]);
      Index prev = index->Add(name, i);
      if (prev != kNone) {
        Loc first = diags_->InFile(loc_of(prev));
        diags_->Error(loc_of(i), std::string("duplicate ") + kind + " name '" + name +
                                     "' (first defined at line " + std::to_string(first.line) +
                                     ")");
      }
    }
  }

  void IndexNames() {
    IndexKind(plan_.jobs, "job", &jobs_, [](const Job& j) -> const std::string& { return j.name; },
              [&](Index i) { return wf_.jobs[exp_->job_template[i]].name.loc; });
    IndexKind(plan_.files, "file", &files_, [](const File& f) -> const std::string& { return f.name; },
              [&](Index i) { return exp_->file_locs[i]; });
    IndexKind(plan_.user_data, "user_data", &user_data_,
              [](const UserData& u) -> const std::string& { return u.name; },
              [&](Index i) { return exp_->user_data_locs[i]; });
    IndexKind(plan_.resource_requirements, "resource requirement", &requirements_,
              [](const ResourceRequirements& r) -> const std::string& { return r.name; },
              [&](Index i) { return wf_.resource_requirements[i].loc; });
    IndexKind(plan_.schedulers, "slurm scheduler", &schedulers_,
              [](const SlurmScheduler& s) -> const std::string& { return s.name; },
              [&](Index i) { return wf_.schedulers[i].loc; });
    IndexKind(plan_.failure_handlers, "failure handler", &handlers_,
              [](const FailureHandler& h) -> const std::string& { return h.name; },
              [&](Index i) { return wf_.failure_handlers[i].loc; });
  }

  // "job 'x'" or "job 'x_{i}' (expanded as 'x_3')" for messages.
  std::string JobWhat(Index j) const {
    const std::string& tmpl = wf_.jobs[exp_->job_template[j]].name.value;
    const std::string& name = plan_.jobs[j].name;
    return tmpl == name ? "job '" + name + "'" : "job '" + tmpl + "' (as '" + name + "')";
  }

  Index FindNamed(NameIndex& index, const LString& ref, const char* kind, const std::string& where) {
    if (ref.empty()) return kNone;
    Index i = index.Find(ref.value);
    if (i == kNone) {
      std::string hint = index.Suggest(ref.value);
      diags_->Error(ref.loc, std::string(kind) + " '" + ref.value + "' of " + where +
                                 " is not defined" + (hint.empty() ? "" : "; " + hint));
    }
    return i;
  }

  void FindAll(NameIndex& index, const std::vector<LString>& refs, const char* kind,
               const char* key, const std::string& where, std::vector<Index>* out) {
    for (const auto& ref : refs) {
      Index i = index.Find(ref.value);
      if (i == kNone) {
        std::string hint = index.Suggest(ref.value);
        diags_->Error(ref.loc, std::string(key) + " of " + where + " names " + kind + " '" +
                                   ref.value + "', which is not defined" +
                                   (hint.empty() ? "" : "; " + hint));
        continue;
      }
      out->push_back(i);
    }
  }

  // Calls fn(matches) for each pattern; reports bad patterns and empty matches.
  template <typename Fn>
  void MatchAll(NameIndex& index, const std::vector<LString>& patterns, const char* kind,
                const char* key, const std::string& where, Fn fn) {
    for (const auto& p : patterns) {
      const std::vector<Index>* found = nullptr;
      std::string error;
      if (!index.Match(p.value, &found, &error)) {
        diags_->Error(p.loc, std::string(key) + " of " + where + ": " + error);
        continue;
      }
      if (found->empty()) {
        diags_->Error(p.loc, std::string(key) + " '" + p.value + "' of " + where +
                                 " matches no " + kind);
        continue;
      }
      fn(p.value, *found);
    }
  }

  ResolvedRefs ResolveRefs(const JobRefs& r, const std::string& where) {
    ResolvedRefs out;
    out.requirements = FindNamed(requirements_, r.requirements, "resource requirement", where);
    out.scheduler = FindNamed(schedulers_, r.scheduler, "slurm scheduler", where);
    out.failure_handler = FindNamed(handlers_, r.failure_handler, "failure handler", where);
    FindAll(jobs_, r.refs[kDependsOn], "job", "depends_on", where, &out.depends_on);
    MatchAll(jobs_, r.refs[kDependsOnRegexes], "job", "depends_on_regexes", where,
             [&](const std::string& pattern, const std::vector<Index>& found) {
               out.groups.push_back(GroupFor(pattern, found));
             });
    struct ListSpec {
      NameIndex* index;
      RefList names, regexes;
      std::vector<Index>* out;
      const char* kind;
    };
    ListSpec specs[] = {
        {&files_, kInputFiles, kInputFileRegexes, &out.input_files, "file"},
        {&files_, kOutputFiles, kOutputFileRegexes, &out.output_files, "file"},
        {&user_data_, kInputUserData, kInputUserDataRegexes, &out.input_user_data, "user_data"},
        {&user_data_, kOutputUserData, kOutputUserDataRegexes, &out.output_user_data,
         "user_data"}};
    for (const auto& s : specs) {
      FindAll(*s.index, r.refs[s.names], s.kind, RefListKey(s.names), where, s.out);
      MatchAll(*s.index, r.refs[s.regexes], s.kind, RefListKey(s.regexes), where,
               [&](const std::string&, const std::vector<Index>& found) {
                 s.out->insert(s.out->end(), found.begin(), found.end());
               });
    }
    return out;
  }

  Index GroupFor(const std::string& pattern, const std::vector<Index>& members) {
    auto it = group_by_pattern_.find(pattern);
    if (it != group_by_pattern_.end()) return it->second;
    Index g = static_cast<Index>(plan_.dependency_groups.size());
    plan_.dependency_groups.push_back({pattern, members});
    group_by_pattern_.emplace(pattern, g);
    return g;
  }

  // The template's references as written, shared by all its jobs.
  const ResolvedRefs& TemplateRefs(uint32_t t) {
    auto& slot = template_refs_[t];
    if (!slot) {
      const RawJob& rj = wf_.jobs[t];
      JobRefs refs;
      refs.requirements = rj.resource_requirements;
      refs.scheduler = rj.scheduler;
      refs.failure_handler = rj.failure_handler;
      refs.refs = rj.refs;
      slot = std::make_unique<ResolvedRefs>(ResolveRefs(refs, "job '" + rj.name.value + "'"));
    }
    return *slot;
  }

  // Replaces ${files.input.NAME} (path), ${user_data.output.NAME} (name) and
  // friends in `text`, recording each as an input or output of the job.
  void SubstituteReferences(Index j, std::string* text, ResolvedRefs* refs) {
    if (text->find("${") == std::string::npos) return;
    std::string out;
    size_t pos = 0;
    while (true) {
      size_t start = text->find("${", pos);
      if (start == std::string::npos) break;
      size_t close = text->find('}', start);
      if (close == std::string::npos) break;
      std::string_view inner(text->data() + start + 2, close - start - 2);
      bool is_file = inner.rfind("files.", 0) == 0;
      bool is_ud = inner.rfind("user_data.", 0) == 0;
      if (!is_file && !is_ud) {
        out.append(*text, pos, close + 1 - pos);
        pos = close + 1;
        continue;
      }
      inner.remove_prefix(is_file ? 6 : 10);
      bool input = inner.rfind("input.", 0) == 0;
      bool output = inner.rfind("output.", 0) == 0;
      Loc loc = wf_.jobs[exp_->job_template[j]].command.loc;
      if (!input && !output) {
        diags_->Error(loc, "'${" + std::string(text->substr(start + 2, close - start - 2)) +
                               "}' in " + JobWhat(j) +
                               " must be ${files.input.NAME}, ${files.output.NAME}, "
                               "${user_data.input.NAME} or ${user_data.output.NAME}");
        out.append(*text, pos, close + 1 - pos);
        pos = close + 1;
        continue;
      }
      std::string name(inner.substr(input ? 6 : 7));
      NameIndex& index = is_file ? files_ : user_data_;
      Index i = index.Find(name);
      out.append(*text, pos, start - pos);
      if (i == kNone) {
        std::string hint = index.Suggest(name);
        diags_->Error(loc, std::string(is_file ? "file" : "user_data") + " '" + name +
                               "' used in the command of " + JobWhat(j) + " is not defined" +
                               (hint.empty() ? "" : "; " + hint));
        out.append(*text, start, close + 1 - start);
      } else {
        out += is_file ? plan_.files[i].path : plan_.user_data[i].name;
        auto* list = is_file ? (input ? &refs->input_files : &refs->output_files)
                             : (input ? &refs->input_user_data : &refs->output_user_data);
        list->push_back(i);
      }
      pos = close + 1;
    }
    out.append(*text, pos, std::string::npos);
    *text = std::move(out);
  }

  void ResolveJob(Index j) {
    Job& job = plan_.jobs[j];
    const JobRefs* own = exp_->job_refs[j].get();
    ResolvedRefs refs = own ? ResolveRefs(*own, JobWhat(j))
                            : TemplateRefs(exp_->job_template[j]);
    SubstituteReferences(j, &job.command, &refs);
    SubstituteReferences(j, &job.invocation_script, &refs);
    job.requirements = refs.requirements;
    job.scheduler = refs.scheduler;
    job.failure_handler = refs.failure_handler;
    job.depends_on = std::move(refs.depends_on);
    job.dependency_groups = std::move(refs.groups);
    SortUnique(&job.dependency_groups);
    job.input_files = std::move(refs.input_files);
    job.output_files = std::move(refs.output_files);
    job.input_user_data = std::move(refs.input_user_data);
    job.output_user_data = std::move(refs.output_user_data);
    for (auto* v : {&job.input_files, &job.output_files, &job.input_user_data,
                    &job.output_user_data})
      SortUnique(v);
    exp_->job_refs[j].reset();
  }

  // A job that reads a file (or user data) depends on every job that writes it.
  void AddImplicitDependencies() {
    auto link = [&](size_t count, auto outputs_of, auto inputs_of) {
      std::vector<std::vector<Index>> producers(count);
      bool any = false;
      for (Index j = 0; j < plan_.jobs.size(); ++j)
        for (Index f : outputs_of(plan_.jobs[j])) {
          producers[f].push_back(j);
          any = true;
        }
      if (!any) return;
      for (Index j = 0; j < plan_.jobs.size(); ++j)
        for (Index f : inputs_of(plan_.jobs[j]))
          for (Index p : producers[f])
            if (p != j) plan_.jobs[j].depends_on.push_back(p);
    };
    link(plan_.files.size(), [](const Job& j) -> auto& { return j.output_files; },
         [](const Job& j) -> auto& { return j.input_files; });
    link(plan_.user_data.size(), [](const Job& j) -> auto& { return j.output_user_data; },
         [](const Job& j) -> auto& { return j.input_user_data; });
    for (auto& job : plan_.jobs) SortUnique(&job.depends_on);
  }

  void ResolveActions() {
    for (size_t a = 0; a < wf_.actions.size(); ++a) {
      const RawAction& ra = wf_.actions[a];
      Action action = ra.action;
      std::string where = "action #" + std::to_string(a + 1);
      if (!ra.scheduler.empty())
        action.scheduler = FindNamed(schedulers_, ra.scheduler, "slurm scheduler", where);
      FindAll(jobs_, ra.jobs, "job", "jobs", where, &action.jobs);
      MatchAll(jobs_, ra.job_name_regexes, "job", "job_name_regexes", where,
               [&](const std::string&, const std::vector<Index>& found) {
                 action.jobs.insert(action.jobs.end(), found.begin(), found.end());
               });
      SortUnique(&action.jobs);
      if (action.start_one_worker_per_node && plan_.execution.mode != ExecutionMode::kDirect)
        diags_->Error(ra.worker_per_node_loc, where + " sets start_one_worker_per_node, which needs "
                                      "execution_config mode: direct (each worker runs its "
                                      "node's jobs itself)");
      if (action.max_nodes > 0 && action.scheduler != kNone &&
          action.max_nodes < plan_.schedulers[action.scheduler].nodes)
        diags_->Error(ra.max_nodes_loc,
                      where + " has max_nodes " + std::to_string(action.max_nodes) +
                          ", fewer than the " + std::to_string(plan_.schedulers[action.scheduler].nodes) +
                          " nodes of one allocation of scheduler '" +
                          plan_.schedulers[action.scheduler].name + "'");
      plan_.actions.push_back(std::move(action));
    }
    // srun_mpi is for the srun that starts one worker per node (Torc's meaning) and for
    // slurm-mode job steps; in direct mode without such an action nothing takes it.
    if (!plan_.execution.srun_mpi.empty() && plan_.execution.mode == ExecutionMode::kDirect) {
      bool per_node = false;
      for (const auto& a : plan_.actions) per_node = per_node || a.start_one_worker_per_node;
      if (!per_node)
        diags_->Warning(wf_.srun_mpi_loc,
                        "'srun_mpi' has no effect in torc: it sets srun's --mpi for the workers "
                        "of start_one_worker_per_node actions and for slurm-mode job steps; "
                        "this workflow has neither");
    }
  }

  const RawWorkflow& wf_;
  Expansion* exp_;
  Plan& plan_;
  Diagnostics* diags_;
  NameIndex jobs_, files_, user_data_, requirements_, schedulers_, handlers_;
  std::vector<std::unique_ptr<ResolvedRefs>> template_refs_;
  std::unordered_map<std::string, Index> group_by_pattern_;
};

// ---- graph checks ----------------------------------------------------------

// Finds a cycle among the jobs Kahn's algorithm could not order and returns it
// as job indices in dependency order (a -> b means b depends on a).
std::vector<Index> FindCycle(const Plan& plan, const std::vector<uint32_t>& remaining_in) {
  const size_t n = plan.jobs.size();
  auto blocked = [&](size_t node) { return remaining_in[node] > 0; };
  // Start at a blocked job and walk to a blocked parent until a node repeats.
  size_t start = 0;
  while (start < n && !blocked(start)) ++start;
  if (start == n) return {};
  std::vector<int64_t> seen_at(n + plan.dependency_groups.size(), -1);
  std::vector<size_t> path;  // nodes: jobs < n, groups n + g
  size_t node = start;
  while (seen_at[node] < 0) {
    seen_at[node] = static_cast<int64_t>(path.size());
    path.push_back(node);
    size_t next = SIZE_MAX;
    if (node < n) {
      for (Index p : plan.jobs[node].depends_on)
        if (blocked(p)) {
          next = p;
          break;
        }
      if (next == SIZE_MAX)
        for (Index g : plan.jobs[node].dependency_groups)
          if (blocked(n + g)) {
            next = n + g;
            break;
          }
    } else {
      for (Index m : plan.dependency_groups[node - n].members)
        if (blocked(m)) {
          next = m;
          break;
        }
    }
    if (next == SIZE_MAX) return {};
    node = next;
  }
  std::vector<Index> cycle;
  for (size_t k = static_cast<size_t>(seen_at[node]); k < path.size(); ++k)
    if (path[k] < n) cycle.push_back(static_cast<Index>(path[k]));
  std::reverse(cycle.begin(), cycle.end());
  return cycle;
}

void CheckCycles(const RawWorkflow& wf, const Expansion& exp, Diagnostics* diags) {
  const Plan& plan = exp.plan;
  const size_t n = plan.jobs.size(), g = plan.dependency_groups.size();
  // Nodes: jobs [0, n), groups [n, n+g). Edges parent -> job, member -> group,
  // group -> job. Children lists in CSR form.
  std::vector<uint32_t> in(n + g, 0), start(n + g + 1, 0);
  for (size_t j = 0; j < n; ++j) {
    for (Index p : plan.jobs[j].depends_on) ++start[p + 1];
    for (Index gr : plan.jobs[j].dependency_groups) ++start[n + gr + 1];
    in[j] = static_cast<uint32_t>(plan.jobs[j].depends_on.size() +
                                  plan.jobs[j].dependency_groups.size());
  }
  for (size_t k = 0; k < g; ++k) {
    for (Index m : plan.dependency_groups[k].members) ++start[m + 1];
    in[n + k] = static_cast<uint32_t>(plan.dependency_groups[k].members.size());
  }
  for (size_t k = 0; k < n + g; ++k) start[k + 1] += start[k];
  std::vector<uint32_t> children(start[n + g]);
  std::vector<uint32_t> fill(start.begin(), start.end() - 1);
  for (size_t j = 0; j < n; ++j) {
    for (Index p : plan.jobs[j].depends_on) children[fill[p]++] = static_cast<uint32_t>(j);
    for (Index gr : plan.jobs[j].dependency_groups)
      children[fill[n + gr]++] = static_cast<uint32_t>(j);
  }
  for (size_t k = 0; k < g; ++k)
    for (Index m : plan.dependency_groups[k].members)
      children[fill[m]++] = static_cast<uint32_t>(n + k);
  std::vector<uint32_t> queue;
  queue.reserve(n + g);
  for (size_t k = 0; k < n + g; ++k)
    if (in[k] == 0) queue.push_back(static_cast<uint32_t>(k));
  for (size_t head = 0; head < queue.size(); ++head) {
    uint32_t u = queue[head];
    for (uint32_t e = start[u]; e < start[u + 1]; ++e)
      if (--in[children[e]] == 0) queue.push_back(children[e]);
  }
  if (queue.size() == n + g) return;
  std::vector<Index> cycle = FindCycle(plan, in);
  std::string text;
  for (Index j : cycle) text += plan.jobs[j].name + " -> ";
  if (!cycle.empty()) text += plan.jobs[cycle[0]].name;
  Loc loc = cycle.empty() ? Loc{} : wf.jobs[exp.job_template[cycle[0]]].name.loc;
  diags->Error(loc, "dependency cycle: " + text);
}

void CheckCapacity(const RawWorkflow& wf, const Expansion& exp, Diagnostics* diags) {
  const Plan& plan = exp.plan;
  if (plan.schedulers.empty()) return;
  int64_t largest = 0;
  std::string largest_name;
  for (const auto& s : plan.schedulers)
    if (s.nodes > largest) {
      largest = s.nodes;
      largest_name = s.name;
    }
  std::vector<bool> reported(wf.jobs.size(), false);
  for (size_t j = 0; j < plan.jobs.size(); ++j) {
    const Job& job = plan.jobs[j];
    int64_t need = plan.RequirementsOf(job).num_nodes;
    uint32_t t = exp.job_template[j];
    if (reported[t]) continue;
    if (job.scheduler != kNone && need > plan.schedulers[job.scheduler].nodes) {
      const SlurmScheduler& s = plan.schedulers[job.scheduler];
      diags->Error(wf.jobs[t].name.loc, "job '" + job.name + "' needs " + std::to_string(need) +
                                            " nodes, but its scheduler '" + s.name + "' has " +
                                            std::to_string(s.nodes));
      reported[t] = true;
    } else if (job.scheduler == kNone && need > largest) {
      diags->Error(wf.jobs[t].name.loc, "job '" + job.name + "' needs " + std::to_string(need) +
                                            " nodes, but the largest scheduler ('" + largest_name +
                                            "') has " + std::to_string(largest));
      reported[t] = true;
    }
  }
}

}  // namespace

void Resolve(const RawWorkflow& wf, Expansion* exp, Diagnostics* diags) {
  Resolver(wf, exp, diags).Run();
}

void CheckGraph(const RawWorkflow& wf, const Expansion& exp, Diagnostics* diags) {
  CheckCycles(wf, exp, diags);
  CheckCapacity(wf, exp, diags);
}

}  // namespace torc::spec
