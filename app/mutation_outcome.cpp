#include "app/mutation_outcome.h"

#include <QObject>

#include <grpcpp/support/status.h>

#include "app/fleet_model.h"
#include "common/audit_vocabulary.h"

namespace greylane {

bool OutcomeUnknown(int grpc_code, const QString& message, double elapsed_ms) {
  switch (grpc_code) {
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
      return true;
    case grpc::StatusCode::UNAVAILABLE:
      // "not connected" is the console's own answer: nothing was sent.
      return !(elapsed_ms == 0 && message == QObject::tr("not connected"));
    default:
      return false;
  }
}

ChangeVerdict JudgeFromFreshState(const SentChange& sent, const v1::AgentState& fresh) {
  const v1::StateChange& last = fresh.last_change();
  const bool ours = last.audit_sequence() > sent.sequence_before &&
                    QString::fromStdString(last.action()) == sent.action &&
                    QString::fromStdString(last.actor()) == sent.identity;
  const QString title = QString::fromStdString(AuditActionTitle(sent.action.toStdString()));
  const QString now = QObject::tr("the split is now %1 at revision %2")
                          .arg(SplitText(fresh))
                          .arg(fresh.split().revision());
  if (ours) {
    return {true,
            QObject::tr("%1 was applied (confirmed by re-reading the state: %2)").arg(title, now)};
  }
  if (sent.action == QLatin1String("rollback") && fresh.split().candidate_basis_points() == 0 &&
      fresh.phase() == v1::ROLLED_BACK) {
    // Someone's rollback is in force: what the sender wanted is true.
    return {true, QObject::tr("the agent is rolled back (%1), by %2")
                      .arg(now, QString::fromStdString(last.actor()))};
  }
  if (fresh.split().revision() == sent.revision_before) {
    return {false, QObject::tr("%1 was NOT applied: nothing changed since it was sent (%2); "
                               "send it again")
                       .arg(title, now)};
  }
  return {false,
          QObject::tr("%1 was not applied as the last change: %2 did %3 since (%4); check the "
                      "audit trail")
              .arg(title, QString::fromStdString(last.actor()),
                   QString::fromStdString(AuditActionTitle(last.action())), now)};
}

}  // namespace greylane
