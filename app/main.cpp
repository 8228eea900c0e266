// greylane-console: wires the app core, the widgets and the main window.
#include <QApplication>
#include <QTimer>

#include <cstdio>

#include "app/console_options.h"
#include "ui/main_window.h"

int main(int argc, char** argv) {
  // Read our options before QApplication strips the ones it knows (it
  // would take --name for the X11 window class).
  QStringList arguments;
  for (int i = 0; i < argc; ++i) arguments << QString::fromLocal8Bit(argv[i]);
  QApplication app(argc, argv);
  QApplication::setOrganizationName(QStringLiteral("Greylane"));
  QApplication::setApplicationName(QStringLiteral("greylane-console"));
  QApplication::setApplicationVersion(QStringLiteral(GREYLANE_VERSION));
  QApplication::setDesktopFileName(QStringLiteral("greylane-console"));

  QString error;
  const auto options = greylane::ParseConsoleOptions(arguments, &error);
  if (!options) {
    std::fprintf(stderr, "greylane-console: %s\n", qPrintable(error));
    return 2;
  }
  greylane::AgentDirectory directory(options->settings_file);
  greylane::CredentialStore credentials;
  if (options->no_keychain)
    credentials.UseMemoryOnly(QObject::tr("--no-keychain"));
  else if (!options->connect.isEmpty())
    credentials.UseMemoryOnly(QObject::tr("read from --token-file"));
  greylane::FleetModel fleet;
  greylane::MainWindow window(fleet, directory, credentials);
  window.RestoreWindowState();
  const bool dark = options->theme.isEmpty()
                        ? directory.Settings().value(QStringLiteral("dark"), false).toBool()
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
