#pragma once
// Gathers one release's report for the console: the trail the session
// already holds, both chain verdicts, and the agent's per-minute history
// over the release, page by page, without blocking the GUI thread.
#include <QObject>
#include <QString>

#include "app/agent_session.h"
#include "common/release_report.h"

namespace greylane {

class ReleaseReportJob final : public QObject {
  Q_OBJECT

 public:
  explicit ReleaseReportJob(AgentSession& session, QObject* parent = nullptr);

  // The release in progress or the last one. False, with `error`, when the
  // trail holds none; else `finished` follows.
  bool Start(QString* error);
  const ReleaseReport& Report() const { return m_report; }

 signals:
  void finished();

 private:
  void OnPage(quint64 request, int code, const QString& message,
              const v1::QueryHistoryResponse& page);

  AgentSession& m_session;
  ReleaseReport m_report;
  int64_t m_to = 0;
  quint64 m_request = 0;
  bool m_running = false;
};

}  // namespace greylane
