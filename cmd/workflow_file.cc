#include "cmd/workflow_file.h"

#include <filesystem>
#include <iostream>

#include "cmd/printable.h"
#include "spec/inputs.h"
#include "server/util/small_files.h"

namespace torc::cmd {

spec::LoadOptions WorkflowFileOptions(const std::string& path) {
  spec::LoadOptions options;
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  options.read_parameter_file = [dir](const std::string& written, std::string* contents,
                                      std::string* error) {
    const std::filesystem::path file = dir / written;  // an absolute `written` stays as it is
    std::error_code ec;
    const std::string shown = std::filesystem::absolute(file, ec).lexically_normal().string();
    if (util::ReadSmallFile(file.string(), spec::kMaxWorkflowFileBytes, "parameter", contents,
                            error))
      return true;
    // "cannot read the parameter file F: why" -> "why (/abs/F, relative to ...)".
    const std::string named = "cannot read the parameter file " + file.string() + ": ";
    if (error->rfind(named, 0) == 0) *error = error->substr(named.size());
    *error += " (" + shown;
    if (!std::filesystem::path(written).is_absolute())
      *error += ", relative to the workflow file's directory";
    *error += ")";
    return false;
  };
  return options;
}

spec::LoadResult LoadWorkflowFile(const std::string& path, std::string* text) {
  std::string contents, error;
  if (!util::ReadSmallFile(path, spec::kMaxWorkflowFileBytes, "workflow", &contents, &error)) {
    // "wf.yaml: cannot read the file: ...", as every diagnostic starts with the file's name.
    const std::string named = "cannot read the workflow file " + path + ": ";
    if (error.rfind(named, 0) == 0) error = "cannot read the file: " + error.substr(named.size());
    spec::LoadResult r;
    r.errors.push_back({path, 0, 0, error});
    return r;
  }
  spec::LoadResult r =
      spec::ParsePlan(contents, path, spec::Format::kAuto, WorkflowFileOptions(path));
  if (text) *text = std::move(contents);
  return r;
}

bool ReportWarnings(const spec::Plan& plan, bool strict, bool located_only) {
  size_t n = 0;
  for (const auto& w : spec::PlanWarnings(plan)) {
    if (located_only && w.line == 0) continue;
    std::cerr << Printable(w.ToString()) << "\n";
    ++n;
  }
  if (strict && n > 0) {
    std::cerr << "torc: " << plan.source_file << ": " << n << (n == 1 ? " warning" : " warnings")
              << ", which --strict makes errors\n";
    return false;
  }
  return true;
}

bool CheckInputsExist(const spec::Plan& plan, const std::string& file) {
  auto missing = spec::MissingInputs(plan, [](const std::string& path) {
    std::error_code ec;
    return std::filesystem::exists(path, ec);
  });
  for (size_t k = 0; k < missing.size() && k < 10; ++k)
    std::cerr << Printable(file + ": " + spec::Describe(plan, missing[k])) << "\n";
  if (missing.size() > 10)
    std::cerr << Printable(file) << ": ... and " << missing.size() - 10 << " more missing inputs\n";
  if (!missing.empty())
    std::cerr << "torc: create the missing input(s), have a job produce them (output_files), or "
                 "pass --no-input-check if something makes them after the start\n";
  return missing.empty();
}

}  // namespace torc::cmd
