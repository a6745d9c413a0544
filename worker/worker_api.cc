#include "worker/worker_api.h"

#include <chrono>

namespace torc::worker {
namespace {

using server::Acknowledged;
using server::ApiAnswer;

/// WorkerApi over ApiClient's typed methods.
class ServerWorkerApi : public WorkerApi {
 public:
  ServerWorkerApi(server::ApiClient& client, int64_t workflow_id)
      : client_(client), workflow_id_(workflow_id) {}

  std::string url() const override { return client_.url(); }

  void SetCallTimeout(double seconds) override {
    auto ms = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    if (ms != timeout_) limited_ = client_.WithTimeout(ms);
    timeout_ = ms;
  }

  // Short calls until the server first answers: a URL nobody answers on (a loopback address
  // on a compute node, a firewall) is reported within seconds, not after a call's timeout.
  // On the calls' own connection: a probe client of its own cost the server a second TLS
  // handshake per worker.
  ApiAnswer<Acknowledged> Probe() override {
    return Client().HealthWithin(std::chrono::milliseconds(4000));
  }
  ApiAnswer<protocol::RegistrationAnswer> Register(const protocol::Registration& m) override {
    return Client().RegisterWorker(workflow_id_, m);
  }
  ApiAnswer<protocol::ClaimAnswer> Claim(const protocol::ClaimRequest& m) override {
    return Client().Claim(workflow_id_, m);
  }
  ApiAnswer<protocol::StartAnswer> Start(const protocol::StartRequest& m) override {
    return Client().StartJobs(workflow_id_, m);
  }
  ApiAnswer<protocol::CompleteAnswer> Complete(const protocol::CompleteRequest& m) override {
    return Client().CompleteJobs(workflow_id_, m);
  }
  ApiAnswer<protocol::HeartbeatAnswer> Heartbeat(int64_t worker_id) override {
    return Client().Heartbeat(workflow_id_, worker_id);
  }
  ApiAnswer<protocol::HeldJobs> HeldJobs(int64_t worker_id) override {
    return Client().HeldJobs(workflow_id_, worker_id);
  }
  ApiAnswer<Acknowledged> Leave(int64_t worker_id, const protocol::LeaveNotice& m) override {
    return Client().UnregisterWorker(workflow_id_, worker_id, m);
  }

 private:
  /// The client of the calls: the given one, or the same server with the timeout set last.
  server::ApiClient& Client() { return limited_ ? *limited_ : client_; }

  server::ApiClient& client_;
  int64_t workflow_id_;
  std::unique_ptr<server::ApiClient> limited_;  // SetCallTimeout's
  std::chrono::milliseconds timeout_{0};
};

}  // namespace

std::unique_ptr<WorkerApi> MakeServerWorkerApi(server::ApiClient& client, int64_t workflow_id) {
  return std::make_unique<ServerWorkerApi>(client, workflow_id);
}

}  // namespace torc::worker
