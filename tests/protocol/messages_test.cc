// Every worker-protocol message (server/protocol/messages.h) survives its JSON encoding, and a
// decoder refuses each missing or mistyped field with a FieldError that names it.
#include <doctest/doctest.h>

#include <functional>
#include <string>

#include "server/protocol/json_writer.h"
#include "server/protocol/messages.h"

using namespace torc::protocol;
using nlohmann::json;

namespace {

AttemptReport Report() {
  AttemptReport r;
  r.id = 7;
  r.attempt = 2;
  r.status = AttemptStatus::kFailed;
  r.exit_code = 3;
  r.signal = 9;
  r.reason = "memory";
  r.start_time = 100.5;
  r.end_time = 130.25;
  r.peak_rss_bytes = 1 << 20;
  r.cpu_seconds = 1.5;
  r.nodes = "n1,n2";
  return r;
}

ClaimedJob Job() {
  ClaimedJob c;
  c.id = 4;
  c.name = "train_\"4\"";
  c.attempt = 3;
  c.command = "python train.py --lr 0.1\n";
  c.invocation_script = "module load x";
  c.env = {{"B", "2"}, {"A", "1"}};
  c.num_cpus = 4;
  c.memory_bytes = 1 << 30;
  c.num_gpus = 1;
  c.num_nodes = 2;
  c.runtime_seconds = 600;
  c.nodes = {0, 3};
  c.stdio_mode = torc::spec::StdioMode::kCombined;
  c.delete_on_success = true;
  c.failure_handler = 1;
  c.has_dependents = true;
  return c;
}

// `decode(j)` throws a FieldError whose text contains `expect`.
template <typename Decode>
void Refuses(Decode decode, const json& j, const std::string& expect) {
  INFO(j.dump());
  try {
    decode(j);
    FAIL("accepted: " << j.dump());
  } catch (const FieldError& e) {
    CHECK_MESSAGE(std::string(e.what()).find(expect) != std::string::npos, e.what());
  }
}

// Without each of `required`, and with each of `fields` given as an object (a type no field
// accepts), `decode` refuses `good` naming the field.
template <typename Decode>
void RefusesEachField(Decode decode, const json& good, const std::vector<std::string>& required,
                      const std::vector<std::string>& fields) {
  for (const auto& f : required) {
    json j = good;
    j.erase(f);
    Refuses(decode, j, "'" + f + "' is required");
  }
  for (const auto& f : fields) {
    json j = good;
    j[f] = json{{"x", 1}};
    Refuses(decode, j, f);
  }
  Refuses(decode, json::array(), "must be a JSON object");
}

}  // namespace

TEST_CASE("Registration round-trips and checks its fields") {
  Registration m;
  m.hostname = "n1";
  m.slurm_job_id = "123";
  m.slurm_nodelist = "n[1-2]";
  m.pid = 42;
  m.output_dir = "/o/3";
  m.nodes = {{"n1", 4, 1 << 30, {0, 1}}, {"n2", 4, 1 << 30, {}}};
  m.end_time = 1e9;
  m.slurm_restart_count = 2;
  CHECK(RegistrationFromJson(ToJson(m)) == m);
  CHECK(ToJson(m)["slurm_restart_count"] == 2);
  Refuses(RegistrationFromJson, {{"slurm_restart_count", -1}}, "slurm_restart_count");
  m.slurm_restart_count = 0;
  CHECK_FALSE(ToJson(m).contains("slurm_restart_count"));  // as an older worker sends it
  m.end_time.reset();
  CHECK(RegistrationFromJson(ToJson(m)) == m);
  CHECK(m.ResourcesJson()["output_dir"] == "/o/3");
  CHECK(RegistrationFromJson(json::object()) == Registration{});  // every field has a default
  RefusesEachField(RegistrationFromJson, ToJson(m), {},
                   {"hostname", "slurm_job_id", "slurm_nodelist", "pid", "output_dir"});
  Refuses(RegistrationFromJson, {{"resources", 5}}, "'resources' must be an object");
  Refuses(RegistrationFromJson, {{"pid", -5}}, "'pid' must be between");
  Refuses(RegistrationFromJson, {{"hostname", std::string(300, 'h')}}, "'hostname' is too long");
  Refuses(RegistrationFromJson, {{"resources", {{"nodes", {{{"cpus", "4"}}}}}}}, "'cpus'");
  Refuses(RegistrationFromJson, {{"resources", {{"nodes", {{{"gpus", {-1}}}}}}}}, "'gpus'");
  Refuses(RegistrationFromJson, {{"resources", {{"end_time", "soon"}}}}, "'end_time'");
  // An older worker's output directory inside "resources" is still read.
  CHECK(RegistrationFromJson({{"resources", {{"output_dir", "/x"}}}}).output_dir == "/x");
}

TEST_CASE("RegistrationAnswer round-trips, fills defaults once, and checks its fields") {
  RegistrationAnswer m;
  m.worker_id = 5;
  m.workflow_name = "w";
  m.working_dir = "/home/u";
  m.heartbeat_seconds = 10;
  m.lease_seconds = 30;
  m.failure_handlers = {{"h", {{{1, 2}, false, 3, "echo fix", {}, 1, 1}}}};
  m.schedulers = {"cpu", "gpu"};
  m.on_worker_start = {"echo start"};
  m.on_worker_complete = {"echo done"};
  m.execution.mode = "direct";
  m.execution.oom_exit_code = 9;
  m.execution.srun_launch_interval_ms = 0;
  m.execution.sigkill_headroom_seconds = 90;
  m.execution.srun_mpi = "pmix";
  RegistrationAnswer back = RegistrationAnswerFromJson(ToJson(m));
  CHECK(ToJson(back) == ToJson(m));
  CHECK(back.execution == m.execution);
  CHECK(back.failure_handlers.at(0).rules.at(0).recovery_script == "echo fix");
  // A rule's reasons and multipliers travel too; a server that sends none means "unchanged".
  m.failure_handlers[0].rules[0].reasons = {"memory"};
  m.failure_handlers[0].rules[0].memory_multiplier = 1.5;
  m.failure_handlers[0].rules[0].runtime_multiplier = 2;
  const torc::spec::FailureRule rule =
      RegistrationAnswerFromJson(ToJson(m)).failure_handlers.at(0).rules.at(0);
  CHECK(rule.reasons == std::vector<std::string>{"memory"});
  CHECK(rule.memory_multiplier == 1.5);
  CHECK(rule.runtime_multiplier == 2);
  json older = ToJson(m);
  for (const char* k : {"reasons", "memory_multiplier", "runtime_multiplier"})
    older["failure_handlers"][0]["rules"][0].erase(k);
  const torc::spec::FailureRule plain =
      RegistrationAnswerFromJson(older).failure_handlers.at(0).rules.at(0);
  CHECK((plain.reasons.empty() && plain.memory_multiplier == 1 && plain.runtime_multiplier == 1));
  // Defaults: the one place for 137 and 152.
  RegistrationAnswer d = RegistrationAnswerFromJson({{"worker_id", 1}});
  CHECK(d.execution.oom_exit_code == kDefaultOomExitCode);
  CHECK(d.execution.timeout_exit_code == kDefaultTimeoutExitCode);
  CHECK(ExecutionSettingsOf(torc::spec::ExecutionConfig{}).oom_exit_code == 137);
  CHECK(ExecutionSettingsOf(torc::spec::ExecutionConfig{}) == ExecutionSettings{});
  RefusesEachField(RegistrationAnswerFromJson, ToJson(m), {"worker_id"},
                   {"worker_id", "workflow_name", "working_dir", "heartbeat_seconds",
                    "lease_seconds", "failure_handlers", "schedulers", "on_worker_start",
                    "on_worker_complete"});
  for (const char* f : {"mode", "limit_resources", "termination_signal", "sigterm_lead_seconds",
                        "oom_exit_code", "timeout_exit_code", "srun_termination_signal",
                        "enable_cpu_bind", "srun_launch_interval_ms", "sigkill_headroom_seconds",
                        "srun_mpi"}) {
    json j = ToJson(m);
    j["execution"][f] = json::array();
    Refuses(RegistrationAnswerFromJson, j, f);
  }
  json j = ToJson(m);
  j["execution"]["mode"] = "fast";
  Refuses(RegistrationAnswerFromJson, j, "'mode' must be auto, slurm or direct");
  Refuses(RegistrationAnswerFromJson, {{"worker_id", 1}, {"schedulers", {1}}}, "'schedulers'");
  Refuses(RegistrationAnswerFromJson, {{"worker_id", 1}, {"failure_handlers", {5}}},
          "'failure_handlers'");
}

TEST_CASE("RegistrationAnswer carries compute_node_ignore_workflow_completion") {
  RegistrationAnswer m;
  m.worker_id = 5;
  m.ignore_workflow_completion = true;
  CHECK(ToJson(m)["ignore_workflow_completion"] == true);
  CHECK(RegistrationAnswerFromJson(ToJson(m)).ignore_workflow_completion);
  m.ignore_workflow_completion = false;
  CHECK_FALSE(RegistrationAnswerFromJson(ToJson(m)).ignore_workflow_completion);
  // An older server sends none: the worker leaves at completion.
  CHECK_FALSE(RegistrationAnswerFromJson({{"worker_id", 1}}).ignore_workflow_completion);
  RefusesEachField(RegistrationAnswerFromJson, ToJson(m), {}, {"ignore_workflow_completion"});
}

TEST_CASE("ClaimRequest round-trips and checks its fields") {
  ClaimRequest m;
  m.worker_id = 3;
  m.max_jobs = 16;
  m.nodes = {{4, 1 << 30, 1, 8, 2LL << 30, 2, false}, {8, 2LL << 30, 2, 8, 2LL << 30, 2, true}};
  m.remaining_seconds = 3500.5;
  m.scheduler = "gpu";
  m.total_cpus = 16;
  m.wait_seconds = 2.5;
  m.started = {{1, 1, "n1"}, {2, 3, ""}};
  m.results = {Report()};
  CHECK(ClaimRequestFromJson(ToJson(m)) == m);
  CHECK(ToJson(m)["total_cpus"] == 16);
  CHECK(ToJson(m)["wait_seconds"] == 2.5);
  ClaimRequest bare;
  bare.worker_id = 1;
  CHECK(ClaimRequestFromJson(ToJson(bare)) == bare);
  RefusesEachField(ClaimRequestFromJson, ToJson(m), {"worker_id", "nodes"},
                   {"worker_id", "max_jobs", "nodes", "remaining_seconds", "scheduler",
                    "started", "results"});
  json j = ToJson(m);
  for (const char* f : {"free_cpus", "free_memory_bytes"}) {
    json k = j;
    k["nodes"][0].erase(f);
    Refuses(ClaimRequestFromJson, k, std::string("'") + f + "' is required");
  }
  for (const char* f : {"free_cpus", "free_memory_bytes", "free_gpus", "total_cpus",
                        "total_memory_bytes", "total_gpus", "idle"}) {
    json k = j;
    k["nodes"][0][f] = "x";
    Refuses(ClaimRequestFromJson, k, f);
  }
  j["nodes"] = {1};
  Refuses(ClaimRequestFromJson, j, "each of 'nodes' must be an object");
  j = ToJson(m);
  j["max_jobs"] = -1;
  Refuses(ClaimRequestFromJson, j, "'max_jobs' must be between 0 and 100000");
  for (double wait : {-1.0, 60.5}) {
    j = ToJson(m);
    j["wait_seconds"] = wait;
    Refuses(ClaimRequestFromJson, j, "'wait_seconds' must be between 0 and 60");
  }
  j = ToJson(m);
  j["wait_seconds"] = "5";
  Refuses(ClaimRequestFromJson, j, "wait_seconds");
  // A node's totals default to its free figures (an older worker sent free figures only).
  json old = {{"worker_id", 1}, {"nodes", {{{"free_cpus", 2}, {"free_memory_bytes", 5}}}}};
  CHECK(ClaimRequestFromJson(old).nodes.at(0).total_cpus == 2);
  CHECK(ClaimRequestFromJson(old).nodes.at(0).total_memory_bytes == 5);
}

TEST_CASE("AttemptReport: each field checked (inside a complete request)") {
  CompleteRequest m{9, {Report()}, {}};
  CHECK(CompleteRequestFromJson(ToJson(m)) == m);
  CHECK(!ToJson(m).contains("started"));
  // Start notices may travel with the results.
  CompleteRequest both{9, {Report()}, {{1, 1, "n1"}, {2, 3, ""}}};
  CHECK(CompleteRequestFromJson(ToJson(both)) == both);
  json bad = ToJson(both);
  bad["started"][0] = 7;
  Refuses(CompleteRequestFromJson, bad, "each started job must be an object");
  AttemptReport unknown = Report();
  unknown.peak_rss_bytes = -1;
  unknown.cpu_seconds = -1;
  CompleteRequest u{9, {unknown}, {}};
  CHECK(CompleteRequestFromJson(ToJson(u)) == u);
  auto with = [&](const char* f, const json& v) {
    json j = ToJson(m);
    if (v.is_null()) j["results"][0].erase(f);
    else j["results"][0][f] = v;
    return j;
  };
  for (const char* f : {"id", "attempt", "status"})
    Refuses(CompleteRequestFromJson, with(f, nullptr), std::string("'") + f + "' is required");
  for (const char* f : {"id", "attempt", "status", "exit_code", "signal", "reason", "start_time",
                        "end_time", "peak_rss_bytes", "cpu_seconds", "nodes"})
    Refuses(CompleteRequestFromJson, with(f, json::array()), f);
  Refuses(CompleteRequestFromJson, with("status", "running"),
          "must be completed, failed, terminated or canceled");
  Refuses(CompleteRequestFromJson, with("attempt", 0), "'attempt' must be between 1");
  Refuses(CompleteRequestFromJson, with("reason", std::string(kMaxReasonBytes + 1, 'r')),
          "'reason' is too long");
  json completed = with("status", "completed");
  Refuses(CompleteRequestFromJson, completed, "a completed result must have exit code 0");
  Refuses(CompleteRequestFromJson, {{"worker_id", 1}, {"results", {5}}},
          "each of 'results' must be an object");
  RefusesEachField(CompleteRequestFromJson, ToJson(m), {"worker_id", "results"},
                   {"worker_id", "results"});
}

TEST_CASE("ClaimedJob: the hot-path writer and the decoder agree; fields checked") {
  ClaimedJob c = Job();
  CHECK(ClaimedJobFromJson(ToJson(c)) == c);
  ClaimedJob plain;
  plain.name = "a";
  plain.command = "true";
  json pj = ToJson(plain);
  CHECK_FALSE(pj.contains("stdio"));  // defaults are left out of the hot path
  CHECK_FALSE(pj.contains("failure_handler"));
  CHECK(ClaimedJobFromJson(pj) == plain);
  RefusesEachField(ClaimedJobFromJson, ToJson(c),
                   {"id", "name", "attempt", "command", "num_cpus", "memory_bytes", "num_gpus",
                    "num_nodes", "runtime_seconds"},
                   {"id", "name", "attempt", "command", "invocation_script", "env", "num_cpus",
                    "memory_bytes", "num_gpus", "num_nodes", "runtime_seconds", "nodes",
                    "failure_handler", "status"});
  json j = ToJson(c);
  j["env"]["A"] = 1;
  Refuses(ClaimedJobFromJson, j, "'env' value of A");
  j = ToJson(c);
  j["stdio"]["mode"] = "loud";
  Refuses(ClaimedJobFromJson, j, "not a stdio mode");
  j = ToJson(c);
  j["nodes"] = {-1};
  Refuses(ClaimedJobFromJson, j, "'nodes'");
}

TEST_CASE("ClaimAnswer, HeldJobs, StartRequest/Answer, CompleteAnswer, Heartbeat, Leave") {
  ClaimAnswer a;
  a.jobs = {Job(), Job()};
  a.jobs[1].id = 5;
  a.workflow_complete = false;
  a.unfinished = 10;
  a.ready = 4;
  a.blocked = 3;
  a.worker_cpus = 1024;
  a.applied = 2;
  a.duplicate = 1;
  a.rejected = {{3, 1, "stale attempt"}};
  CHECK(ClaimAnswerFromJson(json::parse(EncodeClaimAnswer(a))) == a);
  ClaimAnswer empty;
  empty.runnable = 0;
  CHECK(ClaimAnswerFromJson(json::parse(EncodeClaimAnswer(empty))) == empty);
  RefusesEachField(ClaimAnswerFromJson, json::parse(EncodeClaimAnswer(a)), {"jobs"},
                   {"jobs", "workflow_complete", "unfinished", "ready", "runnable", "applied",
                    "duplicate", "rejected"});

  HeldJobs h{{Job()}};
  h.jobs[0].status = "running";
  CHECK(HeldJobsFromJson(ToJson(h)) == h);
  RefusesEachField(HeldJobsFromJson, ToJson(h), {"jobs"}, {"jobs"});

  StartRequest s{2, {{1, 1, "n1"}}};
  CHECK(StartRequestFromJson(ToJson(s)) == s);
  RefusesEachField(StartRequestFromJson, ToJson(s), {"worker_id", "jobs"}, {"worker_id", "jobs"});
  Refuses(StartRequestFromJson, {{"worker_id", 1}, {"jobs", {{{"id", 1}, {"attempt", 0}}}}},
          "'attempt' must be between 1");
  CHECK(StartAnswerFromJson(ToJson(StartAnswer{3})).started == 3);

  CompleteAnswer c{5, 1, {{2, 1, "not this worker's job"}}, true};
  CHECK(CompleteAnswerFromJson(ToJson(c)) == c);
  RefusesEachField(CompleteAnswerFromJson, ToJson(c), {}, {"applied", "duplicate", "rejected"});

  HeartbeatAnswer hb{{3, 4}, true};
  CHECK(HeartbeatAnswerFromJson(ToJson(hb)) == hb);
  RefusesEachField(HeartbeatAnswerFromJson, ToJson(hb), {}, {"stop_jobs", "workflow_complete"});

  CHECK(ToJson(LeaveNotice{}).is_null());
  CHECK(LeaveNoticeFromJson(ToJson(LeaveNotice{"idle for 60 s"})).reason == "idle for 60 s");
  CHECK(LeaveNoticeFromJson(nullptr).reason.empty());
  Refuses(LeaveNoticeFromJson, {{"reason", 5}}, "'reason' must be a string");
}

TEST_CASE("FitText: valid UTF-8, cut at a character boundary, within the limit") {
  CHECK(FitText("plain", 10) == "plain");
  CHECK(FitText("plain", 3) == "pla");
  CHECK(FitText("", 0).empty());
  // "é" is two bytes, "€" three, "😀" four: never cut in the middle.
  CHECK(FitText("aé", 2) == "a");
  CHECK(FitText("aé", 3) == "aé");
  CHECK(FitText("€€", 5) == "€");
  CHECK(FitText("😀x", 3).empty());
  // Bytes that are not UTF-8 become '?': a lone continuation byte, a truncated sequence, an
  // overlong form, a surrogate, a code point past U+10FFFF.
  CHECK(FitText("a\x80z", 10) == "a?z");
  CHECK(FitText("a\xC3", 10) == "a?");
  CHECK(FitText("\xC0\xAF", 10) == "??");
  CHECK(FitText("\xED\xA0\x80", 10) == "???");
  CHECK(FitText("\xF4\x90\x80\x80", 10) == "????");
  CHECK(FitText("caf\xE9 ok", 10) == "caf? ok");
  // NUL is a character like any other.
  CHECK(FitText(std::string("a\0b", 3), 10) == std::string("a\0b", 3));
}

TEST_CASE("the worker's messages never carry a text their decoder refuses") {
  // Long texts (an error message naming two long paths, a long hostname) and bytes that are
  // not UTF-8 (which nlohmann would refuse to encode at all) are fitted by the encoders.
  const std::string long_reason =
      "could not start: cannot open the output files (" + std::string(200, 'p') + "é, " +
      std::string(200, 'q') + "): File name too long";
  AttemptReport r = Report();
  r.reason = long_reason;
  r.nodes = std::string(kMaxNodesBytes + 10, 'n');
  CompleteRequest complete{9, {r}, {}};
  CompleteRequest got = CompleteRequestFromJson(json::parse(ToJson(complete).dump()));
  REQUIRE(got.results.size() == 1);
  CHECK(got.results[0].reason.size() <= kMaxReasonBytes);
  CHECK(long_reason.rfind(got.results[0].reason, 0) == 0);  // a prefix of it
  CHECK(got.results[0].nodes.size() == kMaxNodesBytes);
  ClaimRequest claim;
  claim.worker_id = 1;
  claim.nodes = {{1, 1, 0, 1, 1, 0, true}};
  claim.scheduler = std::string(300, 's');
  claim.results = {r};
  claim.started = {{1, 1, std::string(kMaxNodesBytes + 1, 'n')}};
  ClaimRequest claimed = ClaimRequestFromJson(json::parse(ToJson(claim).dump()));
  CHECK(claimed.scheduler.size() == kMaxSchedulerBytes);
  CHECK(claimed.results.at(0).reason.size() <= kMaxReasonBytes);
  CHECK(claimed.started.at(0).nodes.size() == kMaxNodesBytes);
  CHECK(StartRequestFromJson(json::parse(ToJson(StartRequest{1, claim.started}).dump()))
            .jobs.at(0)
            .nodes.size() == kMaxNodesBytes);

  Registration m;
  m.hostname = std::string(300, 'h') + "\xff";
  m.slurm_job_id = std::string(100, '7');
  m.slurm_nodelist = std::string(5000, 'n');
  m.nodes = {{std::string(300, 'x'), 4, 0, {}}};
  Registration reg = RegistrationFromJson(json::parse(ToJson(m).dump()));
  CHECK(reg.hostname == std::string(kMaxHostnameBytes, 'h'));
  CHECK(reg.slurm_job_id.size() == kMaxSlurmJobIdBytes);
  CHECK(reg.slurm_nodelist.size() == kMaxSlurmNodeListBytes);
  CHECK(reg.nodes.at(0).name.size() == kMaxHostnameBytes);
  Registration latin1;
  latin1.hostname = "caf\xE9";
  CHECK(RegistrationFromJson(json::parse(ToJson(latin1).dump())).hostname == "caf?");

  LeaveNotice leave{std::string(2000, 'r')};
  CHECK(LeaveNoticeFromJson(json::parse(ToJson(leave).dump())).reason.size() ==
        kMaxLeaveReasonBytes);
}

TEST_CASE("AttemptReport carries node_usage and samples; both optional; samples thinned") {
  AttemptReport r = Report();
  r.node_usage = {{"n1", 300, 2.5}, {"n2", 200, 1.5}};
  r.samples = {{1, 95.5, 100}, {2, 180, 300}};
  json j = ToJson(r);
  CHECK(j["node_usage"][0] == json{{"node", "n1"}, {"peak_rss_bytes", 300}, {"cpu_seconds", 2.5}});
  CHECK(j["samples"][1] == json::array({2.0, 180.0, 300}));
  CHECK(AttemptReportFromJson(j) == r);
  json old = ToJson(Report());
  CHECK_FALSE(old.contains("node_usage"));
  CHECK_FALSE(old.contains("samples"));
  CHECK(AttemptReportFromJson(old).node_usage.empty());
  json bad = j;
  bad["samples"] = json::array({json::array({1, 2})});
  CHECK_THROWS_WITH_AS(AttemptReportFromJson(bad),
                       "each of 'samples' must be [t, cpu_percent, rss_bytes]", FieldError);
  bad = j;
  bad["node_usage"] = json::array({1});
  CHECK_THROWS_AS(AttemptReportFromJson(bad), FieldError);
  // More than the limit: the encoder thins them, keeping the first and the last.
  r.samples.clear();
  for (int i = 0; i < 25000; ++i) r.samples.push_back({double(i), 1, i});
  json many = ToJson(r);
  REQUIRE(many["samples"].size() == kMaxSamples);
  CHECK(many["samples"][0][0] == 0.0);
  CHECK(many["samples"][kMaxSamples - 1][0] == 24999.0);
  CHECK(AttemptReportFromJson(many).samples.size() == kMaxSamples);
}

TEST_CASE("RegistrationAnswer carries MonitorSettings; an old server's answer has defaults") {
  RegistrationAnswer m;
  m.worker_id = 3;
  m.monitor = {true, true, 2};
  json j = ToJson(m);
  CHECK(j["monitor"] == json{{"enabled", true}, {"time_series", true}, {"sample_interval_seconds", 2}});
  CHECK(RegistrationAnswerFromJson(j).monitor == m.monitor);
  CHECK(RegistrationAnswerFromJson({{"worker_id", 1}}).monitor == MonitorSettings{});
  j["monitor"]["sample_interval_seconds"] = 0;
  CHECK_THROWS_AS(RegistrationAnswerFromJson(j), FieldError);
}

TEST_CASE("JsonWriter::Double: read back exactly, and as a floating-point number") {
  for (double v : {0.0, -1.0, 2.5, 1e-7, 1e20, 123456789.123, 0.1, 1.7976931348623157e308,
                   -4.9e-324, 3.0}) {
    std::string text;
    JsonWriter(&text).Double(v);
    CAPTURE(text);
    json j = json::parse(text);
    CHECK(j.is_number_float());
    CHECK(j.get<double>() == v);
  }
}
