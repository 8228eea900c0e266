// The analysis and the rollout as the SRE sees them in the console, on a
// real in-process agent with real traffic: the live verdict per check with
// its figures; the policy's p99 levels on the latency chart; a rollout
// started from the plan editor, paused and resumed from the step bar; and a
// fault drill ending in an automatic rollback that raises the banner with
// its evidence, announced once (the tray's signal).
#include <QApplication>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QLayout>
#include <QLineEdit>
#include <QPushButton>
#include <QTemporaryDir>
#include <QtTest>

#include "app/agent_directory.h"
#include "app/analysis_words.h"
#include "app/credential_store.h"
#include "app/fleet_model.h"
#include "support/agent_test_support.h"
#include "ui/drill_dialog.h"
#include "ui/main_window.h"
#include "ui/reason_dialog.h"
#include "ui/release_view.h"
#include "ui/rollout_dialog.h"
#include "widgets/rollout_bar.h"
#include "widgets/time_series_chart.h"
#include "widgets/verdict_panel.h"

using namespace greylane;

class TestConsoleAnalysis final : public QObject {
  Q_OBJECT

  std::unique_ptr<CanaryAgent> m_agent;
  std::unique_ptr<test::BackgroundLoad> m_load;
  QTemporaryDir m_dir;
  std::unique_ptr<AgentDirectory> m_directory;
  CredentialStore m_credentials;
  FleetModel m_fleet;
  std::unique_ptr<MainWindow> m_window;
  AgentSession* m_session = nullptr;

  ReleaseView* View() const { return m_window->Release(); }

  // Confirms the open reason dialog with `reason` and waits for the answer.
  bool Confirm(const QString& reason) {
    ReasonDialog* dialog = nullptr;
    QElapsedTimer timer;
    timer.start();
    while (!(dialog = View()->OpenDialog()) && timer.elapsed() < 5000) QTest::qWait(20);
    if (!dialog) return false;
    dialog->ReasonEdit()->setText(reason);
    QSignalSpy done(&m_session->Client(), &AgentClient::mutationFinished);
    QTest::keyClick(dialog->ReasonEdit(), Qt::Key_Return);
    return done.wait(10000) && done.at(0).at(1).toInt() == 0;
  }

 private slots:
  void initTestCase() {
    AgentConfig config = test::DemoTestConfig(1000);
    config.analysis.armed = true;
    config.analysis.p99_warning_ms = 50;
    config.analysis.p99_ceiling_ms = 150;
    config.analysis.accuracy_margin = 0.02;
    std::string error;
    m_agent = test::StartAgent(config, &error);
    QVERIFY2(m_agent, error.c_str());
    m_load = std::make_unique<test::BackgroundLoad>(m_agent->DataAddress(), 600, 200, 1.0);
    m_directory = std::make_unique<AgentDirectory>(m_dir.filePath("console.ini"));
    m_credentials.UseMemoryOnly("test");
    m_window = std::make_unique<MainWindow>(m_fleet, *m_directory, m_credentials);
    m_window->resize(1400, 950);
    m_window->show();
    AgentEndpoint endpoint;
    endpoint.name = "node-a";
    endpoint.address = QString::fromStdString(m_agent->ControlAddress());
    endpoint.token = QString::fromStdString(test::DemoToken(*m_agent, "admin"));
    m_session = m_window->AddAgent(endpoint, false);
    QVERIFY(m_session);
    m_window->Select(0);
  }

  void cleanupTestCase() {
    m_window.reset();
    m_load.reset();
    m_agent.reset();
  }

  // Every check with a verdict and its figures, the policy said in words,
  // and the p99 levels on the latency chart.
  void showsTheLiveVerdictsAndThePolicy() {
    VerdictPanel* panel = View()->Verdicts();
    QTRY_VERIFY_WITH_TIMEOUT(panel->Text().contains(QStringLiteral("Latency shift | PASS")), 15000);
    const QString text = panel->Text();
    QVERIFY2(text.startsWith(QStringLiteral("ARMED")), qPrintable(text));
    for (const char* check : {"Slow requests (tail)", "Server errors", "Accuracy drop"})
      QVERIFY2(text.contains(QString::fromUtf8(check)), qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("fails ≥ 1.25×")), qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("fails ≥ 2.00 pts")), qPrintable(text));
    const QList<ChartThreshold>& levels = View()->LatencyChart()->Thresholds();
    QCOMPARE(levels.size(), 2);
    QCOMPARE(levels[0].value, 50.0);
    QCOMPARE(levels[1].value, 150.0);
  }

  // The plan editor's preset and its words; then pause and resume from the bar.
  void startsPausesAndResumesARollout() {
    RolloutBar* bar = View()->Rollout();
    QVERIFY(bar->StartButton()->isVisible() && bar->StartButton()->isEnabled());
    QTest::mouseClick(bar->StartButton(), Qt::LeftButton);
    auto* dialog = qobject_cast<RolloutDialog*>(View()->OpenPlanDialog());
    QVERIFY(dialog);
    QVERIFY2(dialog->PreviewText().contains(QStringLiteral("1 % for 2 min")),
             qPrintable(dialog->PreviewText()));
    QVERIFY(!dialog->AcceptButton()->isEnabled());                           // no reason yet
    dialog->PresetBox()->setCurrentIndex(dialog->PresetBox()->count() - 1);  // steps of my own
    dialog->StepsEdit()->setText(QStringLiteral("10, 5"));
    QVERIFY2(dialog->PreviewText().startsWith(QStringLiteral("Cannot start")),
             qPrintable(dialog->PreviewText()));
    dialog->StepsEdit()->setText(QStringLiteral("10, 20, 100"));
    dialog->ReasonEdit()->setText(QStringLiteral("walk v2 out"));
    QVERIFY2(dialog->AcceptButton()->isEnabled(), qPrintable(dialog->PreviewText()));
    QSignalSpy done(&m_session->Client(), &AgentClient::mutationFinished);
    QTest::mouseClick(dialog->AcceptButton(), Qt::LeftButton);
    QVERIFY(done.wait(10000));
    QCOMPARE(done.at(0).at(1).toInt(), 0);
    QTRY_VERIFY_WITH_TIMEOUT(bar->Text().contains(QStringLiteral("Baking step 1 of 3 (10 %)")),
                             5000);
    QVERIFY(bar->PauseButton()->isVisible());

    QTest::mouseClick(bar->PauseButton(), Qt::LeftButton);
    QVERIFY(Confirm(QStringLiteral("look at the charts first")));
    QTRY_VERIFY_WITH_TIMEOUT(bar->Text().startsWith(QStringLiteral("PAUSED")), 5000);
    QCOMPARE(test::State(*test::Connect(*m_agent).control, test::DemoToken(*m_agent, "viewer"))
                 .rollout()
                 .phase(),
             v1::ROLLOUT_PAUSED);
    QVERIFY(bar->ResumeButton()->isVisible());
    QTest::mouseClick(bar->ResumeButton(), Qt::LeftButton);
    QVERIFY(Confirm(QStringLiteral("charts look fine")));
    QTRY_VERIFY_WITH_TIMEOUT(bar->Text().startsWith(QStringLiteral("Baking")), 5000);
  }

  // The drill dialog (admin): a wrong-answer drill reaches the agent, then
  // Stop ends it.
  void drillsFromTheDialog() {
    for (const bool stop : {false, true}) {
      View()->RequestDrill();
      DrillDialog* dialog = nullptr;
      QTRY_VERIFY_WITH_TIMEOUT((dialog = View()->findChild<DrillDialog*>()), 5000);
      QVERIFY(!dialog->StartButton()->isEnabled());  // no reason, no fault yet
      dialog->WrongBox()->setValue(5);
      dialog->ReasonEdit()->setText(QStringLiteral("game day"));
      QVERIFY(dialog->StartButton()->isEnabled());
      QSignalSpy done(&m_session->Client(), &AgentClient::mutationFinished);
      QTest::mouseClick(stop ? dialog->StopButton() : dialog->StartButton(), Qt::LeftButton);
      QVERIFY(done.wait(10000));
      QCOMPARE(done.at(0).at(1).toInt(), 0);
      const v1::AgentState state =
          test::State(*test::Connect(*m_agent).control, test::DemoToken(*m_agent, "viewer"));
      if (stop) {
        QCOMPARE(state.drills_size(), 0);
      } else {
        QCOMPARE(state.drills_size(), 1);
        QCOMPARE(state.drills(0).wrong_answer_rate(), 0.05);
      }
      QTRY_VERIFY_WITH_TIMEOUT(!View()->findChild<DrillDialog*>(), 5000);
    }
  }

  // A slow candidate: the analysis rolls back by itself; the banner names
  // what failed with its numbers, the rollout bar says it ended, and the
  // announcement comes once.
  void anAutomaticRollbackRaisesTheBanner() {
    QSignalSpy announced(m_window.get(), &MainWindow::automaticRollbackAnnounced);
    test::Clients clients = test::Connect(*m_agent);
    QVERIFY(
        test::Drill(*clients.control, test::DemoToken(*m_agent, "admin"), v1::CANDIDATE, 200, 0, 60)
            .ok());
    QVERIFY(announced.wait(30000));
    QTRY_VERIFY_WITH_TIMEOUT(!View()->AutoRollbackText().isEmpty(), 5000);
    QTRY_VERIFY_WITH_TIMEOUT(View()->AutoRollbackText().contains(QStringLiteral("interval")), 5000);
    const QString banner = View()->AutoRollbackText();
    QVERIFY2(banner.contains(QStringLiteral("Automatic rollback of 'v2'")), qPrintable(banner));
    QVERIFY2(banner.contains(QStringLiteral("baseline")), qPrintable(banner));
    QTRY_VERIFY_WITH_TIMEOUT(View()->Rollout()->Text().startsWith(QStringLiteral("ENDED")), 5000);
    QVERIFY(View()->Verdicts()->Text().contains(QStringLiteral("no traffic")));
    QTest::qWait(1500);
    QCOMPARE(announced.size(), 1);
  }

  // With the banner, the ended plan and the verdicts, the window still fits
  // the small screens (not held larger by a minimum).
  void fitsSmallScreensWithEverythingShown() {
    QVERIFY(!View()->AutoRollbackText().isEmpty());
    for (const QSize size : {QSize(1280, 720), QSize(1024, 768)}) {
      m_window->resize(size);
      QCoreApplication::processEvents();
      if (m_window->size() != size) {
        for (QWidget* w : View()->findChildren<QWidget*>()) {
          if (w->isVisible() && w->minimumSizeHint().height() > 60)
            qWarning("%s %s min %dx%d", w->metaObject()->className(), qPrintable(w->objectName()),
                     w->minimumSizeHint().width(), w->minimumSizeHint().height());
        }
        qWarning("view min %dx%d", View()->minimumSizeHint().width(),
                 View()->minimumSizeHint().height());
        QLayout* l = View()->layout();
        for (int i = 0; i < l->count(); ++i) {
          QLayoutItem* item = l->itemAt(i);
          qWarning("item %d %s min %dx%d", i,
                   item->widget() ? item->widget()->metaObject()->className() : "layout",
                   item->minimumSize().width(), item->minimumSize().height());
        }
      }
      QTRY_COMPARE_WITH_TIMEOUT(m_window->size(), size, 2000);
    }
  }
};

QTEST_MAIN(TestConsoleAnalysis)
#include "test_console_analysis.moc"
