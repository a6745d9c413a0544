// Tests of HTTPS: the data directory's certificate (server/tls/tls.h) and the transport over TLS
// (the connection guard's TLS side, the client's pinning) on 127.0.0.1.
#include "server/tls/tls.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "server/client/http_client.h"
#include "server/http/http.h"
#include "temp_dir.h"

using namespace torc;
using namespace std::chrono_literals;

namespace {

std::string Fingerprint(const std::string& pem) {
  std::string fingerprint, error;
  REQUIRE_MESSAGE(tls::PublicKeyFingerprint(pem, &fingerprint, &error), error);
  return fingerprint;
}

bool Names(const std::string& pem, const std::string& name) {
  for (const auto& n : tls::CertificateNames(pem))
    if (n == name) return true;
  return false;
}

/// A data directory with a self-signed certificate naming 127.0.0.1 and localhost.
struct CertifiedDir {
  testing::ScratchDir dir{"torc_tls"};
  std::string path = dir.path.string();
  std::string cert = path + "/server.crt", key = path + "/server.key";
  CertifiedDir() {
    std::string note, error;
    REQUIRE_MESSAGE(
        tls::EnsureSelfSignedCertificate(path, {"127.0.0.1", "localhost"}, &note, &error), error);
  }
};

std::unique_ptr<server::HttpServer> StartTls(const CertifiedDir& d, server::HttpHandler handler) {
  server::HttpServerOptions options;
  options.tls_cert_file = d.cert;
  options.tls_key_file = d.key;
  std::string error;
  auto s = server::StartHttpServer(options, std::move(handler), &error);
  REQUIRE_MESSAGE(s != nullptr, error);
  return s;
}

std::string Url(const server::HttpServer& s) {
  return "https://127.0.0.1:" + std::to_string(s.port());
}

server::HttpResponse Echo(const server::HttpRequest& request) {
  server::HttpResponse response;
  // A large answer when asked: ?size=N bytes of a repeating pattern.
  auto it = request.query.find("size");
  if (it != request.query.end()) {
    const size_t size = std::stoul(it->second);
    response.body.resize(size);
    for (size_t i = 0; i < size; ++i) response.body[i] = static_cast<char>('a' + i % 26);
    response.content_type = "text/plain";
  } else {
    response.body = request.body.empty() ? "{}" : request.body;
  }
  return response;
}

}  // namespace

TEST_CASE("the self-signed certificate: made once, key private, names kept, key kept") {
  CertifiedDir d;
  struct stat st {};
  REQUIRE(stat(d.key.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  const std::string pem = testing::FileContents(d.cert);
  CHECK(Names(pem, "127.0.0.1"));
  CHECK(Names(pem, "localhost"));
  const std::string pin = Fingerprint(pem);
  CHECK(pin.rfind("SHA256:", 0) == 0);
  CHECK(pin.size() == 7 + 64);

  std::string note, error;
  REQUIRE(tls::EnsureSelfSignedCertificate(d.path, {"localhost", "127.0.0.1"}, &note, &error));
  CHECK(note.empty());  // nothing to do
  CHECK(testing::FileContents(d.cert) == pem);

  // A new name: issued again with the same key, the old names kept; junk is no name.
  REQUIRE(tls::EnsureSelfSignedCertificate(d.path, {"login2.cluster", "bad name", "10.0.0.7"},
                                           &note, &error));
  CHECK(note.find("did not name login2.cluster") != std::string::npos);
  const std::string again = testing::FileContents(d.cert);
  CHECK(again != pem);
  CHECK(Fingerprint(again) == pin);
  for (const char* name : {"login2.cluster", "10.0.0.7", "127.0.0.1", "localhost"})
    CHECK_MESSAGE(Names(again, name), name);
  CHECK_FALSE(Names(again, "bad name"));
}

TEST_CASE("a key others may read is refused; a key that is not PEM is refused") {
  CertifiedDir d;
  REQUIRE(chmod(d.key.c_str(), 0644) == 0);
  std::string note, error;
  CHECK_FALSE(tls::EnsureSelfSignedCertificate(d.path, {"localhost"}, &note, &error));
  CHECK(error.find("chmod 600") != std::string::npos);
  REQUIRE(chmod(d.key.c_str(), 0600) == 0);
  {
    std::ofstream(d.key) << "not a key\n";
  }
  CHECK_FALSE(tls::EnsureSelfSignedCertificate(d.path, {"localhost"}, &note, &error));
  CHECK(error.find("holds no PEM private key") != std::string::npos);
}

TEST_CASE("a site's certificate: its key must match; it is copied for clients to pin") {
  CertifiedDir a, b;
  testing::ScratchDir target("torc_tls_site");
  std::string error;
  CHECK_FALSE(tls::InstallSiteCertificate(target.path.string(), a.cert, b.key, &error));
  CHECK(error.find("is not the key of the certificate") != std::string::npos);
  CHECK_FALSE(tls::InstallSiteCertificate(target.path.string(), a.key, a.key, &error));
  CHECK(error.find("holds no PEM certificate") != std::string::npos);
  REQUIRE_MESSAGE(tls::InstallSiteCertificate(target.path.string(), a.cert, a.key, &error), error);
  CHECK(testing::FileContents(target.path.string() + "/server.crt") ==
        testing::FileContents(a.cert));
}

TEST_CASE("HTTPS: a pinned client is served; another pin is refused before anything is sent") {
  CertifiedDir d, other;
  std::atomic<int> calls{0};
  auto s = StartTls(d, [&](const server::HttpRequest& r) {
    ++calls;
    return Echo(r);
  });
  server::TlsTrust trust;
  trust.pinned_key = Fingerprint(testing::FileContents(d.cert));
  trust.pinned_from = d.cert;
  auto client = server::MakeHttpClient(Url(*s), "", 10s, trust);
  auto r = client->Request("POST", "/x", R"({"a":1})");
  CHECK(r.status == 200);
  CHECK(r.body == R"({"a":1})");
  CHECK(calls == 1);

  server::TlsTrust wrong;
  wrong.pinned_key = Fingerprint(testing::FileContents(other.cert));
  wrong.pinned_from = other.cert;
  auto refused = server::MakeHttpClient(Url(*s), "", 10s, wrong);
  r = refused->Request("POST", "/x", R"({"a":2})");
  CHECK(r.status == 0);
  CHECK(r.untrusted);
  CHECK(r.error.find("presented a certificate whose key is " + trust.pinned_key) !=
        std::string::npos);
  CHECK(r.error.find("not the key of " + other.cert) != std::string::npos);
  CHECK(calls == 1);  // the request never reached the handler

  // The CA way: the certificate itself as the "CA", its names checked against the URL's host.
  server::TlsTrust by_name;
  by_name.ca_file = d.cert;
  r = server::MakeHttpClient(Url(*s), "", 10s, by_name)->Request("GET", "/y");
  CHECK(r.status == 200);
  by_name.ca_file = other.cert;
  r = server::MakeHttpClient(Url(*s), "", 10s, by_name)->Request("GET", "/y");
  CHECK(r.status == 0);
  CHECK(r.error.find("is not signed by a CA of " + other.cert) != std::string::npos);
}

TEST_CASE("HTTPS: large bodies both ways, keep-alive, many clients at once") {
  CertifiedDir d;
  auto s = StartTls(d, Echo);
  server::TlsTrust trust;
  trust.pinned_key = Fingerprint(testing::FileContents(d.cert));
  trust.pinned_from = d.cert;
  auto client = server::MakeHttpClient(Url(*s), "", 30s, trust);
  // 8 MiB up (many TLS records, partial writes to the backend) and 8 MiB down (the guard's
  // writes to the TLS side that the socket does not take at once).
  std::string big(8 << 20, 'x');
  big.front() = '"';
  big.back() = '"';
  auto r = client->Request("POST", "/echo", big);
  CHECK(r.status == 200);
  CHECK(r.body == big);
  r = client->Request("GET", "/big?size=8388608");
  REQUIRE(r.status == 200);
  CHECK(r.body.size() == 8388608u);
  CHECK(r.body.substr(0, 3) == "abc");
  CHECK(r.body[8388607] == static_cast<char>('a' + 8388607 % 26));

  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      auto c = server::MakeHttpClient(Url(*s), "", 30s, trust);
      for (int i = 0; i < 20; ++i) {
        auto a = c->Request("GET", "/big?size=70000");
        if (a.status == 200 && a.body.size() == 70000) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 160);
}
