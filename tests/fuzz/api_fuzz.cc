// libFuzzer target for the REST API handlers (server/api.h MakeApiHandler) over a real Service
// and SQLite store in a temporary directory, without the HTTP transport. Any crash, leak,
// sanitizer report, hang, 5xx answer, JSON answer that is not a JSON object, or error that is not
// a JSON object with a string "error" is a bug. So is a body that a fast reader of the worker
// protocol (server/protocol/fast_read.h) takes and the general decoder refuses or reads
// otherwise.
//
// Input: byte 0 picks the method (bits 0-1: GET POST DELETE PUT), whether the token is sent
// (bit 2: a wrong one) and how far the clock moves before the request (bits 3-7, seconds, so
// leases expire now and then); then the path (with an optional ?query, k=v&k=v, not decoded) up
// to the first '\n'; the rest is the body. "$wf" in the path or body stands for a workflow that
// is always there (re-submitted when the input deleted it) and "$w" for a worker registered on
// it, so the job and worker endpoints are reachable.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "server/api/api.h"
#include "server/protocol/fast_read.h"
#include "server/service.h"
#include "server/store/store.h"

namespace {

using namespace torc::server;

const char* kToken = "fuzz-token";
const char* kWorkflow = R"(name: fuzz
jobs:
  - name: prep_{i}
    command: echo {i}
    parameters: {i: "1:3"}
    resource_requirements: small
  - name: work
    command: "true"
    depends_on_regexes: ["^prep_"]
    failure_handler: retry
resource_requirements:
  - {name: small, num_cpus: 1, memory: 1m, runtime: PT1M}
failure_handlers:
  - name: retry
    rules: [{exit_codes: [1], max_retries: 2}]
slurm_schedulers:
  - {name: short, account: a, walltime: "01:00:00"}
actions:
  - {trigger_type: on_jobs_ready, jobs: [work], action_type: run_commands, commands: ["echo"]}
)";

struct World {
  std::string dir;
  std::unique_ptr<Service> service;
  HttpHandler handler;
  double now = 1'000'000;
  WorkflowId wf = 0;
  WorkerId worker = 0;

  World() {
    // tmpfs when there is one: the store commits (fsyncs) on every mutating request.
    char tmpl[] = "/dev/shm/torc-api-fuzz-XXXXXX";
    char tmpl2[] = "/tmp/torc-api-fuzz-XXXXXX";
    char* d = mkdtemp(tmpl);
    if (!d) d = mkdtemp(tmpl2);
    if (!d) std::abort();
    dir = d;
    StoreStatus st;
    auto store = Store::Open(dir + "/torc.db", StoreOptions{}, &st);
    if (!store) {
      std::fprintf(stderr, "api_fuzz: cannot open the store: %s\n", st.message.c_str());
      std::abort();
    }
    ServiceOptions options;
    // Small limits keep each submit fast (see spec_fuzz.cc).
    options.limits.max_jobs = 20000;
    options.limits.max_parameter_values = 20000;
    options.limits.max_combinations = 100000;
    options.limits.max_data_values = 20000;
    options.limits.max_regex_tests = 2'000'000;
    ServiceStatus ss;
    service = Service::Open(std::move(store), options, now, &ss);
    if (!service) std::abort();
    ApiOptions api_options{kToken, [this] { return now; }};
    api_options.schedule_wait_seconds = 0;  // no action runner here: nothing would answer
    handler = MakeApiHandler(service.get(), api_options);
  }

  ~World() {
    service.reset();
    std::system(("rm -rf '" + dir + "'").c_str());
  }

  static std::string Replace(std::string s, const std::string& from, const std::string& to) {
    for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
      s.replace(pos, from.size(), to);
    return s;
  }

  HttpResponse Call(const std::string& method, const std::string& path, const std::string& body) {
    HttpRequest r;
    r.method = method;
    r.path = path;
    r.body = body;
    r.authorization = std::string("Bearer ") + kToken;
    return handler(r);
  }

  // The workflow and worker the inputs refer to as $wf and $w exist (again).
  void Ensure() {
    bool live = false;
    ServiceStatus s = service->WithWorkflow(wf, [&](WorkflowEntry& e) {
      live = e.core->IsLiveWorker(worker);
      return ServiceStatus::Ok();
    });
    if (!s.ok()) {
      SubmitRequest req{kWorkflow, "fuzz.yaml", "/tmp", "fuzz"};
      if (!service->Submit(req, now, &wf).ok()) std::abort();
      live = false;
    }
    if (!live) {
      HttpResponse r = Call("POST", "/api/v1/workflows/" + std::to_string(wf) + "/workers",
                            R"({"hostname": "fuzz"})");
      if (r.status != 201) std::abort();
      worker = nlohmann::json::parse(r.body)["worker_id"].get<WorkerId>();
    }
    // Keep memory bounded: drop workflows the inputs created.
    auto ids = service->WorkflowIds();
    if (ids.size() > 20)
      for (WorkflowId id : ids)
        if (id != wf) service->Delete(id);
  }
};

World& TheWorld() {
  static World* world = new World();  // never destroyed: libFuzzer exits without unwinding
  return *world;
}

// What a fast reader takes, the general decoder (the one that words errors) reads alike.
template <typename Message, typename Fast, typename General>
void CheckFastReader(const std::string& body, Fast fast, General general, const char* what) {
  Message m;
  if (!fast(body, &m)) return;
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  bool same = false;
  try {
    same = !j.is_discarded() && general(j) == m;
  } catch (const std::exception&) {
  }
  if (same) return;
  std::fprintf(stderr, "api_fuzz: the fast %s reader takes a body the general one %s: %s\n",
               what, j.is_discarded() ? "does not parse" : "refuses or reads otherwise",
               body.substr(0, 2000).c_str());
  std::abort();
}

void CheckFastReaders(const std::string& body) {
  using namespace torc::protocol;
  CheckFastReader<ClaimRequest>(body, FastReadClaimRequest, ClaimRequestFromJson, "claim");
  CheckFastReader<StartRequest>(body, FastReadStartRequest, StartRequestFromJson, "start");
  CheckFastReader<CompleteRequest>(body, FastReadCompleteRequest, CompleteRequestFromJson,
                                   "complete");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  World& w = TheWorld();
  w.Ensure();
  static const char* kMethods[] = {"GET", "POST", "DELETE", "PUT"};
  const uint8_t control = data[0];
  w.now += control >> 3;
  std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t nl = rest.find('\n');
  std::string target = rest.substr(0, nl);
  std::string body = nl == std::string::npos ? "" : rest.substr(nl + 1);
  const std::string wf = std::to_string(w.wf), worker = std::to_string(w.worker);
  target = World::Replace(World::Replace(target, "$wf", wf), "$w", worker);
  body = World::Replace(World::Replace(body, "$wf", wf), "$w", worker);

  HttpRequest r;
  r.method = kMethods[control & 3];
  size_t q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) {
    std::string query = target.substr(q + 1);
    size_t pos = 0;
    while (pos <= query.size()) {
      size_t amp = query.find('&', pos);
      std::string kv = query.substr(pos, amp == std::string::npos ? amp : amp - pos);
      size_t eq = kv.find('=');
      r.query[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
      if (amp == std::string::npos) break;
      pos = amp + 1;
    }
  }
  r.body = body;
  CheckFastReaders(body);
  r.authorization = (control & 4) ? "Bearer wrong" : std::string("Bearer ") + kToken;
  HttpResponse resp = w.handler(r);

  auto fail = [&](const char* why) {
    std::fprintf(stderr, "api_fuzz: %s: %s %s -> %d %s\n", why, r.method.c_str(), r.path.c_str(),
                 resp.status, resp.body.substr(0, 2000).c_str());
    std::abort();
  };
  if (resp.status >= 500) fail("server error");
  if (resp.status < 200 || (resp.status >= 300 && resp.status < 400)) fail("unexpected status");
  // Pages (the dashboard, metrics) are not JSON; every JSON answer and every error is.
  if (resp.content_type.rfind("application/json", 0) != 0 && resp.status < 400) return 0;
  auto j = nlohmann::json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) fail("the answer is not a JSON object");
  if (resp.status >= 400 && !(j.contains("error") && j["error"].is_string()))
    fail("an error answer without an \"error\" string");
  // Everything under /api/v1 but health needs the token (pages outside it are not the API).
  if ((control & 4) && r.path.rfind("/api/v1/", 0) == 0 &&
      r.path.rfind("/api/v1/health", 0) != 0 && resp.status != 401)
    fail("a wrong token was accepted");
  return 0;
}
