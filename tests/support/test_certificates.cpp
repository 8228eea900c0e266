#include "support/test_certificates.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <sstream>

namespace greylane::test {
namespace {

struct Issued {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
};

Issued Issue(const std::string& common_name, const Issued* issuer, bool is_ca,
             const std::string& alt_names, long serial) {
  Issued out;
  out.key = EVP_EC_gen("P-256");
  out.cert = X509_new();
  X509_set_version(out.cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(out.cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(out.cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(out.cert), 86400);
  X509_set_pubkey(out.cert, out.key);
  X509_NAME* name = X509_get_subject_name(out.cert);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Greylane tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  const Issued& signer = issuer ? *issuer : out;
  X509_set_issuer_name(out.cert, X509_get_subject_name(signer.cert));
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, signer.cert, out.cert, nullptr, nullptr, 0);
  auto add = [&](int nid, const std::string& value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (ext) {
      X509_add_ext(out.cert, ext, -1);
      X509_EXTENSION_free(ext);
    }
  };
  add(NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  if (is_ca) add(NID_key_usage, "critical,keyCertSign,cRLSign");
  if (!alt_names.empty()) add(NID_subject_alt_name, alt_names);
  X509_sign(out.cert, signer.key, EVP_sha256());
  return out;
}

void Free(Issued& i) {
  X509_free(i.cert);
  EVP_PKEY_free(i.key);
}

std::string Write(const std::string& path, X509* cert, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return {};
  if (cert) PEM_write_X509(f, cert);
  if (key) PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  return path;
}

}  // namespace

TestPki MakeTestPki(const std::string& dir, const std::string& client_common_name) {
  Issued ca = Issue("Greylane test CA", nullptr, true, "", 1);
  Issued other_ca = Issue("Someone else's CA", nullptr, true, "", 2);
  Issued server = Issue("localhost", &ca, false, "DNS:localhost,IP:127.0.0.1", 3);
  Issued client = Issue(client_common_name, &ca, false, "", 4);
  Issued stranger = Issue("stranger", &other_ca, false, "", 5);
  TestPki pki;
  pki.ca_cert = Write(dir + "/ca.pem", ca.cert, nullptr);
  pki.server_cert = Write(dir + "/server.pem", server.cert, nullptr);
  pki.server_key = Write(dir + "/server.key", nullptr, server.key);
  pki.client_cert = Write(dir + "/client.pem", client.cert, nullptr);
  pki.client_key = Write(dir + "/client.key", nullptr, client.key);
  pki.stranger_cert = Write(dir + "/stranger.pem", stranger.cert, nullptr);
  pki.stranger_key = Write(dir + "/stranger.key", nullptr, stranger.key);
  for (Issued* i : {&ca, &other_ca, &server, &client, &stranger}) Free(*i);
  return pki;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace greylane::test
