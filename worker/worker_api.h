// The server as the worker loop sees it: one call per worker endpoint, typed
// (server/protocol/messages.h), for one workflow. The real one goes through ApiClient
// (MakeServerWorkerApi); tests give the loop a fake server (tests/worker/loop_test.cc).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "server/client/client.h"
#include "server/protocol/messages.h"

namespace torc::worker {

/// The worker endpoints of one workflow. No call throws: a failure (unreachable server, an
/// error status, an answer that does not decode) is an ApiAnswer without a value, transient()
/// or permanent() (server/client/client.h).
class WorkerApi {
 public:
  virtual ~WorkerApi() = default;
  /// Each later call waits at most this long for its answer: a stopping worker must leave
  /// within its stop lead, even when the server does not answer.
  virtual void SetCallTimeout(double seconds) = 0;
  /// The server's URL, for messages and the jobs' TORC_API_URL.
  virtual std::string url() const = 0;
  /// Whether the server answers at all, asked with a short timeout (status 0: no answer).
  virtual server::ApiAnswer<server::Acknowledged> Probe() = 0;
  /// Registers the worker; the answer has its id and the workflow's settings.
  virtual server::ApiAnswer<protocol::RegistrationAnswer> Register(
      const protocol::Registration& m) = 0;
  /// Claims jobs that fit, carrying start notices and results.
  virtual server::ApiAnswer<protocol::ClaimAnswer> Claim(const protocol::ClaimRequest& m) = 0;
  /// Says which claimed jobs now run.
  virtual server::ApiAnswer<protocol::StartAnswer> Start(const protocol::StartRequest& m) = 0;
  /// Reports ended attempts (409 when some were stale).
  virtual server::ApiAnswer<protocol::CompleteAnswer> Complete(
      const protocol::CompleteRequest& m) = 0;
  /// Renews the lease (409 when it was lost); the answer lists jobs to stop.
  virtual server::ApiAnswer<protocol::HeartbeatAnswer> Heartbeat(int64_t worker_id) = 0;
  /// The jobs the server says the worker holds.
  virtual server::ApiAnswer<protocol::HeldJobs> HeldJobs(int64_t worker_id) = 0;
  /// The worker leaves, with a reason when work is left.
  virtual server::ApiAnswer<server::Acknowledged> Leave(int64_t worker_id,
                                                        const protocol::LeaveNotice& m) = 0;
};

/// The worker endpoints of `workflow_id` through `client` (which must outlive it).
std::unique_ptr<WorkerApi> MakeServerWorkerApi(server::ApiClient& client, int64_t workflow_id);

}  // namespace torc::worker
