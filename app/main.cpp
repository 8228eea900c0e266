// greylane-console: wires the app core, the widgets and the main window.
#include <QApplication>
#include <QTimer>

#include <cstdio>
#include <optional>

#include "app/console_options.h"
#include "ui/main_window.h"

int main(int argc, char** argv) {
  // Options first, under a plain QCoreApplication: --help and mistakes work
  // without a display, and QApplication would take --name for itself (the
  // X11 window class).
  std::optional<greylane::ConsoleOptions> options;
  {
    QCoreApplication probe(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("greylane-console"));
    QCoreApplication::setApplicationVersion(QStringLiteral(GREYLANE_VERSION));
    QString error;
    options = greylane::ParseConsoleOptions(QCoreApplication::arguments(), &error);
    if (!options) {
      std::fprintf(stderr, "greylane-console: %s\n", qPrintable(error));
      return 2;
    }
  }
  if (qEnvironmentVariableIsEmpty("DISPLAY") && qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY") &&
      qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) {
    std::fprintf(
        stderr,
        "greylane-console: no display (DISPLAY and WAYLAND_DISPLAY are unset). Run it on "
        "a desktop, under xvfb-run, or with QT_QPA_PLATFORM=offscreen and --screenshot.\n");
    return 2;
  }
  QApplication app(argc, argv);
  QApplication::setOrganizationName(QStringLiteral("Greylane"));
  QApplication::setApplicationName(QStringLiteral("greylane-console"));
  QApplication::setApplicationVersion(QStringLiteral(GREYLANE_VERSION));
  QApplication::setDesktopFileName(QStringLiteral("greylane-console"));

  greylane::AgentDirectory directory(options->settings_file);
  greylane::CredentialStore credentials;
  if (options->no_keychain)
    credentials.UseMemoryOnly(QObject::tr("--no-keychain"));
  else if (!options->connect.isEmpty())
    credentials.UseMemoryOnly(QObject::tr("read from --token-file"));
  greylane::FleetModel fleet;
  greylane::MainWindow window(fleet, directory, credentials);
  window.RestoreWindowState();
  const bool dark = options->theme.isEmpty() ? directory.Read(greylane::setting::kDark)
                                             : options->theme == QLatin1String("dark");
  window.SetDark(dark);
  if (options->connect.isEmpty()) {
    window.RestoreSavedAgents();
  } else {
    for (const greylane::AgentEndpoint& endpoint : options->connect)
      window.AddAgent(endpoint, false);
  }
  window.show();
  if (options->quit_after_ms >= 0) {
    QTimer::singleShot(options->quit_after_ms, &app, [&] {
      if (!options->screenshot.isEmpty()) {
        if (!window.grab().save(options->screenshot)) {
          std::fprintf(stderr, "greylane-console: could not write %s\n",
                       qPrintable(options->screenshot));
          QApplication::exit(1);
          return;
        }
        std::printf("screenshot saved to %s\n", qPrintable(options->screenshot));
      }
      window.close();
      QApplication::quit();
    });
  }
  return QApplication::exec();
}
