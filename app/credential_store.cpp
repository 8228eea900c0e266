#include "app/credential_store.h"

#include <qt6keychain/keychain.h>
#include <QPointer>
#include <QTimer>

#include <memory>

namespace greylane {
namespace {
// Runs one keychain job and calls `done(error, detail, job)` exactly once:
// when the job finishes, or with OtherError when it has not after timeout.
template <typename Job, typename Done>
void RunJob(QObject* owner, Job* job, Done done) {
  auto finished = std::make_shared<bool>(false);
  job->setAutoDelete(true);
  QObject::connect(job, &QKeychain::Job::finished, owner, [finished, done](QKeychain::Job* j) {
    if (std::exchange(*finished, true)) return;
    done(j->error(), j->errorString(), static_cast<Job*>(j));
  });
  QTimer::singleShot(CredentialStore::kTimeoutMs, owner, [finished, done] {
    if (std::exchange(*finished, true)) return;
    done(QKeychain::OtherError,
         QObject::tr("the keychain did not answer within %1 s")
             .arg(CredentialStore::kTimeoutMs / 1000),
         static_cast<Job*>(nullptr));
  });
  job->start();
}

bool ServiceMissing(QKeychain::Error error) {
  return error == QKeychain::NoBackendAvailable || error == QKeychain::NotImplemented ||
         error == QKeychain::OtherError || error == QKeychain::AccessDenied ||
         error == QKeychain::AccessDeniedByUser;
}
}  // namespace

CredentialStore::CredentialStore(QString service, QObject* parent)
    : QObject(parent), m_service(std::move(service)) {}

void CredentialStore::SetMode(Mode mode, const QString& detail) {
  if (mode == m_mode && detail == m_detail) return;
  m_mode = mode;
  m_detail = detail;
  emit modeChanged(mode, detail);
}

void CredentialStore::Fallback(const QString& why) {
  SetMode(Mode::MemoryOnly, tr("tokens are kept in memory for this run only: %1").arg(why));
}

void CredentialStore::UseMemoryOnly(const QString& why) {
  Fallback(why);
}

void CredentialStore::Save(const QString& agent, const QString& token) {
  m_memory.insert(agent, token);
  if (m_mode == Mode::MemoryOnly) {
    emit saved(agent, false);
    return;
  }
  auto* job = new QKeychain::WritePasswordJob(m_service);
  job->setKey(agent);
  job->setTextData(token);
  RunJob(this, job, [this, agent](QKeychain::Error error, const QString& detail, auto*) {
    if (error == QKeychain::NoError) {
      SetMode(Mode::Keychain, tr("tokens are stored in the desktop keychain"));
      emit saved(agent, true);
      return;
    }
    Fallback(ServiceMissing(error) ? tr("no keychain service answered (%1)").arg(detail)
                                   : tr("the keychain refused to store it (%1)").arg(detail));
    emit saved(agent, false);
  });
}

void CredentialStore::Load(const QString& agent) {
  if (m_memory.contains(agent) || m_mode == Mode::MemoryOnly) {
    const bool found = m_memory.contains(agent);
    QMetaObject::invokeMethod(
        this, [this, agent, found] { emit loaded(agent, m_memory.value(agent), found); },
        Qt::QueuedConnection);
    return;
  }
  auto* job = new QKeychain::ReadPasswordJob(m_service);
  job->setKey(agent);
  RunJob(this, job,
         [this, agent](QKeychain::Error error, const QString& detail,
                       QKeychain::ReadPasswordJob* done) {
           if (error == QKeychain::NoError && done) {
             SetMode(Mode::Keychain, tr("tokens are stored in the desktop keychain"));
             m_memory.insert(agent, done->textData());
             emit loaded(agent, done->textData(), true);
             return;
           }
           if (error == QKeychain::EntryNotFound) {
             SetMode(Mode::Keychain, tr("tokens are stored in the desktop keychain"));
           } else if (ServiceMissing(error)) {
             Fallback(tr("no keychain service answered (%1)").arg(detail));
           }
           emit loaded(agent, {}, false);
         });
}

void CredentialStore::Forget(const QString& agent) {
  m_memory.remove(agent);
  if (m_mode == Mode::MemoryOnly) return;
  auto* job = new QKeychain::DeletePasswordJob(m_service);
  job->setKey(agent);
  RunJob(this, job, [](QKeychain::Error, const QString&, auto*) {});
}

}  // namespace greylane
