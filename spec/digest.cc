#include "spec/digest.h"

#include <string_view>

namespace torc::spec {
namespace {

/// FNV-1a, 64 bits, fed with length-prefixed fields so that ("ab", "c") and ("a", "bc")
/// hash differently.
class Hasher {
 public:
  void Bytes(std::string_view s) {
    Int(static_cast<int64_t>(s.size()));
    for (unsigned char c : s) h_ = (h_ ^ c) * kPrime;
  }
  void Int(int64_t v) {
    auto u = static_cast<uint64_t>(v);
    for (int i = 0; i < 8; ++i, u >>= 8) h_ = (h_ ^ (u & 0xff)) * kPrime;
  }
  uint64_t value() const { return h_; }

 private:
  static constexpr uint64_t kPrime = 1099511628211ULL;
  uint64_t h_ = 1469598103934665603ULL;
};

uint64_t Of(std::string_view s) {
  Hasher h;
  h.Bytes(s);
  return h.value();
}

}  // namespace

uint64_t JobDigest::Combined() const {
  Hasher h;
  for (uint64_t p : parts) h.Int(static_cast<int64_t>(p));
  return h.value();
}

JobDigest DigestOf(const Plan& plan, const Job& job) {
  JobDigest d;
  auto part = [&d](DefinitionPart p) -> uint64_t& { return d.parts[static_cast<size_t>(p)]; };
  part(DefinitionPart::kCommand) = Of(job.command);
  part(DefinitionPart::kInvocationScript) = Of(job.invocation_script);
  Hasher env;
  for (const auto* list : {&plan.env, &job.env}) {
    env.Int(static_cast<int64_t>(list->size()));
    for (const auto& [key, value] : *list) {
      env.Bytes(key);
      env.Bytes(value);
    }
  }
  part(DefinitionPart::kEnvironment) = env.value();
  const ResourceRequirements& r = plan.RequirementsOf(job);
  Hasher resources;
  for (int64_t v : {r.num_cpus, r.num_gpus, r.num_nodes, r.memory_bytes, r.runtime_seconds})
    resources.Int(v);
  part(DefinitionPart::kResources) = resources.value();
  auto paths = [&plan](const std::vector<Index>& files) {
    Hasher h;
    for (Index f : files) h.Bytes(plan.files[f].path);
    return h.value();
  };
  part(DefinitionPart::kInputFiles) = paths(job.input_files);
  part(DefinitionPart::kOutputFiles) = paths(job.output_files);
  Hasher read;
  for (Index u : job.input_user_data) {
    read.Bytes(plan.user_data[u].name);
    read.Bytes(plan.user_data[u].data_json);
  }
  part(DefinitionPart::kInputUserData) = read.value();
  Hasher written;
  for (Index u : job.output_user_data) written.Bytes(plan.user_data[u].name);
  part(DefinitionPart::kOutputUserData) = written.value();
  return d;
}

const char* ToString(DefinitionPart part) {
  switch (part) {
    case DefinitionPart::kCommand: return "command";
    case DefinitionPart::kInvocationScript: return "invocation_script";
    case DefinitionPart::kEnvironment: return "env";
    case DefinitionPart::kResources: return "resources";
    case DefinitionPart::kInputFiles: return "input_files";
    case DefinitionPart::kOutputFiles: return "output_files";
    case DefinitionPart::kInputUserData: return "input user_data";
    case DefinitionPart::kOutputUserData: return "output user_data";
  }
  return "?";
}

std::vector<std::string> DescribeChanges(const JobDigest& before, const JobDigest& after) {
  std::vector<std::string> out;
  for (size_t p = 0; p < kNumDefinitionParts; ++p)
    if (before.parts[p] != after.parts[p])
      out.push_back(std::string(ToString(static_cast<DefinitionPart>(p))) + " changed");
  return out;
}

}  // namespace torc::spec
