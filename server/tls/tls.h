// The server's certificate: made and kept in the data directory, and named by the fingerprint of
// its public key, which clients pin (docs/security.md, "HTTPS"). OpenSSL stays behind this header.
#pragma once

#include <string>
#include <vector>

namespace torc::tls {

/// The certificate the server serves, in the data directory; clients pin its public key.
inline constexpr const char* kCertificateFile = "server.crt";
/// The key of the self-signed certificate torc makes (mode 0600).
inline constexpr const char* kKeyFile = "server.key";
/// The largest certificate or key file read (a chain of a few certificates fits).
inline constexpr long kMaxPemFileBytes = 256 << 10;

/// "SHA256:<64 hex digits>" of the first certificate's public key (its DER
/// SubjectPublicKeyInfo) in PEM text. False with *error when there is no certificate in it.
bool PublicKeyFingerprint(const std::string& pem, std::string* fingerprint, std::string* error);

/// The same fingerprint for a certificate in DER form (as a TLS handshake carries it); "" when
/// it cannot be read.
std::string DerKeyFingerprint(const std::string& der_certificate);

/// The DNS names and IP addresses in the first certificate's subjectAltName, in its order.
std::vector<std::string> CertificateNames(const std::string& pem);

/// Makes sure dir/server.key and dir/server.crt hold a key and a self-signed certificate for it
/// that names every entry of `names` (host names and IP addresses; others are skipped) and is
/// valid for at least 30 more days. The key is made once (mode 0600) and kept: a certificate is
/// issued again, with the same key (so the fingerprint clients pin stays), when it lacks a name,
/// is about to expire, or is not for that key (a site's certificate was served before); it then
/// names its old names too. *note says what was made, for the server to print.
bool EnsureSelfSignedCertificate(const std::string& dir, const std::vector<std::string>& names,
                                 std::string* note, std::string* error);

/// Checks that a site's certificate and key (--tls-cert/--tls-key) load and belong together,
/// and copies the certificate to dir/server.crt, where clients find what to pin.
bool InstallSiteCertificate(const std::string& dir, const std::string& cert_file,
                            const std::string& key_file, std::string* error);

/// OpenSSL's queued error messages joined with "; " ("" when none); the queue is cleared.
std::string OpenSslErrors();

/// Whether `host` is an IPv4 or IPv6 address (rather than a name).
bool IsIpAddress(const std::string& host);

}  // namespace torc::tls
