#include "server/embedded.h"

#include <chrono>

#include "server/api/api.h"
#include "server/util/clock.h"
#include "server/util/data_dir.h"
#include "server/http/http.h"
#include "server/service.h"

namespace torc::server {
namespace {
double Now() { return util::WallClockNow(); }
}  // namespace

std::unique_ptr<EmbeddedServer> EmbeddedServer::Start(const std::string& dir, std::string* error) {
  std::unique_ptr<EmbeddedServer> s(new EmbeddedServer());
  if (!util::EnsureDataDir(dir, error) || !util::LoadOrCreateToken(dir, &s->token_, error)) return nullptr;
  StoreStatus st;
  auto store = Store::Open(dir + "/torc.db", StoreOptions{}, &st);
  if (!store) {
    *error = "cannot open " + dir + "/torc.db: " + st.message;
    return nullptr;
  }
  ServiceStatus ss;
  s->service_ = Service::Open(std::move(store), ServiceOptions{}, Now(), &ss);
  if (!s->service_) {
    *error = ss.message;
    return nullptr;
  }
  HttpServerOptions http;
  http.port = 0;
  s->http_ = StartHttpServer(http, MakeApiHandler(s->service_.get(), {s->token_, Now}), error);
  if (!s->http_) return nullptr;
  HttpServer* held = s->http_.get();
  s->service_->SetClaimWakeup([held] { held->WakeWaiting(); });
  s->url_ = "http://127.0.0.1:" + std::to_string(s->http_->port());
  util::WriteServerUrl(dir, s->url_, error);
  return s;
}

EmbeddedServer::~EmbeddedServer() {
  if (service_) service_->SetClaimWakeup(nullptr);
  if (http_) http_->Stop();
}

void EmbeddedServer::Tick() { service_->ExpireAll(Now()); }

}  // namespace torc::server
