// The console end to end, as an SRE uses it: a real `greylane-agent --demo`
// subprocess with load, the console's main window (offscreen) connected
// with the demo operator token. Moves the slider and applies with a reason,
// loses a race to another writer and keeps its proposal, rolls back with
// the keyboard shortcut and Enter, shows a viewer disabled controls, and
// goes stale / disconnected and recovers when the agent stops and returns.
#include <QAbstractButton>
#include <QAbstractSlider>
#include <QAbstractSpinBox>
#include <QComboBox>
#include <QtTest>

#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QProcess>
#include <QPushButton>
#include <QSlider>
#include <QStatusBar>
#include <QTemporaryDir>

#include <grpcpp/create_channel.h>

#include "app/agent_directory.h"
#include "app/credential_store.h"
#include "app/fleet_model.h"
#include "greylane/v1/agent.grpc.pb.h"
#include "support/agent_process.h"
#include "ui/main_window.h"
#include "ui/release_view.h"
#include "widgets/audit_trail_view.h"
#include "widgets/time_series_chart.h"
#include "widgets/traffic_split_control.h"

using greylane::AgentClient;
using greylane::AgentSession;
using greylane::MainWindow;
using greylane::test::DemoAgentProcess;

namespace {
// The console's own parts, as main() wires them, on a settings file of the test's.
struct Console {
  explicit Console(const QString& settings) : directory(settings) {
    credentials.UseMemoryOnly(QStringLiteral("test"));
    window = std::make_unique<MainWindow>(fleet, directory, credentials);
    window->show();
  }
  greylane::AgentDirectory directory;
  greylane::CredentialStore credentials;
  greylane::FleetModel fleet;
  std::unique_ptr<MainWindow> window;  // destroyed first
};

greylane::AgentEndpoint Endpoint(const QString& name, const QString& address,
                                 const QString& token) {
  greylane::AgentEndpoint e;
  e.name = name;
  e.address = address;
  e.token = token;
  return e;
}
}  // namespace

class TestConsoleE2e final : public QObject {
  Q_OBJECT

  QTemporaryDir m_dir;
  std::unique_ptr<DemoAgentProcess> m_agent;
  std::unique_ptr<QProcess> m_load;
  std::unique_ptr<Console> m_console;
  AgentSession* m_session = nullptr;

  // A stub of the agent's control API beside the console, and a context
  // carrying `role`'s demo token.
  std::unique_ptr<greylane::v1::Agent::Stub> AgentStub() const {
    return greylane::v1::Agent::NewStub(
        grpc::CreateChannel(m_agent->Control().toStdString(), grpc::InsecureChannelCredentials()));
  }
  void Prepare(grpc::ClientContext* context, const QString& role) const {
    context->AddMetadata("authorization", "Bearer " + m_agent->Token(role).toStdString());
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }

  // The agent's own answer, not the console's view of it.
  greylane::v1::AgentState AgentTruth() const {
    grpc::ClientContext context;
    Prepare(&context, "viewer");
    greylane::v1::AgentState state;
    const grpc::Status status = AgentStub()->GetState(&context, {}, &state);
    if (!status.ok()) qWarning("GetState: %s", status.error_message().c_str());
    return state;
  }

  // A change made behind the console's back, as greylane-ctl would.
  grpc::Status SetSplitElsewhere(uint32_t basis_points, const std::string& reason) const {
    greylane::v1::SetSplitRequest request;
    request.set_candidate_basis_points(basis_points);
    request.set_expected_revision(AgentTruth().split().revision());
    request.set_reason(reason);
    grpc::ClientContext context;
    Prepare(&context, "operator");
    greylane::v1::AgentState state;
    return AgentStub()->SetSplit(&context, request, &state);
  }

  greylane::ReasonDialog* WaitForDialog() const {
    greylane::ReasonDialog* dialog = nullptr;
    [&] {
      QTRY_VERIFY_WITH_TIMEOUT((dialog = m_console->window->Release()->OpenDialog()), 5000);
    }();
    return dialog;
  }

  // The newest audit row the console received.
  const greylane::AuditRecord* NewestRow() const {
    const auto& rows = m_session->Audit().Records();
    return rows.empty() ? nullptr : &rows.back();
  }

 private slots:
  void initTestCase() {
    QVERIFY(m_dir.isValid());
    m_agent = std::make_unique<DemoAgentProcess>(GREYLANE_AGENT_BIN, m_dir.filePath("state"));
    QVERIFY2(m_agent->Start(), qPrintable(m_agent->Error()));
    m_load = greylane::test::StartLoad(GREYLANE_LOAD_BIN, m_agent->Data(), 200, 300);
    m_console = std::make_unique<Console>(m_dir.filePath("console.ini"));
    QVERIFY(QTest::qWaitForWindowExposed(m_console->window.get()));
    m_session = m_console->window->AddAgent(
        Endpoint("demo", m_agent->Control(), m_agent->Token("operator")), false);
    QVERIFY(m_session);
    QCOMPARE(m_console->window->Selected(), m_session);
  }

  void cleanupTestCase() {
    m_console.reset();
    if (m_load) m_load->kill(), m_load->waitForFinished();
    m_agent.reset();
  }

  void showsLiveFramesIdentityAndTrail() {
    QTRY_COMPARE_WITH_TIMEOUT(m_session->Client().CurrentLink(), AgentClient::Link::Live, 15000);
    QTRY_VERIFY_WITH_TIMEOUT(m_session->History().Points("v1").size() >= 3, 15000);
    QTRY_VERIFY_WITH_TIMEOUT(m_session->CanOperate(), 5000);
    QTRY_VERIFY_WITH_TIMEOUT(m_session->Audit().rowCount() >= 1, 5000);
    greylane::ReleaseView* view = m_console->window->Release();
    QTRY_VERIFY_WITH_TIMEOUT(view->HeaderText().contains("CANARY"), 5000);
    QVERIFY(view->HeaderText().contains("demo-operator"));
    // The cards carry exact 10 s summaries; the charts have the points.
    QTRY_VERIFY_WITH_TIMEOUT(view->CardsText().contains("req/s"), 5000);
    QTRY_VERIFY_WITH_TIMEOUT(!view->LatencyChart()->Points(0).isEmpty(), 5000);
    QVERIFY(!view->TrafficChart()->Points(0).isEmpty());
    QVERIFY(m_session->Audit().ChainOk());
  }

  void appliesTheSliderWithAReason() {
    greylane::ReleaseView* view = m_console->window->Release();
    greylane::TrafficSplitControl* split = view->SplitControl();
    const uint64_t revision = AgentTruth().split().revision();
    // Keyboard on the slider: PageUp adds 1 % to the 5 % the demo starts with.
    split->Slider()->setFocus();
    QTest::keyClick(split->Slider(), Qt::Key_PageUp);
    QCOMPARE(split->Proposed(), 600u);
    QCOMPARE(AgentTruth().split().candidate_basis_points(), 500u);  // only proposed
    split->Propose(1000);
    QVERIFY(split->ApplyButton()->isEnabled());
    QTest::mouseClick(split->ApplyButton(), Qt::LeftButton);
    greylane::ReasonDialog* dialog = WaitForDialog();
    QVERIFY(dialog);
    QVERIFY(!dialog->AcceptButton()->isEnabled());  // a reason is required
    QTest::keyClicks(dialog->ReasonEdit(), "widen the canary to 10 %");
    QSignalSpy done(&m_session->Client(), &AgentClient::mutationFinished);
    QTest::keyClick(dialog->ReasonEdit(), Qt::Key_Return);
    QVERIFY2(done.wait(10000), qPrintable(m_console->window->Release()->ResultText()));
    QCOMPARE(done.at(0).at(1).toInt(), 0);
    const greylane::v1::AgentState truth = AgentTruth();
    QCOMPARE(truth.split().candidate_basis_points(), 1000u);
    QCOMPARE(truth.split().revision(), revision + 1);
    QVERIFY(view->HeaderText().contains("10.00 %"));
    QVERIFY(view->ResultText().contains("Split applied"));
    QTRY_VERIFY_WITH_TIMEOUT(NewestRow() && NewestRow()->action == "set_split", 5000);
    QCOMPARE(NewestRow()->reason, std::string("widen the canary to 10 %"));
    QCOMPARE(NewestRow()->actor, std::string("demo-operator"));
    QCOMPARE(NewestRow()->after.candidate_basis_points, 1000u);
  }

  void losesARaceAndKeepsTheProposal() {
    greylane::ReleaseView* view = m_console->window->Release();
    greylane::TrafficSplitControl* split = view->SplitControl();
    split->Propose(3000);
    const uint64_t based_on = split->BasedOnRevision();
    // Someone else moves the split first.
    {
      auto stub = greylane::v1::Agent::NewStub(grpc::CreateChannel(
          m_agent->Control().toStdString(), grpc::InsecureChannelCredentials()));
      grpc::ClientContext context;
      context.AddMetadata("authorization", "Bearer " + m_agent->Token("admin").toStdString());
      greylane::v1::SetSplitRequest request;
      request.set_candidate_basis_points(2000);
      request.set_expected_revision(based_on);
      request.set_reason("admin widens to 20 %");
      greylane::v1::AgentState state;
      QVERIFY(stub->SetSplit(&context, request, &state).ok());
    }
    QTRY_COMPARE_WITH_TIMEOUT(split->InForce(), 2000u, 5000);
    QCOMPARE(split->Proposed(), 3000u);  // the proposal survives the change
    QCOMPARE(split->BasedOnRevision(), based_on);
    QTest::mouseClick(split->ApplyButton(), Qt::LeftButton);
    greylane::ReasonDialog* dialog = WaitForDialog();
    QVERIFY(dialog);
    QTest::keyClicks(dialog->ReasonEdit(), "go to 30 %");
    QSignalSpy done(&m_session->Client(), &AgentClient::mutationFinished);
    QTest::keyClick(dialog->ReasonEdit(), Qt::Key_Return);
    QVERIFY2(done.wait(10000), qPrintable(m_console->window->Release()->ResultText()));
    QCOMPARE(done.at(0).at(1).toInt(), static_cast<int>(grpc::StatusCode::ABORTED));
    QVERIFY2(view->ResultText().contains("demo-admin"), qPrintable(view->ResultText()));
    QVERIFY(view->ResultText().contains("30.00 %"));
    QCOMPARE(AgentTruth().split().candidate_basis_points(), 2000u);
    QCOMPARE(split->Proposed(), 3000u);
    QCOMPARE(split->BasedOnRevision(), AgentTruth().split().revision());  // ready for a second try
    // The second try offers the reason typed before and goes through.
    QTest::mouseClick(split->ApplyButton(), Qt::LeftButton);
    dialog = WaitForDialog();
    QVERIFY(dialog);
    QCOMPARE(dialog->Reason(), QString("go to 30 %"));
    done.clear();
    QTest::keyClick(dialog->ReasonEdit(), Qt::Key_Return);
    QVERIFY2(done.wait(10000), qPrintable(m_console->window->Release()->ResultText()));
    QCOMPARE(done.at(0).at(1).toInt(), 0);
    QCOMPARE(AgentTruth().split().candidate_basis_points(), 3000u);
  }

  void rollsBackWithTheShortcutAndEnter() {
    MainWindow* window = m_console->window.get();
    window->activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(window));
    // In the middle of another change: the shortcut works from its dialog.
    greylane::ReleaseView* release = window->Release();
    release->SplitControl()->Propose(4000);
    QTest::mouseClick(release->SplitControl()->ApplyButton(), Qt::LeftButton);
    greylane::ReasonDialog* apply = WaitForDialog();
    QVERIFY(apply);
    QTest::keyClicks(apply->ReasonEdit(), "half-typed");
    apply->activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(apply));
    QTest::keyClick(apply->ReasonEdit(), Qt::Key_R, Qt::ControlModifier | Qt::ShiftModifier);
    QTRY_VERIFY(release->OpenDialog() && release->OpenDialog() != apply);
    QVERIFY(release->OpenDialog()->windowTitle().startsWith("Roll back"));
    release->OpenDialog()->reject();
    release->SplitControl()->DiscardProposal();
    QTRY_VERIFY(!release->OpenDialog());
    // From anywhere in the window: focus sits in the audit filter box.
    window->activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(window));
    window->AuditView()->findChild<QLineEdit*>()->setFocus();
    QTest::keyClick(window, Qt::Key_R, Qt::ControlModifier | Qt::ShiftModifier);
    greylane::ReasonDialog* dialog = WaitForDialog();
    QVERIFY(dialog);
    QVERIFY(!dialog->Reason().isEmpty());  // a default reason, ready to send
    QVERIFY(dialog->AcceptButton()->isEnabled());
    QSignalSpy done(&m_session->Client(), &AgentClient::mutationFinished);
    QTest::keyClick(dialog->ReasonEdit(), Qt::Key_Return);
    QVERIFY2(done.wait(10000), qPrintable(m_console->window->Release()->ResultText()));
    QCOMPARE(done.at(0).at(1).toInt(), 0);
    const greylane::v1::AgentState truth = AgentTruth();
    QCOMPARE(truth.split().candidate_basis_points(), 0u);
    QCOMPARE(truth.phase(), greylane::v1::ROLLED_BACK);
    greylane::ReleaseView* view = window->Release();
    QVERIFY(view->HeaderText().contains("ROLLED BACK"));
    QVERIFY(view->ResultText().contains("Rolled back"));
    qInfo("confirm to shown: %.2f ms", view->LastConfirmToShownMs());
    QTRY_VERIFY_WITH_TIMEOUT(NewestRow() && NewestRow()->action == "rollback", 5000);
    QCOMPARE(NewestRow()->after.candidate_basis_points, 0u);
    QCOMPARE(NewestRow()->outcome, std::string("ok"));
    // The marker for it is on the chart once the next redraw runs.
    QTRY_VERIFY_WITH_TIMEOUT(view->RedrawCount() > 0, 1000);
    QVERIFY2(m_session->Audit().ChainOk(), qPrintable(m_session->Audit().ChainSummary()));
    // Sent as typed by nobody: the review sees it.
    QVERIFY(QString::fromStdString(NewestRow()->reason).endsWith(" (default reason)"));
  }

  void writesTheReleaseReport() {
    greylane::MainWindow* window = m_console->window.get();
    QTemporaryDir dir;
    QSignalSpy written(window, &greylane::MainWindow::releaseReportWritten);
    window->ExportReleaseReport(dir.filePath("review"));
    QVERIFY(written.wait(10000));
    QCOMPARE(written.at(0).at(0).toString(), dir.filePath("review.pdf"));
    QFile pdf(dir.filePath("review.pdf"));
    QVERIFY(pdf.open(QIODevice::ReadOnly));
    QCOMPARE(pdf.read(5), QByteArray("%PDF-"));
    QFile html(dir.filePath("review.html"));
    QVERIFY(html.open(QIODevice::ReadOnly));
    const QString text = QString::fromUtf8(html.readAll());
    QVERIFY2(text.contains("Release report: digits on") && text.contains("rolled back after") &&
                 text.contains("(default reason)") && text.contains("<svg"),
             qPrintable(text.left(2000)));
    // The whole line in the tooltip; the bar's copy fits beside the identity.
    QVERIFY(window->statusBar()->toolTip().contains("rolled back after"));
    QVERIFY(window->statusBar()->fontMetrics().horizontalAdvance(
                window->statusBar()->currentMessage()) <=
            window->statusBar()->width() - window->IdentityLabel()->width());
  }

  // The long windows draw the agent's minute history (x in minutes, the
  // current minute at 0), and a chart saves as PNG and SVG.
  void drawsHistoryWindowsAndSavesCharts() {
    greylane::ReleaseView* view = m_console->window->Release();
    QTRY_VERIFY_WITH_TIMEOUT(m_session->Client().State().versions_size() >= 2, 15000);
    QTRY_VERIFY_WITH_TIMEOUT(m_session->History().Points("v1").size() >= 3, 15000);
    QSignalSpy read(&m_session->Minutes(), &greylane::MinuteHistoryReader::updated);
    view->SetWindowSeconds(24 * 3600);
    QVERIFY(view->ShowsHistory());
    QTRY_VERIFY_WITH_TIMEOUT(!m_session->Minutes().Loading() && read.count() >= 2, 10000);
    view->Redraw();
    QVERIFY2(!view->HistoryNote().startsWith("history could not"), qPrintable(view->HistoryNote()));
    greylane::TimeSeriesChart* traffic = view->TrafficChart();
    QCOMPARE(traffic->SecondsPerX(), 3600.0);  // "-24 h", not "-1440 min"
    QCOMPARE(traffic->WindowSeconds(), 24.0);
    const QList<QPointF>& rate = traffic->Points(0);  // baseline requests/s, per minute
    QVERIFY(!rate.isEmpty());
    QVERIFY2(rate.back().x() <= 0 && rate.back().x() > -2 / 60.0,
             qPrintable(QString::number(rate.back().x())));
    QVERIFY(rate.back().y() > 0);
    QVERIFY2(traffic->ReadoutAt(rate.back().x()).contains(" h)\nv1 req/s, per minute: "),
             qPrintable(traffic->ReadoutAt(rate.back().x())));
    view->SetWindowSeconds(3600);
    QTRY_VERIFY_WITH_TIMEOUT(!m_session->Minutes().Loading(), 10000);
    view->Redraw();
    QCOMPARE(traffic->SecondsPerX(), 60.0);
    QCOMPARE(traffic->WindowSeconds(), 60.0);
    QVERIFY(!traffic->Points(0).isEmpty());
    QVERIFY(m_console->window->grab().save(
        QStringLiteral(GREYLANE_TEST_OUTPUT_DIR "/console-e2e-24h.png")));
    view->SetWindowSeconds(greylane::ReleaseView::kWholeRelease);
    QTRY_VERIFY_WITH_TIMEOUT(!m_session->Minutes().Loading(), 10000);
    view->Redraw();
    QVERIFY(!view->LatencyChart()->Points(0).isEmpty());

    const QByteArray png = view->LatencyChart()->Image("png");
    QVERIFY(png.startsWith("\x89PNG"));
    const QByteArray svg = view->LatencyChart()->Image("svg");
    QVERIFY(svg.contains("<svg"));
    QVERIFY(view->LatencyChart()->Image("gif").isEmpty());

    view->SetWindowSeconds(300);
    QVERIFY(!view->ShowsHistory());
    view->Redraw();
    QCOMPARE(traffic->SecondsPerX(), 1.0);
  }

  void savesAScreenshot() {
    MainWindow* window = m_console->window.get();
    window->Release()->Redraw();
    const QString path = QStringLiteral(GREYLANE_TEST_OUTPUT_DIR "/console-e2e.png");
    QVERIFY(window->grab().save(path));
    qInfo("screenshot: %s", qPrintable(path));
  }

  // The executable itself: the screenshot a script asks for, and the
  // mistakes a person makes at the command line.
  void executableTakesAScreenshotAndExplainsMistakes() {
    const QString png = m_dir.filePath("cli.png");
    QProcess console;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("QT_QPA_PLATFORM", "offscreen");
    console.setProcessEnvironment(env);
    console.start(GREYLANE_CONSOLE_BIN,
                  {"--connect", m_agent->Control(), "--token-file", m_agent->TokenFile(), "--name",
                   "scripted", "--settings", m_dir.filePath("cli.ini"), "--screenshot", png,
                   "--quit-after", "2500"});
    QVERIFY(console.waitForFinished(30000));
    QCOMPARE(console.exitCode(), 0);
    QImage image(png);
    QVERIFY(!image.isNull());
    QVERIFY(image.width() >= 800 && image.height() >= 600);

    env.remove("QT_QPA_PLATFORM");
    env.remove("DISPLAY");
    env.remove("WAYLAND_DISPLAY");
    console.setProcessEnvironment(env);
    console.start(GREYLANE_CONSOLE_BIN,
                  {"--connect", m_agent->Control(), "--token-file", m_agent->TokenFile()});
    QVERIFY(console.waitForFinished(10000));
    QCOMPARE(console.exitCode(), 2);
    QVERIFY(console.readAllStandardError().contains("no display"));
    console.start(GREYLANE_CONSOLE_BIN, {"--connect", "nowhere"});
    QVERIFY(console.waitForFinished(10000));
    QCOMPARE(console.exitCode(), 2);
    QVERIFY(console.readAllStandardError().contains("--token-file"));
  }

  void viewerSeesEveryControlDisabled() {
    Console viewer(m_dir.filePath("viewer.ini"));
    AgentSession* session = viewer.window->AddAgent(
        Endpoint("demo-as-viewer", m_agent->Control(), m_agent->Token("viewer")), false);
    QVERIFY(session);
    QTRY_COMPARE_WITH_TIMEOUT(session->Client().Identity().role(), greylane::v1::VIEWER, 10000);
    greylane::ReleaseView* view = viewer.window->Release();
    QTRY_VERIFY(!view->RollbackButton()->isEnabled());
    QVERIFY(view->RollbackButton()->toolTip().contains("viewer"));
    QVERIFY(!view->PromoteButton()->isEnabled());
    QVERIFY(!view->SplitControl()->Slider()->isEnabled());
    QVERIFY(view->SplitControl()->Slider()->toolTip().contains("operator role"));
    QVERIFY(!view->SplitControl()->ApplyButton()->isEnabled());
    view->RequestRollback();  // the shortcut's path: nothing opens
    QVERIFY(!view->OpenDialog());
    // The Release menu's actions are disabled too, each with the reason.
    QTRY_VERIFY(!viewer.window->RollbackAction()->isEnabled());
    QVERIFY2(viewer.window->RollbackAction()->toolTip().contains("operator role"),
             qPrintable(viewer.window->RollbackAction()->toolTip()));
    QVERIFY(view->RollbackButton()->text().contains("Ctrl+Shift+R"));
    QVERIFY(!view->RollbackButton()->text().contains(u'&'));
  }

  void goesStaleAndDisconnectedAndRecovers() {
    greylane::ReleaseView* view = m_console->window->Release();
    QTRY_COMPARE_WITH_TIMEOUT(m_session->Client().CurrentLink(), AgentClient::Link::Live, 10000);
    // Frozen process: connections stay open, frames stop.
    m_agent->Pause();
    QTRY_COMPARE_WITH_TIMEOUT(m_session->Client().CurrentLink(), AgentClient::Link::Stale, 8000);
    QVERIFY(view->HeaderText().contains("STALE"));
    m_agent->Resume();
    QTRY_COMPARE_WITH_TIMEOUT(m_session->Client().CurrentLink(), AgentClient::Link::Live, 8000);
    // Gone: the streams end, the view says so and retries with backoff.
    const QString control = m_agent->Control();
    m_agent->Kill();
    QTRY_COMPARE_WITH_TIMEOUT(m_session->Client().CurrentLink(), AgentClient::Link::Disconnected,
                              8000);
    QVERIFY(view->HeaderText().contains("DISCONNECTED"));
    const int fleet_link =
        m_console->fleet.data(m_console->fleet.index(0), greylane::FleetModel::kLinkRole).toInt();
    QCOMPARE(fleet_link, static_cast<int>(AgentClient::Link::Disconnected));
    // Back on the same address with the same state: the console reconnects
    // by itself and shows the state that survived (the rollback).
    QVERIFY2(m_agent->Start(control), qPrintable(m_agent->Error()));
    QTRY_COMPARE_WITH_TIMEOUT(m_session->Client().CurrentLink(), AgentClient::Link::Live, 20000);
    QCOMPARE(m_session->Client().State().split().candidate_basis_points(), 0u);
    QVERIFY(view->HeaderText().contains("ROLLED BACK"));
    QVERIFY(m_session->Audit().ChainOk());
  }

  // A rollback against a frozen agent: no answer is not a refusal. The
  // console says the outcome is unknown, re-reads the state once the agent
  // answers, and then says it was applied; the result fades when a later
  // change (from the command line) moves the state on.
  void aTimedOutRollbackIsOutcomeUnknownThenTheTruth() {
    greylane::ReleaseView* view = m_console->window->Release();
    QTRY_COMPARE_WITH_TIMEOUT(m_session->Client().CurrentLink(), AgentClient::Link::Live, 20000);
    QVERIFY(SetSplitElsewhere(1500, "ramp before the freeze").ok());
    QTRY_COMPARE_WITH_TIMEOUT(m_session->Client().State().split().candidate_basis_points(), 1500u,
                              5000);
    m_session->Client().SetChangeDeadline(std::chrono::milliseconds(1500));
    m_agent->Pause();
    view->RequestRollback();
    greylane::ReasonDialog* dialog = WaitForDialog();
    QVERIFY(dialog);
    QSignalSpy done(&m_session->Client(), &AgentClient::mutationFinished);
    dialog->accept();
    QVERIFY(done.wait(10000));
    QCOMPARE(done.at(0).at(1).toInt(), static_cast<int>(grpc::StatusCode::DEADLINE_EXCEEDED));
    QVERIFY2(view->ResultText().contains("outcome unknown"), qPrintable(view->ResultText()));
    QVERIFY(!view->ResultText().contains("refused"));
    m_agent->Resume();
    QTRY_VERIFY2_WITH_TIMEOUT(!view->ResultText().contains("outcome unknown"),
                              qPrintable(view->ResultText()), 15000);
    // Whichever it was (the agent may drop a call whose deadline passed
    // while it was frozen), the console now says what the agent says.
    const bool rolled_back = AgentTruth().phase() == greylane::v1::ROLLED_BACK;
    QVERIFY2(view->ResultText().contains(rolled_back ? "was applied" : "was NOT applied"),
             qPrintable(view->ResultText()));
    qInfo("after the freeze: %s", qPrintable(view->ResultText()));
    m_session->Client().SetChangeDeadline(std::chrono::seconds(10));

    QVERIFY(SetSplitElsewhere(1000, "10 % from the command line").ok());
    QTRY_VERIFY2_WITH_TIMEOUT(view->ResultText().startsWith("Earlier, at revision"),
                              qPrintable(view->ResultText()), 5000);
  }

  // At 1280x720 and 1024x768 the window fits and every control is inside
  // it, unclipped (once Rollback was off-screen at 1280x720).
  void fitsSmallScreens_data() const {
    QTest::addColumn<QSize>("size");
    QTest::newRow("1280x720") << QSize(1280, 720);
    QTest::newRow("1024x768") << QSize(1024, 768);
  }
  void fitsSmallScreens() const {
    QFETCH(QSize, size);
    MainWindow* window = m_console->window.get();
    const QSize before = window->size();
    window->resize(size);
    QTRY_COMPARE_WITH_TIMEOUT(window->size(), size, 2000);  // not held larger by a minimum
    window->Release()->Redraw();
    QCoreApplication::processEvents();
    const QRect inside = window->rect();
    QStringList outside;
    for (QWidget* w : window->findChildren<QWidget*>()) {
      if (!w->isVisible() || w->window() != window) continue;
      if (!qobject_cast<QAbstractButton*>(w) && !qobject_cast<QComboBox*>(w) &&
          !qobject_cast<QAbstractSlider*>(w) && !qobject_cast<QAbstractSpinBox*>(w) &&
          !qobject_cast<QLineEdit*>(w)) {
        continue;
      }
      if (qobject_cast<QLineEdit*>(w) && qobject_cast<QAbstractSpinBox*>(w->parentWidget()))
        continue;
      const QRect at(w->mapTo(window, QPoint(0, 0)), w->size());
      // Whole, inside the window, and not cut by a parent too small for it.
      if (!inside.contains(at) || w->visibleRegion().boundingRect().size() != w->size()) {
        outside << QStringLiteral("%1 '%2' at %3,%4 %5x%6")
                       .arg(w->metaObject()->className(),
                            qobject_cast<QAbstractButton*>(w)
                                ? qobject_cast<QAbstractButton*>(w)->text()
                                : w->accessibleName())
                       .arg(at.x())
                       .arg(at.y())
                       .arg(at.width())
                       .arg(at.height());
      }
    }
    window->grab().save(QStringLiteral(GREYLANE_TEST_OUTPUT_DIR "/console-%1x%2.png")
                            .arg(size.width())
                            .arg(size.height()));
    window->resize(before);
    QVERIFY2(outside.isEmpty(), qPrintable(outside.join(u'\n')));
  }

  void verifiesTheChainOnTheAgent() {
    MainWindow* window = m_console->window.get();
    window->activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(window));
    QSignalSpy verdict(m_session, &AgentSession::verdictChanged);
    QTest::keyClick(window, Qt::Key_E, Qt::ControlModifier);
    QVERIFY(verdict.wait(10000));
    QVERIFY(m_session->AgentVerdictOk());
    const QString text = window->AuditView()->VerdictText();
    QVERIFY2(text.contains("agent: chain verified through #"), qPrintable(text));
    QVERIFY(text.contains("chain recomputed here through #"));
  }

  void promotesWithAReason() {
    greylane::ReleaseView* view = m_console->window->Release();
    QTRY_VERIFY_WITH_TIMEOUT(view->PromoteButton()->isEnabled(), 5000);
    QTest::mouseClick(view->PromoteButton(), Qt::LeftButton);
    greylane::ReasonDialog* dialog = WaitForDialog();
    QVERIFY(dialog);
    QVERIFY(dialog->Reason().isEmpty());  // no default: a promotion is a decision
    QTest::keyClicks(dialog->ReasonEdit(), "v2 held for the whole evening peak");
    QSignalSpy done(&m_session->Client(), &AgentClient::mutationFinished);
    QTest::keyClick(dialog->ReasonEdit(), Qt::Key_Return);
    QVERIFY2(done.wait(10000), qPrintable(view->ResultText()));
    QCOMPARE(done.at(0).at(1).toInt(), 0);
    const greylane::v1::AgentState truth = AgentTruth();
    QCOMPARE(truth.phase(), greylane::v1::PROMOTED);
    QCOMPARE(truth.versions(0).version(), std::string("v2"));
    QVERIFY(view->HeaderText().contains("PROMOTED"));
    QVERIFY(view->ResultText().contains("baseline is now v2"));
    QTRY_VERIFY_WITH_TIMEOUT(view->CardsText().contains("Baseline v2"), 5000);
  }
};

QTEST_MAIN(TestConsoleE2e)
#include "test_console_e2e.moc"
