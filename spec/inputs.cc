#include "spec/inputs.h"

namespace torc::spec {

std::vector<MissingInput> MissingInputs(const Plan& plan,
                                        const std::function<bool(const std::string&)>& exists) {
  std::vector<bool> produced(plan.files.size(), false);
  std::vector<MissingInput> read(plan.files.size());
  for (Index j = 0; j < plan.jobs.size(); ++j) {
    for (Index f : plan.jobs[j].output_files) produced[f] = true;
    for (Index f : plan.jobs[j].input_files) {
      if (read[f].readers++ == 0) read[f].job = j;
    }
  }
  std::vector<MissingInput> out;
  for (Index f = 0; f < plan.files.size(); ++f) {
    if (read[f].readers == 0 || produced[f] || exists(plan.files[f].path)) continue;
    read[f].file = f;
    out.push_back(read[f]);
  }
  return out;
}

std::string Describe(const Plan& plan, const MissingInput& missing) {
  std::string s = "job '" + plan.jobs[missing.job].name + "' reads input file '" +
                  plan.files[missing.file].name + "' (" + plan.files[missing.file].path +
                  "), which does not exist and which no job of the workflow produces";
  if (missing.readers > 1)
    s += " (and " + std::to_string(missing.readers - 1) + " more job(s) read it)";
  return s;
}

}  // namespace torc::spec
