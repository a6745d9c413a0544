#include "spec/expand.h"

#include <algorithm>
#include <unordered_map>

namespace torc::spec {
namespace {

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// The parameters an entry expands over: its own plus those it takes from the
// workflow through use_parameters.
bool GatherParameters(const RawParameters& raw, const RawWorkflow& wf, const std::string& what,
                      std::vector<Parameter>* out, Diagnostics* diags) {
  *out = raw.params;
  bool ok = true;
  for (const auto& use : raw.use_parameters) {
    auto it = std::find_if(wf.parameters.begin(), wf.parameters.end(),
                           [&](const Parameter& p) { return p.name == use.value; });
    if (it == wf.parameters.end()) {
      std::vector<std::string_view> names;
      for (const auto& p : wf.parameters) names.push_back(p.name);
      std::string hint = SuggestClosest(use.value, names);
      diags->Error(use.loc, "use_parameters of " + what + " names '" + use.value +
                                "', which is not a workflow parameter" +
                                (hint.empty() ? "" : "; " + hint));
      ok = false;
      continue;
    }
    bool local = std::any_of(out->begin(), out->end(),
                             [&](const Parameter& p) { return p.name == use.value; });
    if (!local) out->push_back(*it);
  }
  return ok;
}

/// A template string of an entry, compiled and bound to the entry's parameters.
struct BoundTemplate {
  Template tmpl;
  Loc loc;
  std::string field;
  bool ok = false;
};

class TemplateSet {
 public:
  TemplateSet(const std::vector<Parameter>& params, std::string what, Diagnostics* diags)
      : what_(std::move(what)), diags_(diags) {
    for (const auto& p : params) names_.push_back(p.name);
  }

  /// Compiles and binds `s`; reports bad specs and unknown placeholders.
  BoundTemplate* Add(const LString& s, std::string field) {
    auto bt = std::make_unique<BoundTemplate>();
    bt->loc = s.loc;
    bt->field = std::move(field);
    std::string error;
    if (!bt->tmpl.Compile(s.value, &error)) {
      diags_->Error(s.loc, bt->field + " of " + what_ + ": " + error);
      failed_ = true;
    } else {
      std::string unknown;
      if (!bt->tmpl.Bind(names_, &unknown)) {
        diags_->Error(s.loc, "'{" + unknown + "}' in " + bt->field + " of " + what_ +
                                 " names no parameter (parameters: " + Join(names_) + ")");
        failed_ = true;
      } else {
        bt->ok = true;
      }
    }
    all_.push_back(std::move(bt));
    return all_.back().get();
  }

  bool Render(const BoundTemplate* bt, const std::vector<const ParamValue*>& values,
              std::string* out) {
    std::string error;
    if (bt->tmpl.RenderTo(values, out, &error)) return true;
    if (!render_failed_) diags_->Error(bt->loc, bt->field + " of " + what_ + ": " + error);
    render_failed_ = true;
    return false;
  }

  bool failed() const { return failed_ || render_failed_; }
  const std::vector<std::string>& names() const { return names_; }
  const std::vector<std::unique_ptr<BoundTemplate>>& all() const { return all_; }

 private:
  std::string what_;
  Diagnostics* diags_;
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<BoundTemplate>> all_;
  bool failed_ = false;
  bool render_failed_ = false;
};

/// The template strings of a parameterized job, bound to its parameters.
struct JobTemplates {
  BoundTemplate* name = nullptr;
  BoundTemplate* command = nullptr;
  BoundTemplate* script = nullptr;
  BoundTemplate* requirements = nullptr;
  BoundTemplate* scheduler = nullptr;
  BoundTemplate* handler = nullptr;
  std::vector<BoundTemplate*> env;
  std::array<std::vector<BoundTemplate*>, kNumRefLists> lists;

  /// The fields that are one value per job, in the order SameScalars compares them.
  std::vector<BoundTemplate*> Scalars() const {
    std::vector<BoundTemplate*> scalars = {command, script, requirements, scheduler, handler};
    scalars.insert(scalars.end(), env.begin(), env.end());
    return scalars;
  }
  /// Whether any reference (requirements, scheduler, handler, lists) varies with the parameters.
  bool RefsHavePlaceholders() const {
    bool any = requirements->tmpl.HasPlaceholders() || scheduler->tmpl.HasPlaceholders() ||
               handler->tmpl.HasPlaceholders();
    for (const auto& l : lists)
      for (const auto* bt : l) any = any || bt->tmpl.HasPlaceholders();
    return any;
  }
};

class Expander {
 public:
  Expander(const RawWorkflow& wf, const LoadOptions& options, Expansion* out, Diagnostics* diags)
      : wf_(wf), options_(options), out_(out), diags_(diags) {}

  void Run() {
    Plan& plan = out_->plan;
    out_->max_regex_tests = options_.max_regex_tests;
    plan.name = wf_.name;
    plan.description = wf_.description;
    plan.project = wf_.project;
    plan.env = wf_.env;
    plan.execution = wf_.execution;
    plan.resource_monitor = wf_.resource_monitor;
    plan.max_failures = wf_.max_failures;
    plan.worker_idle_timeout_seconds = wf_.worker_idle_timeout_seconds;
    plan.workers_ignore_completion = wf_.workers_ignore_completion;
    plan.slurm_defaults = wf_.slurm_defaults;
    for (const auto& r : wf_.resource_requirements) plan.resource_requirements.push_back(r.value);
    for (const auto& s : wf_.schedulers) plan.schedulers.push_back(s.value);
    for (const auto& h : wf_.failure_handlers) plan.failure_handlers.push_back(h.value);
    for (const auto& f : wf_.files) ExpandFile(f);
    for (const auto& u : wf_.user_data) ExpandUserData(u);
    for (uint32_t t = 0; t < wf_.jobs.size(); ++t) {
      ExpandJob(t);
      if (total_jobs_exceeded_) break;
    }
  }

 private:
  // Counts combinations and checks the workflow-wide job limit.
  bool Count(const std::vector<Parameter>& params, ParameterMode mode, const std::string& what,
             Loc loc, uint64_t* count) {
    std::string error;
    if (!CountCombinations(params, mode, options_.max_jobs, count, &error)) {
      diags_->Error(loc, what + ": " + error);
      return false;
    }
    // Workflow-wide: many entries of a few million combinations each (fan-in jobs fold them
    // into few jobs, so the job limit alone would not stop the work).
    if (*count > options_.max_combinations - combinations_) {
      diags_->Error(loc, what + ": its " + std::to_string(*count) +
                             " parameter combinations bring the workflow over the limit of " +
                             std::to_string(options_.max_combinations) +
                             " combinations expanded in all (" + std::to_string(combinations_) +
                             " before this entry)");
      combinations_ = options_.max_combinations;
      return false;
    }
    combinations_ += *count;
    return true;
  }

  void ExpandFile(const RawFile& f) {
    std::string what = "file '" + f.name.value + "'";
    std::vector<Parameter> params;
    if (!GatherParameters(f.parameters, wf_, what, &params, diags_)) return;
    if (params.empty()) {
      out_->plan.files.push_back({f.name.value, f.path.value});
      out_->file_locs.push_back(f.name.loc);
      return;
    }
    TemplateSet ts(params, what, diags_);
    BoundTemplate* name = ts.Add(f.name, "the name");
    BoundTemplate* path = ts.Add(f.path, "the path");
    if (ts.failed() || !CheckAllInName(name, params, what)) return;
    uint64_t count = 0;
    if (!Count(params, f.parameters.mode, what, f.name.loc, &count)) return;
    std::vector<const ParamValue*> values;
    for (uint64_t k = 0; k < count; ++k) {
      CombinationAt(params, f.parameters.mode, k, &values);
      File file;
      if (!ts.Render(name, values, &file.name) || !ts.Render(path, values, &file.path)) return;
      out_->plan.files.push_back(std::move(file));
      out_->file_locs.push_back(f.name.loc);
    }
  }

  // Substitutes parameters in every string inside a user_data value.
  bool RenderJson(nlohmann::json* j, TemplateSet& ts, const std::vector<const ParamValue*>& values,
                  Loc loc) {
    if (j->is_string()) {
      BoundTemplate* t = ts.Add({j->get<std::string>(), loc}, "a string in data");
      std::string s;
      if (!t->ok || !ts.Render(t, values, &s)) return false;
      *j = s;
    } else if (j->is_array() || j->is_object()) {
      for (auto& item : *j)
        if (!RenderJson(&item, ts, values, loc)) return false;
    }
    return true;
  }

  void ExpandUserData(const RawUserData& u) {
    std::string what = "user_data '" + u.name.value + "'";
    std::vector<Parameter> params;
    if (!GatherParameters(u.parameters, wf_, what, &params, diags_)) return;
    if (params.empty()) {
      out_->plan.user_data.push_back({u.name.value, u.data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), u.is_ephemeral});
      out_->user_data_locs.push_back(u.name.loc);
      return;
    }
    TemplateSet ts(params, what, diags_);
    BoundTemplate* name = ts.Add(u.name, "the name");
    if (ts.failed() || !CheckAllInName(name, params, what)) return;
    uint64_t count = 0;
    if (!Count(params, u.parameters.mode, what, u.name.loc, &count)) return;
    std::vector<const ParamValue*> values;
    for (uint64_t k = 0; k < count; ++k) {
      CombinationAt(params, u.parameters.mode, k, &values);
      UserData ud;
      ud.is_ephemeral = u.is_ephemeral;
      nlohmann::json data = u.data;
      if (!ts.Render(name, values, &ud.name) || !RenderJson(&data, ts, values, u.loc)) return;
      ud.data_json = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      out_->plan.user_data.push_back(std::move(ud));
      out_->user_data_locs.push_back(u.name.loc);
    }
  }

  // Files and user data are one entry per combination: their names must use
  // every parameter, or two entries would share a name.
  bool CheckAllInName(const BoundTemplate* name, const std::vector<Parameter>& params,
                      const std::string& what) {
    auto used = name->tmpl.Names();
    for (const auto& p : params) {
      if (std::find(used.begin(), used.end(), p.name) == used.end()) {
        diags_->Error(name->loc, "the name of " + what + " does not use parameter '" + p.name +
                                     "', so its entries would share one name");
        return false;
      }
    }
    return true;
  }

  Job BaseJob(const RawJob& rj) {
    Job job;
    job.name = rj.name.value;
    job.command = rj.command.value;
    job.invocation_script = rj.invocation_script.value;
    job.priority = rj.priority;
    job.cancel_on_blocking_job_failure = rj.cancel_on_blocking_job_failure;
    job.stdio = rj.stdio;
    return job;
  }

  void AddJob(uint32_t t, Job job, std::unique_ptr<JobRefs> refs) {
    if (out_->plan.jobs.size() >= options_.max_jobs) {
      if (!total_jobs_exceeded_)
        diags_->Error(wf_.jobs[t].name.loc, "the workflow expands to more than " +
                                                std::to_string(options_.max_jobs) + " jobs");
      total_jobs_exceeded_ = true;
      return;
    }
    out_->plan.jobs.push_back(std::move(job));
    out_->job_template.push_back(t);
    out_->job_refs.push_back(std::move(refs));
  }

  void ExpandJob(uint32_t t) {
    const RawJob& rj = wf_.jobs[t];
    std::string what = "job '" + rj.name.value + "'";
    std::vector<Parameter> params;
    if (!GatherParameters(rj.parameters, wf_, what, &params, diags_)) return;
    if (params.empty()) {
      AddPlainJob(t, what);
      return;
    }
    TemplateSet ts(params, what, diags_);
    JobTemplates jt = BindJobTemplates(rj, ts);
    if (ts.failed()) return;

    std::vector<BoundTemplate*> scalars = jt.Scalars();
    uint64_t count = 0;
    if (!Count(params, rj.parameters.mode, what, rj.name.loc, &count)) return;
    bool fan_in = jt.name->tmpl.Names().size() < params.size();
    bool has_refs = fan_in || jt.RefsHavePlaceholders();

    std::unordered_map<std::string, size_t> by_name;  // fan-in: name -> job index
    std::vector<const ParamValue*> values;
    std::string rendered;
    bool bad_name_reported = false;
    for (uint64_t k = 0; k < count; ++k) {
      CombinationAt(params, rj.parameters.mode, k, &values);
      if (!ts.Render(jt.name, values, &rendered)) return;
      if (rendered.empty()) {
        diags_->Error(rj.name.loc, "the name of " + what + " is empty for one combination of "
                                   "its parameters");
        return;
      }
      // Reported once; the job is still added, so that what refers to it resolves.
      if (!bad_name_reported) {
        if (std::string problem = JobNameProblem(rendered); !problem.empty()) {
          diags_->Error(rj.name.loc, "job name '" + rj.name.value + "' is '" + rendered +
                                         "' for one combination of its parameters: " + problem);
          bad_name_reported = true;
        }
      }
      JobRefs* refs = nullptr;
      if (fan_in) {
        auto [it, inserted] = by_name.try_emplace(rendered, out_->plan.jobs.size());
        if (!inserted) {
          // A combination folded into an existing job must not change what
          // the job is, only what it refers to.
          refs = out_->job_refs[it->second].get();
          if (!SameScalars(ts, scalars, values, out_->plan.jobs[it->second], *refs)) return;
        }
      }
      if (refs == nullptr && !AddRenderedJob(t, ts, jt, values, rendered, has_refs, &refs)) return;
      if (refs != nullptr && !AppendRefs(ts, jt, values, refs)) return;
    }
  }

  // A job without parameters: one job, as written. A placeholder in its name
  // is a forgotten `parameters:`; in commands braces are left alone (awk, JSON, ...).
  void AddPlainJob(uint32_t t, const std::string& what) {
    const RawJob& rj = wf_.jobs[t];
    Template name_template;
    std::string error;
    if (name_template.Compile(rj.name.value, &error) && name_template.HasPlaceholders()) {
      diags_->Error(rj.name.loc, "the name of " + what + " has the placeholder '{" +
                                     name_template.Names()[0] +
                                     "}', but the job has no parameters");
      return;
    }
    // An empty name is the schema's error. A bad one is reported, and the job still added so
    // that what refers to it resolves.
    if (std::string problem = JobNameProblem(rj.name.value); !rj.name.empty() && !problem.empty())
      diags_->Error(rj.name.loc, "job name '" + rj.name.value + "': " + problem);
    Job job = BaseJob(rj);
    for (const auto& [k, v] : rj.env) job.env.push_back({k, v.value});
    AddJob(t, std::move(job), nullptr);
  }

  JobTemplates BindJobTemplates(const RawJob& rj, TemplateSet& ts) {
    JobTemplates jt;
    jt.name = ts.Add(rj.name, "the name");
    // Fields that are one value per job may only use the parameters in the name.
    jt.command = ts.Add(rj.command, "the command");
    jt.script = ts.Add(rj.invocation_script, "invocation_script");
    jt.requirements = ts.Add(rj.resource_requirements, "resource_requirements");
    jt.scheduler = ts.Add(rj.scheduler, "scheduler");
    jt.handler = ts.Add(rj.failure_handler, "failure_handler");
    for (const auto& [k, v] : rj.env) jt.env.push_back(ts.Add(v, "env " + k));
    for (int l = 0; l < kNumRefLists; ++l)
      for (const auto& ref : rj.refs[l]) jt.lists[l].push_back(ts.Add(ref, RefListKey(RefList(l))));
    return jt;
  }

  // Renders the job of one combination, named `name`, and adds it. *refs becomes the job's
  // own references when `own_refs` (they may differ from the template's), else null. False
  // on a render error or when the workflow has too many jobs.
  bool AddRenderedJob(uint32_t t, TemplateSet& ts, const JobTemplates& jt,
                      const std::vector<const ParamValue*>& values, const std::string& name,
                      bool own_refs, JobRefs** refs) {
    const RawJob& rj = wf_.jobs[t];
    Job job = BaseJob(rj);
    job.name = name;
    if (!ts.Render(jt.command, values, &job.command) ||
        !ts.Render(jt.script, values, &job.invocation_script))
      return false;
    for (size_t e = 0; e < jt.env.size(); ++e) {
      std::string v;
      if (!ts.Render(jt.env[e], values, &v)) return false;
      job.env.push_back({rj.env[e].first, std::move(v)});
    }
    std::unique_ptr<JobRefs> own;
    if (own_refs) {
      own = std::make_unique<JobRefs>();
      if (!RenderRef(ts, jt.requirements, values, &own->requirements) ||
          !RenderRef(ts, jt.scheduler, values, &own->scheduler) ||
          !RenderRef(ts, jt.handler, values, &own->failure_handler))
        return false;
    }
    *refs = own.get();
    AddJob(t, std::move(job), std::move(own));
    return !total_jobs_exceeded_;
  }

  // Appends what one combination's reference lists name to *refs.
  bool AppendRefs(TemplateSet& ts, const JobTemplates& jt,
                  const std::vector<const ParamValue*>& values, JobRefs* refs) {
    for (int l = 0; l < kNumRefLists; ++l) {
      for (const auto* bt : jt.lists[l]) {
        LString s;
        if (!RenderRef(ts, bt, values, &s)) return false;
        refs->refs[l].push_back(std::move(s));
      }
    }
    return true;
  }

  // True when `values` renders every one-per-job field (command, script,
  // requirement/scheduler/handler names, env) as `job` already has it.
  bool SameScalars(TemplateSet& ts, const std::vector<BoundTemplate*>& scalars,
                   const std::vector<const ParamValue*>& values, const Job& job,
                   const JobRefs& refs) {
    std::vector<const std::string*> before = {&job.command, &job.invocation_script,
                                              &refs.requirements.value, &refs.scheduler.value,
                                              &refs.failure_handler.value};
    for (const auto& e : job.env) before.push_back(&e.second);
    std::string now;
    for (size_t k = 0; k < scalars.size(); ++k) {
      const BoundTemplate* bt = scalars[k];
      if (!bt->tmpl.HasPlaceholders()) continue;
      if (!ts.Render(bt, values, &now)) return false;
      if (now == *before[k]) continue;
      diags_->Error(bt->loc, bt->field + " of job '" + job.name +
                                 "' differs between parameter combinations ('" + *before[k] +
                                 "' and '" + now +
                                 "'): a job is one per value of the parameters in its name, so "
                                 "put every parameter that changes " + bt->field +
                                 " in the name");
      return false;
    }
    return true;
  }

  bool RenderRef(TemplateSet& ts, const BoundTemplate* bt,
                 const std::vector<const ParamValue*>& values, LString* out) {
    out->loc = bt->loc;
    return ts.Render(bt, values, &out->value);
  }

  const RawWorkflow& wf_;
  const LoadOptions& options_;
  Expansion* out_;
  Diagnostics* diags_;
  bool total_jobs_exceeded_ = false;
  uint64_t combinations_ = 0;  // expanded so far, over every entry
};

}  // namespace

void Expand(const RawWorkflow& wf, const LoadOptions& options, Expansion* out,
            Diagnostics* diags) {
  Expander(wf, options, out, diags).Run();
}

}  // namespace torc::spec
