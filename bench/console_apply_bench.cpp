// greylane-bench-console-apply: click-to-applied. A real demo agent
// subprocess with load; the console (offscreen) connected as the demo
// operator. Each round confirms a rollback, then a split change back to
// 5 %, through the same dialogs a user confirms, and records the time from
// the confirmation's OK to the console showing the agent's answer (the
// header updated), next to the RPC's own time and the agent's
// arrival-to-in-force time.
// usage: greylane-bench-console-apply AGENT_BIN LOAD_BIN [--rounds N] [--rps N] [--hidden]
#include <QApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QLineEdit>
#include <QTemporaryDir>
#include <QTimer>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <vector>

#include "app/agent_directory.h"
#include "app/credential_store.h"
#include "app/fleet_model.h"
#include "support/agent_process.h"
#include "ui/main_window.h"
#include "ui/reason_dialog.h"
#include "ui/release_view.h"
#include "widgets/traffic_split_control.h"

namespace {
bool WaitFor(const std::function<bool()>& done, int timeout_ms) {
  QElapsedTimer clock;
  clock.start();
  while (!done()) {
    if (clock.elapsed() > timeout_ms) return false;
    QCoreApplication::processEvents(QEventLoop::AllEvents, 5);
  }
  return true;
}

struct Stats {
  double p50, p99, max;
};
Stats Summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 99 / 100)], v.back()};
}
}  // namespace

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s AGENT_BIN LOAD_BIN [--rounds N] [--rps N] [--hidden]\n",
                 argv[0]);
    return 2;
  }
  int rounds = 100, rps = 200;
  bool hidden = false;  // --hidden: no window to repaint, to see what painting costs
  for (int i = 3; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--hidden")
      hidden = true;
    else if (flag == "--rounds" && i + 1 < argc)
      rounds = std::max(5, std::atoi(argv[++i]));
    else if (flag == "--rps" && i + 1 < argc)
      rps = std::max(0, std::atoi(argv[++i]));
  }
  QTemporaryDir dir;
  greylane::test::DemoAgentProcess agent(argv[1], dir.filePath("state"));
  if (!agent.Start()) {
    std::fprintf(stderr, "%s\n", qPrintable(agent.Error()));
    return 1;
  }
  auto load = rps > 0 ? greylane::test::StartLoad(argv[2], agent.Data(), rps, 3600) : nullptr;

  greylane::AgentDirectory directory(dir.filePath("console.ini"));
  greylane::CredentialStore credentials;
  credentials.UseMemoryOnly(QStringLiteral("benchmark"));
  greylane::FleetModel fleet;
  greylane::MainWindow window(fleet, directory, credentials);
  if (!hidden) window.show();
  greylane::AgentEndpoint e;
  e.name = QStringLiteral("demo");
  e.address = agent.Control();
  e.token = agent.Token(QStringLiteral("operator"));
  greylane::AgentSession* session = window.AddAgent(e, false);
  if (!WaitFor([&] { return session->CanOperate() && session->History().NewestUnixMs() > 0; },
               15000)) {
    std::fprintf(stderr, "the console did not get live\n");
    return 1;
  }
  greylane::ReleaseView* view = window.Release();
  std::vector<double> shown[2], rpc[2], in_force[2];
  int failures = 0;
  auto confirm = [&](int kind) {
    int code = -1;
    double rpc_ms = 0;
    const auto connection = QObject::connect(
        &session->Client(), &greylane::AgentClient::mutationFinished,
        [&](const QString&, int c, const QString&, const greylane::v1::AgentState&, double ms) {
          code = c;
          rpc_ms = ms;
        });
    if (!WaitFor([&] { return view->OpenDialog() != nullptr; }, 5000)) return;
    view->OpenDialog()->ReasonEdit()->setText(kind == 0 ? "bench: roll back"
                                                        : "bench: back to 5 %");
    view->OpenDialog()->accept();
    const bool answered = WaitFor([&] { return code >= 0; }, 10000);
    QObject::disconnect(connection);
    if (!answered || code != 0) {
      ++failures;
      return;
    }
    shown[kind].push_back(view->LastConfirmToShownMs());
    rpc[kind].push_back(rpc_ms);
    in_force[kind].push_back(session->Client().State().last_change().apply_micros() / 1000.0);
  };
  for (int r = 0; r < rounds; ++r) {
    view->RequestRollback();
    confirm(0);
    view->SplitControl()->Propose(500);
    view->RequestApply();
    confirm(1);
  }
  std::printf(
      "click-to-applied over loopback, %d rounds, load %d req/s, platform %s%s "
      "(failures: %d)\n",
      rounds, rps, qPrintable(QGuiApplication::platformName()), hidden ? ", window hidden" : "",
      failures);
  const char* names[2] = {"rollback ", "set split"};
  for (int k = 0; k < 2; ++k) {
    if (shown[k].empty()) continue;
    const Stats s = Summarize(shown[k]), r = Summarize(rpc[k]), f = Summarize(in_force[k]);
    std::printf(
        "  %s confirm -> shown  p50 %6.2f ms  p99 %6.2f ms  max %6.2f ms  (target <= 50 ms)\n",
        names[k], s.p50, s.p99, s.max);
    std::printf("  %s RPC               p50 %6.2f ms  p99 %6.2f ms  max %6.2f ms\n", names[k],
                r.p50, r.p99, r.max);
    std::printf("  %s in force (agent)  p50 %6.2f ms  p99 %6.2f ms  max %6.2f ms\n", names[k],
                f.p50, f.p99, f.max);
  }
  window.close();
  if (load) load->kill(), load->waitForFinished();
  return failures == 0 ? 0 : 1;
}
