#include "ui/main_window.h"

#include "app/release_report_job.h"
#include "app/release_report_pdf.h"
#include "common/files.h"

#include <QGuiApplication>
#include <QScreen>
#include <QShortcut>

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDockWidget>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QMenuBar>
#include <QMessageBox>
#include <QPushButton>
#include <QStatusBar>
#include <QSystemTrayIcon>
#include <QVBoxLayout>

#include "ui/connect_dialog.h"
#include "ui/file_names.h"
#include "ui/release_view.h"
#include "ui/rollback_keys.h"
#include "ui/theme.h"
#include "widgets/audit_trail_view.h"
#include "widgets/colour_roles.h"
#include "widgets/status_list_delegate.h"

// Q_INIT_RESOURCE must be called outside any namespace.
static void InitResources() {
  Q_INIT_RESOURCE(greylane);
}

namespace greylane {

MainWindow::MainWindow(FleetModel& fleet, AgentDirectory& directory, CredentialStore& credentials,
                       QWidget* parent)
    : QMainWindow(parent), m_fleet(fleet), m_directory(directory), m_credentials(credentials) {
  InitResources();
  setWindowTitle(tr("Greylane console"));
  setWindowIcon(QIcon(QStringLiteral(":/icons/greylane.svg")));
  setObjectName(QStringLiteral("MainWindow"));

  m_release = new ReleaseView;
  setCentralWidget(m_release);

  auto* fleet_panel = new QWidget;
  auto* fleet_layout = new QVBoxLayout(fleet_panel);
  fleet_layout->setContentsMargins(4, 4, 4, 4);
  m_list = new QListView;
  m_order = new FleetTroubleOrder(m_fleet, this);
  m_list->setModel(m_order);
  m_list->setItemDelegate(new StatusListDelegate(FleetModel::kLinkRole, FleetModel::kSummaryRole,
                                                 FleetModel::kTroubleRole, m_list));
  m_list->setAccessibleName(tr("Agents"));
  m_list->setUniformItemSizes(true);
  fleet_layout->addWidget(m_list, 1);
  auto* fleet_buttons = new QHBoxLayout;
  auto* add = new QPushButton(QIcon(QStringLiteral(":/icons/add.svg")), tr("Add…"));
  auto* remove = new QPushButton(QIcon(QStringLiteral(":/icons/remove.svg")), tr("Remove"));
  fleet_buttons->addWidget(add);
  fleet_buttons->addWidget(remove);
  fleet_layout->addLayout(fleet_buttons);
  auto* fleet_dock = new QDockWidget(tr("Agents"));
  fleet_dock->setObjectName(QStringLiteral("AgentsDock"));
  fleet_dock->setWidget(fleet_panel);
  fleet_dock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable);
  addDockWidget(Qt::LeftDockWidgetArea, fleet_dock);

  m_audit = new AuditTrailView(AuditTrailModel::kOutcomeRole);
  m_audit_dock = new QDockWidget(tr("Audit trail"));
  m_audit_dock->setObjectName(QStringLiteral("AuditDock"));
  m_audit_dock->setWidget(m_audit);
  m_audit_dock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable);
  addDockWidget(Qt::BottomDockWidgetArea, m_audit_dock);

  m_identity = new QLabel;
  m_keychain = new QLabel;
  statusBar()->addPermanentWidget(m_identity);
  statusBar()->addPermanentWidget(m_keychain);

  connect(add, &QPushButton::clicked, this, &MainWindow::ShowConnectDialog);
  connect(remove, &QPushButton::clicked, this, &MainWindow::RemoveSelected);
  connect(m_list->selectionModel(), &QItemSelectionModel::currentChanged, this,
          &MainWindow::OnSelectionChanged);
  connect(m_audit, &AuditTrailView::verifyRequested, this, [this] {
    if (AgentSession* s = Selected()) s->RequestVerify();
  });
  connect(m_audit, &AuditTrailView::exportRequested, this, &MainWindow::ExportAudit);
  connect(m_release, &ReleaseView::actionReported, this,
          [this](const QString& text) { ShowStatus(text, 15000); });
  connect(&m_credentials, &CredentialStore::modeChanged, this, [this] { RefreshStatus(); });
  m_memory = new FleetMemory(m_fleet, m_directory, m_credentials, this);
  connect(m_memory, &FleetMemory::added, this, &MainWindow::OnAgentAdded);
  connect(m_memory, &FleetMemory::tokenMissing, this, [this](const QString& agent) {
    ShowStatus(tr("No token stored for %1: remove it and add it again with its token").arg(agent),
               15000);
  });
  m_wanted_selection = m_directory.LastSelected();
  BuildMenus();
  if (QSystemTrayIcon::isSystemTrayAvailable()) {
    m_tray = new QSystemTrayIcon(QIcon(QStringLiteral(":/icons/greylane.svg")), this);
    m_tray->setToolTip(tr("Greylane console"));
    m_tray->show();
  }
  RefreshStatus();
  FitToScreen();
}

void MainWindow::FitToScreen() {
  // 1400x950 where there is room; on a smaller screen (a laptop at
  // 1280x720, a projector at 1024x768) the available area, so no control
  // starts off-screen.
  const QScreen* screen = this->screen() ? this->screen() : QGuiApplication::primaryScreen();
  const QRect available = screen ? screen->availableGeometry() : QRect(0, 0, 1400, 950);
  const QSize wanted(std::min(1400, available.width()), std::min(950, available.height()));
  resize(wanted);
  if (screen && !available.contains(frameGeometry())) move(available.topLeft());
  // The charts get the height; the trail keeps about a fifth (it scrolls).
  resizeDocks({m_audit_dock}, {std::max(130, wanted.height() / 5)}, Qt::Vertical);
}

MainWindow::~MainWindow() {
  m_release->SetSession(nullptr);
  m_audit->SetModel(nullptr);
}

void MainWindow::BuildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  QAction* connect_action =
      file->addAction(QIcon(QStringLiteral(":/icons/add.svg")), tr("&Connect to agent…"), this,
                      &MainWindow::ShowConnectDialog);
  connect_action->setShortcut(QKeySequence::New);
  file->addAction(tr("Export audit trail as &CSV…"), this, [this] { ExportAudit("csv"); });
  file->addAction(tr("Export audit trail as &JSON…"), this, [this] { ExportAudit("json"); });
  file->addAction(tr("Release &report (PDF and HTML)…"), this, [this] { ExportReleaseReport(); });
  file->addSeparator();
  QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
  quit->setShortcut(QKeySequence::Quit);

  QMenu* release = menuBar()->addMenu(tr("&Release"));
  m_rollback_action =
      release->addAction(QIcon(QStringLiteral(":/icons/rollback.svg")), tr("&Rollback…"), m_release,
                         &ReleaseView::RequestRollback);
  m_rollback_action->setShortcut(RollbackKeys::kKeys);
  m_rollback_action->setShortcutContext(Qt::ApplicationShortcut);
  m_promote_action = release->addAction(QIcon(QStringLiteral(":/icons/promote.svg")),
                                        tr("&Promote…"), m_release, &ReleaseView::RequestPromote);
  m_apply_action =
      release->addAction(QIcon(QStringLiteral(":/icons/apply.svg")), tr("&Apply proposed split…"),
                         m_release, &ReleaseView::RequestApply);
  m_apply_action->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return));
  release->addSeparator();
  m_rollout_action =
      release->addAction(tr("Start r&ollout plan…"), m_release, &ReleaseView::RequestStartRollout);
  m_drill_action = release->addAction(tr("Fault &drill…"), m_release, &ReleaseView::RequestDrill);
  release->addSeparator();
  release->setToolTipsVisible(true);
  // While the actions are disabled (a viewer, no agent) the keys still
  // answer, with the reason, instead of doing nothing.
  m_refused_rollback_keys = new QShortcut(RollbackKeys::kKeys, this);
  m_refused_rollback_keys->setContext(Qt::ApplicationShortcut);
  m_refused_rollback_keys->setEnabled(false);
  connect(m_refused_rollback_keys, &QShortcut::activated, this,
          [this] { ShowStatus(m_rollback_action->toolTip(), 15000); });
  QAction* retry = release->addAction(QIcon(QStringLiteral(":/icons/retry.svg")),
                                      tr("Retry &connection now"), this, [this] {
                                        if (AgentSession* s = Selected()) s->Client().RetryNow();
                                      });
  retry->setShortcut(QKeySequence(Qt::Key_F5));
  QAction* verify = release->addAction(QIcon(QStringLiteral(":/icons/verify.svg")),
                                       tr("&Verify audit chain"), this, [this] {
                                         if (AgentSession* s = Selected()) s->RequestVerify();
                                       });
  verify->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));

  QMenu* view = menuBar()->addMenu(tr("&View"));
  for (const auto& [label, seconds, key] :
       {std::tuple{tr("&1 minute"), 60, Qt::Key_1}, std::tuple{tr("&5 minutes"), 300, Qt::Key_5},
        std::tuple{tr("15 m&inutes"), 900, Qt::Key_9},
        // From the agent's per-minute history.
        std::tuple{tr("1 &hour"), 3600, Qt::Key_2}, std::tuple{tr("&6 hours"), 6 * 3600, Qt::Key_6},
        std::tuple{tr("2&4 hours"), 24 * 3600, Qt::Key_4},
        std::tuple{tr("&Whole release"), int{ReleaseView::kWholeRelease}, Qt::Key_0}}) {
    QAction* a =
        view->addAction(label, this, [this, s = seconds] { m_release->SetWindowSeconds(s); });
    a->setShortcut(QKeySequence(Qt::CTRL | key));
  }
  QAction* pause = view->addAction(tr("&Pause charts"), this,
                                   [this] { m_release->SetPaused(!m_release->Paused()); });
  pause->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_P));
  view->addSeparator();
  m_dark_action = view->addAction(tr("&Dark palette"));
  m_dark_action->setCheckable(true);
  connect(m_dark_action, &QAction::toggled, this, &MainWindow::SetDark);
  QAction* filter = view->addAction(tr("&Filter audit trail"), this,
                                    [this] { m_audit->findChild<QLineEdit*>()->setFocus(); });
  filter->setShortcut(QKeySequence::Find);

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&Keyboard shortcuts"), this, [this] {
    // A table, not spaces: the dialog's font is proportional.
    const std::pair<const char*, QString> rows[] = {
        {"Ctrl+Shift+R", tr("roll back the selected agent (then Enter)")},
        {"Ctrl+Return", tr("apply the proposed split")},
        {"Ctrl+N", tr("connect to an agent")},
        {"F5", tr("retry the connection now")},
        {"Ctrl+E", tr("verify the audit chain")},
        {"Ctrl+F", tr("filter the audit trail")},
        {"Ctrl+1/5/9", tr("chart window 1, 5 or 15 minutes (live seconds)")},
        {"Ctrl+2/6/4/0", tr("chart window 1 h, 6 h, 24 h or the whole release (minutes)")},
        {"Ctrl+P", tr("pause or resume the charts")},
    };
    QString table = QStringLiteral("<table cellspacing='4'>");
    for (const auto& [keys, what] : rows) {
      table += QStringLiteral("<tr><td><b>%1</b></td><td>%2</td></tr>")
                   .arg(QLatin1String(keys), what.toHtmlEscaped());
    }
    table += QStringLiteral("</table>");
    QMessageBox box(QMessageBox::Information, tr("Keyboard shortcuts"), table, QMessageBox::Ok,
                    this);
    box.setTextFormat(Qt::RichText);
    box.exec();
  });
}

AgentSession* MainWindow::AddAgent(const AgentEndpoint& endpoint, bool persist) {
  return m_memory->Add(endpoint, persist);
}

void MainWindow::RestoreSavedAgents() {
  m_memory->RestoreSaved();
}

void MainWindow::OnAgentAdded(AgentSession* session) {
  // Link, state and identity; not every frame (the fleet row follows those).
  connect(session, &AgentSession::changed, this, &MainWindow::RefreshStatus);
  // Every agent's automatic rollback is announced, not only the one shown.
  connect(session, &AgentSession::automaticRollback, this,
          [this](const QString& agent, const QString& headline, const QString& evidence) {
            ShowStatus(tr("%1 — %2: %3").arg(agent, headline, evidence), 60000);
            if (m_tray) {
              m_tray->showMessage(tr("%1 on %2").arg(headline, agent), evidence,
                                  QSystemTrayIcon::Critical, 30000);
            }
            emit automaticRollbackAnnounced(agent, headline);
          });
  connect(&session->Audit(), &AuditTrailModel::chainChanged, this, [this, session] {
    if (session == Selected()) RefreshVerdicts();
  });
  connect(session, &AgentSession::verdictChanged, this, [this, session] {
    if (session == Selected()) RefreshVerdicts();
  });
  if (session->Name() == m_wanted_selection) {
    Select(m_fleet.RowOf(session->Name()));
    m_wanted_selection.clear();
  } else if (m_fleet.Count() == 1) {
    // Something to look at while the last selected agent is still on its
    // way; not remembered as the user's choice.
    m_auto_selecting = true;
    Select(m_fleet.RowOf(session->Name()));
    m_auto_selecting = false;
  }
}

AgentSession* MainWindow::Selected() const {
  return m_release->Session();
}

void MainWindow::Select(int row) {
  if (row < 0) return;
  m_list->setCurrentIndex(m_order->FromFleetRow(row));
  OnSelectionChanged();
}

void MainWindow::OnSelectionChanged() {
  AgentSession* session = m_fleet.At(m_order->ToFleetRow(m_list->currentIndex()));
  if (session == Selected()) return;
  m_release->SetSession(session);
  m_audit->SetModel(session ? &session->Audit() : nullptr);
  if (session && !m_auto_selecting) {
    m_directory.SetLastSelected(session->Name());
    m_wanted_selection.clear();  // the user chose
  }
  RefreshVerdicts();
  RefreshStatus();
}

void MainWindow::RefreshVerdicts() {
  AgentSession* s = Selected();
  if (!s) {
    m_audit->SetVerdicts({}, true, {}, true);
    return;
  }
  // No verdict of the console's own before it has rows to check.
  const QString console = s->Audit().rowCount() ? s->Audit().ChainSummary() : QString();
  m_audit->SetVerdicts(s->AgentVerdict(), s->AgentVerdictOk(), console, s->Audit().ChainOk());
}

void MainWindow::RefreshActions() {
  const AgentSession* s = Selected();
  QString why;
  if (!s) {
    why = tr("Rollback, Promote and Apply need an agent: connect to one first (Ctrl+N)");
  } else if (!s->CanOperate()) {
    why = tr("%1 is signed in to %2 as %3: rolling back, promoting and changing the split need "
             "the operator role")
              .arg(QString::fromStdString(s->Client().Identity().identity()), s->Name(),
                   s->RoleName());
  }
  const bool can = why.isEmpty();
  for (QAction* action : {m_rollback_action, m_promote_action, m_apply_action}) {
    action->setEnabled(can);
    action->setToolTip(can ? action->text().remove(u'&') : why);
    action->setStatusTip(can ? QString() : why);
  }
  m_refused_rollback_keys->setEnabled(!can);
  m_rollout_action->setEnabled(can);
  m_rollout_action->setToolTip(can ? tr("Walk the candidate through weights and bake times") : why);
  const bool admin = s && s->CanAdminister();
  m_drill_action->setEnabled(admin);
  m_drill_action->setToolTip(admin ? tr("Slow, fail or answer wrongly a share of one slot's "
                                        "requests, for a while (admin)")
                                   : tr("Fault drills need the admin role"));
}

void MainWindow::RefreshStatus() {
  RefreshActions();
  AgentSession* s = Selected();
  if (s && !s->Client().Identity().identity().empty()) {
    m_identity->setText(tr("%1 as %2 (%3)")
                            .arg(s->Name(),
                                 QString::fromStdString(s->Client().Identity().identity()),
                                 s->RoleName()));
  } else {
    m_identity->clear();
  }
  const bool memory_only = m_credentials.CurrentMode() == CredentialStore::Mode::MemoryOnly;
  m_keychain->setText(m_credentials.ModeDetail());
  const QString sheet =
      memory_only ? QStringLiteral("color: %1").arg(RoleHex(ColourRole::kWarning)) : QString();
  if (m_keychain->styleSheet() != sheet) m_keychain->setStyleSheet(sheet);  // re-polishes
}

void MainWindow::ShowConnectDialog() {
  QStringList taken;
  for (int i = 0; i < m_fleet.Count(); ++i) taken << m_fleet.At(i)->Name();
  auto* dialog = new ConnectDialog(taken, this);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  // Modal, but never in the way of a rollback.
  connect(
      new RollbackKeys(dialog), &RollbackKeys::pressed, this,
      [this, dialog] {
        dialog->reject();
        m_release->RequestRollback();
      },
      Qt::QueuedConnection);
  connect(dialog, &QDialog::accepted, this, [this, dialog] {
    if (AgentSession* s = AddAgent(dialog->Endpoint(), true)) Select(m_fleet.RowOf(s->Name()));
  });
  dialog->open();
}

void MainWindow::RemoveSelected() {
  AgentSession* s = Selected();
  if (!s) return;
  const QString name = s->Name();
  if (QMessageBox::question(this, tr("Remove %1?").arg(name),
                            tr("Disconnect from %1 and forget it and its token?").arg(name)) !=
      QMessageBox::Yes) {
    return;
  }
  m_release->SetSession(nullptr);
  m_audit->SetModel(nullptr);
  m_memory->Forget(name);
  OnSelectionChanged();
}

void MainWindow::ExportAudit(const QString& format) {
  AgentSession* s = Selected();
  if (!s) return;
  const QString suggested = SafeFileName(QStringLiteral("%1-audit.%2").arg(s->Name(), format));
  const QString path = QFileDialog::getSaveFileName(
      this, tr("Export the audit trail of %1").arg(s->Name()), suggested,
      format == QLatin1String("csv") ? tr("CSV (*.csv)") : tr("JSON (*.json)"));
  if (path.isEmpty()) return;
  const QByteArray bytes =
      format == QLatin1String("csv") ? s->Audit().ToCsv() : s->Audit().ToJson();
  // Written whole or not at all, and never renamed over a device or a link.
  const absl::Status written = WriteFileAtomically(path.toStdString(), bytes.toStdString());
  if (!written.ok()) {
    QMessageBox::warning(this, tr("Export failed"),
                         tr("Could not write %1: %2")
                             .arg(path, QString::fromStdString(std::string(written.message()))));
    return;
  }
  ShowStatus(tr("Exported %1 audit rows to %2").arg(s->Audit().rowCount()).arg(path), 10000);
}

void MainWindow::ExportReleaseReport(const QString& given) {
  AgentSession* s = Selected();
  if (!s) return;
  QString path = given;
  if (path.isEmpty()) {
    path = QFileDialog::getSaveFileName(
        this, tr("Release report for %1").arg(s->Name()),
        SafeFileName(QStringLiteral("%1-release-report.pdf").arg(s->Name())), tr("PDF (*.pdf)"));
  }
  if (path.isEmpty()) return;
  if (!path.endsWith(QLatin1String(".pdf"), Qt::CaseInsensitive)) path += QStringLiteral(".pdf");
  auto* job = new ReleaseReportJob(*s, this);
  QString error;
  if (!job->Start(&error)) {
    delete job;
    QMessageBox::information(this, tr("No release to report"), error);
    return;
  }
  ShowStatus(tr("Gathering the release's history from %1…").arg(s->Name()));
  connect(job, &ReleaseReportJob::finished, this, [this, job, path] {
    job->deleteLater();
    const QString html = path.left(path.size() - 4) + QStringLiteral(".html");
    const absl::StatusOr<std::string> pdf = ReleaseReportPdf(job->Report());
    absl::Status written = pdf.ok() ? WriteFileAtomically(path.toStdString(), *pdf) : pdf.status();
    if (written.ok()) {
      written = WriteFileAtomically(html.toStdString(),
                                    ReportHtml(job->Report(), ChartEmbed::kInlineSvg));
    }
    if (!written.ok()) {
      statusBar()->clearMessage();
      QMessageBox::warning(this, tr("Release report failed"),
                           QString::fromStdString(std::string(written.message())));
      return;
    }
    ShowStatus(tr("Wrote %1 and %2: %3")
                   .arg(path, html, QString::fromStdString(ReportSummary(job->Report()))),
               15000);
    emit releaseReportWritten(path, html);
  });
}

void MainWindow::ShowStatus(const QString& text, int timeout_ms) {
  // The message shares the bar with the identity and keychain labels: elided
  // in the middle (paths keep their file name), whole in the tooltip.
  const int room =
      statusBar()->width() - m_identity->sizeHint().width() - m_keychain->sizeHint().width() - 48;
  const QString line = QString(text).replace(u'\n', u' ');
  statusBar()->showMessage(
      statusBar()->fontMetrics().elidedText(line, Qt::ElideMiddle, std::max(room, 80)), timeout_ms);
  statusBar()->setToolTip(text);
}

void MainWindow::SetDark(bool dark) {
  m_dark = dark;
  if (m_dark_action && m_dark_action->isChecked() != dark) m_dark_action->setChecked(dark);
  ApplyTheme(*qApp, dark);
  m_release->SetDark(dark);
  m_list->viewport()->update();
  m_directory.Write(setting::kDark, dark);
}

void MainWindow::RestoreWindowState() {
  restoreGeometry(m_directory.Read(setting::kGeometry));
  restoreState(m_directory.Read(setting::kWindowState));
  // Saved on a larger screen (or another monitor): fit this one.
  const QScreen* screen = this->screen();
  if (screen && !screen->availableGeometry().contains(frameGeometry())) FitToScreen();
}

void MainWindow::closeEvent(QCloseEvent* event) {
  m_directory.Write(setting::kGeometry, saveGeometry());
  m_directory.Write(setting::kWindowState, saveState());
  m_directory.Settings().sync();
  event->accept();
}

}  // namespace greylane
