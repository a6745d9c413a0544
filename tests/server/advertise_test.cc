// The URL a server advertises (server/advertise.h): what compute nodes are told to use.
#include "server/advertise.h"

#include <doctest/doctest.h>

using namespace torc::server;

namespace {

std::string Advertised(const std::string& host, const std::string& flag, const HostFacts& f,
                       std::string* note = nullptr) {
  std::string url, n, error;
  REQUIRE_MESSAGE(AdvertisedUrl(host, 8080, flag, f, &url, &n, &error), error);
  if (note) *note = n;
  return url;
}

}  // namespace

TEST_CASE("a wildcard address advertises the host's name when it resolves off loopback") {
  HostFacts f{"login1.cluster", {"127.0.1.1", "10.0.0.5"}, {"127.0.0.1", "10.0.0.5"}};
  std::string note;
  CHECK(Advertised("0.0.0.0", "", f, &note) == "http://login1.cluster:8080");
  CHECK(note.find("http://login1.cluster:8080") != std::string::npos);
  CHECK(note.find("10.0.0.5") != std::string::npos);
  CHECK(Advertised("::", "", f) == "http://login1.cluster:8080");
}

TEST_CASE("...else the first non-loopback interface address, with a warning") {
  // Debian's /etc/hosts maps the host name to 127.0.1.1: that name is no use to a node.
  HostFacts f{"login1", {"127.0.1.1"}, {"127.0.0.1", "::1", "fe80::1", "169.254.3.4",
                                        "2001:db8::7", "192.168.7.2", "10.1.1.1"}};
  std::string note;
  CHECK(Advertised("0.0.0.0", "", f, &note) == "http://192.168.7.2:8080");
  CHECK(note.find("first non-loopback interface address") != std::string::npos);
  CHECK(Advertised("::", "", f) == "http://[2001:db8::7]:8080");
  HostFacts lonely{"box", {}, {"127.0.0.1", "::1"}};
  CHECK(Advertised("0.0.0.0", "", lonely, &note) == "http://127.0.0.1:8080");
  CHECK(note.find("other machines cannot use") != std::string::npos);
}

TEST_CASE("--host ADDR advertises ADDR; --advertise-url wins, with the port added if absent") {
  HostFacts f{"login1.cluster", {"10.0.0.5"}, {"10.0.0.5"}};
  std::string note;
  CHECK(Advertised("10.0.0.5", "", f, &note) == "http://10.0.0.5:8080");
  CHECK(note.empty());
  CHECK(Advertised("127.0.0.1", "", f) == "http://127.0.0.1:8080");
  CHECK(Advertised("fd00::5", "", f) == "http://[fd00::5]:8080");
  CHECK(Advertised("0.0.0.0", "http://10.9.9.1", f) == "http://10.9.9.1:8080");
  CHECK(Advertised("0.0.0.0", "http://proxy.site:443/", f) == "http://proxy.site:443");
  CHECK(Advertised("0.0.0.0", "https://[fd00::9]", f) == "https://[fd00::9]:8080");
  CHECK(Advertised("0.0.0.0", "http://[fd00::9]:99", f) == "http://[fd00::9]:99");
  std::string url, error;
  for (const char* bad : {"login1:8080", "ftp://x", "http://", "http://a/b"}) {
    CHECK_MESSAGE(!AdvertisedUrl("0.0.0.0", 8080, bad, f, &url, &note, &error), bad);
    CHECK(error.find("--advertise-url") != std::string::npos);
  }
}

TEST_CASE("a TLS server advertises https:// and refuses an http:// --advertise-url") {
  HostFacts f{"login1.cluster", {"10.0.0.5"}, {"10.0.0.5"}};
  std::string url, note, error;
  REQUIRE(AdvertisedUrl("0.0.0.0", 8080, "", f, &url, &note, &error, true));
  CHECK(url == "https://login1.cluster:8080");
  REQUIRE(AdvertisedUrl("10.0.0.5", 8080, "", f, &url, &note, &error, true));
  CHECK(url == "https://10.0.0.5:8080");
  REQUIRE(AdvertisedUrl("0.0.0.0", 8080, "https://login1", f, &url, &note, &error, true));
  CHECK(url == "https://login1:8080");
  CHECK_FALSE(AdvertisedUrl("0.0.0.0", 8080, "http://login1", f, &url, &note, &error, true));
  CHECK(error.find("write https://login1") != std::string::npos);
  // A plain server behind a TLS proxy may advertise the proxy's https:// address.
  REQUIRE(AdvertisedUrl("127.0.0.1", 8080, "https://proxy:443", f, &url, &note, &error, false));
  CHECK(url == "https://proxy:443");
}

TEST_CASE("loopback and wildcard hosts; the host of a URL") {
  for (const char* h : {"127.0.0.1", "127.0.1.1", "localhost", "::1", "[::1]"})
    CHECK_MESSAGE(IsLoopbackHost(h), h);
  for (const char* h : {"10.0.0.1", "login1", "0.0.0.0"}) CHECK_MESSAGE(!IsLoopbackHost(h), h);
  for (const char* h : {"0.0.0.0", "::", "", "*"}) CHECK_MESSAGE(IsWildcardHost(h), h);
  CHECK(UrlHost("http://127.0.0.1:8080") == "127.0.0.1");
  CHECK(UrlHost("http://[::1]:8080/x") == "::1");
  CHECK(UrlHost("https://login1.cluster") == "login1.cluster");
  CHECK(UrlHost("nonsense") == "");
}
