#pragma once
// The console's window: the fleet list (left), the release view of the
// selected agent (centre) and its audit trail (bottom). Rollback is one
// shortcut away from anywhere (Ctrl+Shift+R), then Enter.
#include <QMainWindow>

#include "app/agent_directory.h"
#include "app/credential_store.h"
#include "app/fleet_memory.h"
#include "app/fleet_model.h"

class QAction;
class QDockWidget;
class QShortcut;
class QSystemTrayIcon;
class QLabel;
class QListView;

namespace greylane {

class AuditTrailView;
class ReleaseView;

class MainWindow final : public QMainWindow {
  Q_OBJECT

 public:
  MainWindow(FleetModel& fleet, AgentDirectory& directory, CredentialStore& credentials,
             QWidget* parent = nullptr);
  ~MainWindow() override;

  // Adds an agent; persist: remember it (not its token) in settings.
  AgentSession* AddAgent(const AgentEndpoint& endpoint, bool persist);
  // Re-adds the agents saved in settings, with tokens from the keychain.
  void RestoreSavedAgents();
  void Select(int row);
  void SetDark(bool dark);
  // A status-bar message that never runs under the identity label.
  void ShowStatus(const QString& text, int timeout_ms = 0);
  void RestoreWindowState();
  // The default size, bounded by the screen available (1400x950 at most).
  void FitToScreen();

  ReleaseView* Release() const { return m_release; }
  AuditTrailView* AuditView() const { return m_audit; }
  QListView* FleetList() const { return m_list; }
  QLabel* IdentityLabel() const { return m_identity; }
  QAction* RollbackAction() const { return m_rollback_action; }
  AgentSession* Selected() const;

 public:
  // Asks where, gathers the release's history, then writes the PDF and an
  // HTML file beside it. `path` given: no dialog (tests).
  void ExportReleaseReport(const QString& path = {});

 signals:
  // An agent's analysis rolled its candidate back (also shown in the tray).
  void automaticRollbackAnnounced(const QString& agent, const QString& headline);
  void releaseReportWritten(const QString& pdf, const QString& html);

 protected:
  void closeEvent(QCloseEvent* event) override;

 private:
  void BuildMenus();
  void OnSelectionChanged();
  void RefreshVerdicts();
  void RefreshStatus();
  // Rollback, Promote and Apply enabled only for an operator, else disabled
  // with the reason (and the rollback keys say it).
  void RefreshActions();
  void OnAgentAdded(AgentSession* session);
  void ShowConnectDialog();
  void RemoveSelected();
  void ExportAudit(const QString& format);

  FleetModel& m_fleet;
  AgentDirectory& m_directory;
  CredentialStore& m_credentials;
  ReleaseView* m_release;
  QDockWidget* m_audit_dock = nullptr;
  AuditTrailView* m_audit;
  QListView* m_list;
  FleetTroubleOrder* m_order;  // the list shows the fleet worst first
  QLabel* m_identity;
  QLabel* m_keychain;
  QAction* m_rollback_action = nullptr;
  QAction* m_promote_action = nullptr;
  QAction* m_rollout_action = nullptr;
  QAction* m_drill_action = nullptr;
  QSystemTrayIcon* m_tray = nullptr;  // null where the desktop has no tray
  QAction* m_apply_action = nullptr;
  QShortcut* m_refused_rollback_keys = nullptr;
  QAction* m_dark_action = nullptr;
  FleetMemory* m_memory;  // adding, restoring and forgetting agents
  bool m_dark = false;
  QString m_wanted_selection;  // the agent selected when the console last ran
  bool m_auto_selecting = false;
};

}  // namespace greylane
