#include "cmd/rerun_client.h"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <vector>

#include "cmd/client_support.h"
#include "cmd/commands.h"

#include "spec/inputs.h"

namespace torc::cmd {
namespace {

std::string OnDisk(const std::string& path, const std::string& dir) {
  return path.empty() || path[0] == '/' || dir.empty() ? path : dir + "/" + path;
}

}  // namespace

std::string ContentHash(const std::string& path, std::string* error) {
  // FNV-1a, 64 bits: to tell a changed file from the same bytes, not against an adversary.
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot read " + path;
    return "";
  }
  uint64_t h = 0xcbf29ce484222325ULL;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const std::streamsize n = in.gcount();
    for (std::streamsize k = 0; k < n; ++k) {
      h ^= static_cast<unsigned char>(buffer[static_cast<size_t>(k)]);
      h *= 0x100000001b3ULL;
    }
  }
  if (in.bad()) {
    *error = "cannot read " + path;
    return "";
  }
  char hex[32];
  std::snprintf(hex, sizeof hex, "fnv1a64:%016llx", static_cast<unsigned long long>(h));
  return hex;
}

nlohmann::json InputStamps(const spec::Plan& plan, const std::string& dir, bool hash) {
  nlohmann::json out = nlohmann::json::object();
  // Every pure input: MissingInputs with nothing existing lists them all.
  for (const auto& input : spec::MissingInputs(plan, [](const std::string&) { return false; })) {
    const std::string& path = plan.files[input.file].path;
    struct stat st {};
    if (stat(OnDisk(path, dir).c_str(), &st) != 0) continue;
    int64_t mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    out[path] = {static_cast<int64_t>(st.st_size), mtime_ns};
    std::string error;
    // A file that cannot be read gets no hash: it is then compared by size and time.
    if (hash)
      if (std::string h = ContentHash(OnDisk(path, dir), &error); !h.empty()) out[path].push_back(h);
  }
  return out;
}

nlohmann::json MissingOutputs(const spec::Plan& plan, const std::string& dir) {
  std::vector<bool> seen(plan.files.size(), false);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& job : plan.jobs)
    for (spec::Index f : job.output_files) {
      if (seen[f]) continue;
      seen[f] = true;
      struct stat st {};
      if (stat(OnDisk(plan.files[f].path, dir).c_str(), &st) != 0)
        out.push_back(plan.files[f].path);
    }
  return out;
}

server::ApiResult SendUpdate(server::ApiClient& client, int64_t wf, const std::string& text,
                             const std::string& file_name, const spec::Plan& plan,
                             const std::string& dir, bool dry_run, bool hash) {
  nlohmann::json request = {{"spec_text", text},
                            {"file_name", file_name},
                            {"input_stamps", InputStamps(plan, dir, hash)},
                            {"missing_outputs", MissingOutputs(plan, dir)},
                            {"dry_run", dry_run}};
  // The server reads no files of this machine: "@file" parameter values go with the text.
  if (!plan.parameter_files.empty()) request["parameter_files"] = plan.parameter_files;
  return client.Call("POST", "/workflows/" + std::to_string(wf) + "/update", request);
}

bool IsOutOfScope(const server::ApiResult& r) {
  return r.status == 400 && r.error.find("cannot be updated in place") != std::string::npos;
}

void UpdateOrDie(server::ApiClient& client, int64_t wf, const std::string& text,
                 const std::string& file_name, const spec::Plan& plan, bool dry_run, bool json,
                 bool hash) {
  auto r = SendUpdate(client, wf, text, file_name, plan, CurrentDirectory(), dry_run, hash);
  if (!r.ok()) DieOfCall(client, r);
  if (json) std::cout << r.body.dump(2) << "\n";
  else std::cout << "workflow " << wf << ": " << DescribeUpdate(r.body, SIZE_MAX);
}

std::string DescribeUpdate(const nlohmann::json& answer, size_t max_jobs) {
  const auto& rerun = answer["rerun"];
  bool dry = answer.value("dry_run", false);
  size_t total = answer.value("total", size_t{0});
  std::string out = std::to_string(rerun.size()) + " of " + std::to_string(total) + " jobs ";
  if (rerun.empty()) return out + "are out of date: 0 jobs to run again\n";
  out += dry ? "are out of date and would run again:\n" : "are out of date and run again:\n";
  size_t shown = 0;
  for (const auto& r : rerun) {
    if (shown++ == max_jobs) {
      out += "  ... and " + std::to_string(rerun.size() - max_jobs) + " more\n";
      break;
    }
    std::string why;
    for (const auto& reason : r["reasons"])
      why += (why.empty() ? "" : "; ") + reason.get<std::string>();
    out += "  " + r["job"].get<std::string>() + ": " + why + "\n";
  }
  return out;
}

}  // namespace torc::cmd
