// Certificates on OpenSSL 3: fingerprints, names, and the self-signed certificate of a data
// directory (tls.h).
#include "server/tls/tls.h"

#include <arpa/inet.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <cstdio>
#include <memory>

#include "server/util/data_dir.h"
#include "server/util/small_files.h"

namespace torc::tls {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Names = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES, GENERAL_NAMES_free>>;

/// How long a self-signed certificate is valid, and how close to its end it is issued again.
constexpr long kValidDays = 3650;
constexpr long kRenewDays = 30;


Cert ReadCertificate(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Cert cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  return cert;
}

Key ReadKey(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Key key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  return key;
}

std::string Hex(const unsigned char* data, size_t size) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 15]);
  }
  return out;
}

std::string KeyFingerprint(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int length = i2d_PUBKEY(key, &der);
  if (length <= 0) return "";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_length = 0;
  const bool ok = EVP_Digest(der, static_cast<size_t>(length), digest, &digest_length,
                             EVP_sha256(), nullptr) == 1;
  OPENSSL_free(der);
  return ok ? "SHA256:" + Hex(digest, digest_length) : "";
}

/// A name as it goes into a certificate: an IP address, or a host name of letters, digits,
/// '-' and '.' (anything else is no name a client could ask for).
bool UsableName(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  if (IsIpAddress(name)) return true;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '.';
  });
}

bool AddName(GENERAL_NAMES* names, const std::string& name) {
  GENERAL_NAME* entry = GENERAL_NAME_new();
  if (entry == nullptr) return false;
  unsigned char address[16];
  if (inet_pton(AF_INET, name.c_str(), address) == 1 ||
      inet_pton(AF_INET6, name.c_str(), address) == 1) {
    const int size = name.find(':') == std::string::npos ? 4 : 16;
    ASN1_OCTET_STRING* ip = ASN1_OCTET_STRING_new();
    if (ip == nullptr || !ASN1_OCTET_STRING_set(ip, address, size)) {
      ASN1_OCTET_STRING_free(ip);
      GENERAL_NAME_free(entry);
      return false;
    }
    GENERAL_NAME_set0_value(entry, GEN_IPADD, ip);
  } else {
    ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
    if (dns == nullptr || !ASN1_STRING_set(dns, name.data(), static_cast<int>(name.size()))) {
      ASN1_IA5STRING_free(dns);
      GENERAL_NAME_free(entry);
      return false;
    }
    GENERAL_NAME_set0_value(entry, GEN_DNS, dns);
  }
  return sk_GENERAL_NAME_push(names, entry) > 0;
}

bool AddExtension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  const bool ok = ext != nullptr && X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

/// A certificate for `key` naming `names`, signed by the key itself; null with *error.
Cert IssueCertificate(EVP_PKEY* key, const std::vector<std::string>& names, std::string* error) {
  Cert cert(X509_new());
  Names alt(GENERAL_NAMES_new());
  std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>> serial(BN_new());
  bool ok = cert && alt && serial && X509_set_version(cert.get(), 2) == 1 &&
            BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
            BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) != nullptr &&
            // An hour back: clocks of nodes differ.
            X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr &&
            X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValidDays * 86400) != nullptr &&
            X509_set_pubkey(cert.get(), key) == 1;
  if (ok) {
    X509_NAME* subject = X509_get_subject_name(cert.get());
    const std::string cn = names.empty() ? "torc server" : names.front().substr(0, 64);
    ok = X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC,
                                    reinterpret_cast<const unsigned char*>("torc"), -1, -1,
                                    0) == 1 &&
         X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                    reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                    0) == 1 &&
         X509_set_issuer_name(cert.get(), subject) == 1;
  }
  for (const std::string& name : names) ok = ok && AddName(alt.get(), name);
  ok = ok && X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, alt.get(), 0, 0) == 1 &&
       AddExtension(cert.get(), NID_basic_constraints, "critical,CA:FALSE") &&
       AddExtension(cert.get(), NID_ext_key_usage, "serverAuth") &&
       AddExtension(cert.get(), NID_subject_key_identifier, "hash") &&
       X509_sign(cert.get(), key, EVP_sha256()) > 0;
  if (!ok) {
    *error = "cannot make a certificate: " + OpenSslErrors();
    return nullptr;
  }
  return cert;
}

std::string CertificatePem(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return "";
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string KeyPem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return "";
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

/// Reads a PEM file that may be missing (*text then empty). False with *error when it exists
/// but cannot be read.
bool ReadIfPresent(const std::string& path, const std::string& what, std::string* text,
                   std::string* error) {
  text->clear();
  if (access(path.c_str(), F_OK) != 0) return true;
  return util::ReadSmallFile(path, kMaxPemFileBytes, what, text, error);
}

}  // namespace

std::string OpenSslErrors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char line[256];
    ERR_error_string_n(code, line, sizeof(line));
    if (!text.empty()) text += "; ";
    text += line;
  }
  return text;
}

bool IsIpAddress(const std::string& host) {
  unsigned char address[16];
  return inet_pton(AF_INET, host.c_str(), address) == 1 ||
         inet_pton(AF_INET6, host.c_str(), address) == 1;
}

bool PublicKeyFingerprint(const std::string& pem, std::string* fingerprint, std::string* error) {
  Cert cert = ReadCertificate(pem);
  if (!cert) {
    *error = "no PEM certificate in it";
    return false;
  }
  *fingerprint = KeyFingerprint(X509_get0_pubkey(cert.get()));
  if (fingerprint->empty()) {
    *error = "its public key cannot be read";
    return false;
  }
  return true;
}

std::string DerKeyFingerprint(const std::string& der_certificate) {
  const auto* data = reinterpret_cast<const unsigned char*>(der_certificate.data());
  Cert cert(d2i_X509(nullptr, &data, static_cast<long>(der_certificate.size())));
  ERR_clear_error();
  return cert ? KeyFingerprint(X509_get0_pubkey(cert.get())) : "";
}

std::vector<std::string> CertificateNames(const std::string& pem) {
  std::vector<std::string> out;
  Cert cert = ReadCertificate(pem);
  if (!cert) return out;
  Names names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* dns = name->d.dNSName;
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                       static_cast<size_t>(ASN1_STRING_length(dns)));
    } else if (name->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = name->d.iPAddress;
      char text[INET6_ADDRSTRLEN] = "";
      const int length = ASN1_STRING_length(ip);
      if (length == 4 || length == 16)
        inet_ntop(length == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(ip), text,
                  sizeof(text));
      out.emplace_back(text);
    }
  }
  return out;
}

bool EnsureSelfSignedCertificate(const std::string& dir, const std::vector<std::string>& names,
                                 std::string* note, std::string* error) {
  note->clear();
  const std::string key_path = dir + "/" + kKeyFile, cert_path = dir + "/" + kCertificateFile;
  std::string key_text, cert_text;
  mode_t key_mode = 0;
  if (access(key_path.c_str(), F_OK) == 0 &&
      (!util::ReadSmallFile(key_path, kMaxPemFileBytes, "TLS key", &key_text, error, &key_mode) ||
       util::RefuseShared(key_path, key_mode, "TLS key", error)))
    return false;
  Key key;
  if (!key_text.empty()) {
    key = ReadKey(key_text);
    if (!key) {
      *error = "the TLS key " + key_path +
               " holds no PEM private key; move it away to have a new one made (clients then "
               "need the new " + kCertificateFile + ")";
      return false;
    }
  } else {
    key.reset(EVP_EC_gen("P-256"));
    if (!key) {
      *error = "cannot make a TLS key: " + OpenSslErrors();
      return false;
    }
    // Written only where none exists: two servers starting on one data dir keep one key.
    bool exists = false;
    if (!util::CreateFileAtomically(key_path, KeyPem(key.get()), 0600, &exists, error)) {
      if (!exists) return false;
      return EnsureSelfSignedCertificate(dir, names, note, error);
    }
    *note = "made a TLS key (" + key_path + ")";
  }

  std::vector<std::string> wanted;
  for (const std::string& n : names)
    if (UsableName(n) && std::find(wanted.begin(), wanted.end(), n) == wanted.end())
      wanted.push_back(n);
  if (!ReadIfPresent(cert_path, "TLS certificate", &cert_text, error)) return false;
  Cert cert = cert_text.empty() ? nullptr : ReadCertificate(cert_text);
  bool reissue = !cert || X509_check_private_key(cert.get(), key.get()) != 1;
  ERR_clear_error();
  std::string why = cert ? "it is for another key" : "there was none";
  if (!reissue) {
    const std::vector<std::string> has = CertificateNames(cert_text);
    for (const std::string& n : has)
      if (std::find(wanted.begin(), wanted.end(), n) == wanted.end()) wanted.push_back(n);
    for (const std::string& n : wanted)
      if (std::find(has.begin(), has.end(), n) == has.end()) {
        reissue = true;
        why = "it did not name " + n;
        break;
      }
    time_t soon = time(nullptr) + kRenewDays * 86400;
    if (!reissue && X509_cmp_time(X509_get0_notAfter(cert.get()), &soon) <= 0) {
      reissue = true;
      why = "it expires within " + std::to_string(kRenewDays) + " days";
    }
  }
  if (!reissue) return true;
  Cert fresh = IssueCertificate(key.get(), wanted, error);
  if (!fresh) return false;
  if (!util::WriteFileAtomically(cert_path, CertificatePem(fresh.get()), 0644, error))
    return false;
  const std::string made = "made a self-signed TLS certificate " + cert_path + " (" + why + ")";
  *note = note->empty() ? made : *note + "; " + made;
  return true;
}

bool InstallSiteCertificate(const std::string& dir, const std::string& cert_file,
                            const std::string& key_file, std::string* error) {
  std::string cert_text, key_text;
  if (!util::ReadSmallFile(cert_file, kMaxPemFileBytes, "TLS certificate (--tls-cert)",
                           &cert_text, error) ||
      !util::ReadSmallFile(key_file, kMaxPemFileBytes, "TLS key (--tls-key)", &key_text, error))
    return false;
  Cert cert = ReadCertificate(cert_text);
  if (!cert) {
    *error = "--tls-cert " + cert_file + " holds no PEM certificate";
    return false;
  }
  Key key = ReadKey(key_text);
  if (!key) {
    *error = "--tls-key " + key_file + " holds no PEM private key (an encrypted key is not read)";
    return false;
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    *error = "--tls-key " + key_file + " is not the key of the certificate in --tls-cert " +
             cert_file;
    return false;
  }
  return util::WriteFileAtomically(dir + "/" + kCertificateFile, cert_text, 0644, error);
}

}  // namespace torc::tls
