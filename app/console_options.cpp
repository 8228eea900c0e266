#include "app/console_options.h"

#include <QCommandLineParser>
#include <QRegularExpression>

#include "common/client_token.h"

namespace greylane {

std::optional<ConsoleOptions> ParseConsoleOptions(const QStringList& arguments, QString* error) {
  QCommandLineParser parser;
  parser.setApplicationDescription(
      QStringLiteral("Greylane console: watch canary releases, shift traffic, roll back."));
  parser.addHelpOption();
  parser.addVersionOption();
  const QCommandLineOption connect(
      {QStringLiteral("c"), QStringLiteral("connect")},
      QStringLiteral("Connect to the agent at HOST:PORT (repeatable)."),
      QStringLiteral("HOST:PORT"));
  const QCommandLineOption token_file(
      QStringLiteral("token-file"),
      QStringLiteral("Token for --connect: a file with the token, or the demo format "
                     "'role identity token' per line (the --role line is used). One for "
                     "every agent, or one per --connect, in order."),
      QStringLiteral("FILE"));
  const QCommandLineOption role(
      QStringLiteral("role"),
      QStringLiteral("Which line of a demo token file (default operator); one for every "
                     "agent, or one per --connect, in order."),
      QStringLiteral("ROLE"), QStringLiteral("operator"));
  const QCommandLineOption name(
      QStringLiteral("name"), QStringLiteral("Display name for --connect (repeatable, in order)."),
      QStringLiteral("NAME"));
  const QCommandLineOption ca(QStringLiteral("tls-ca"),
                              QStringLiteral("Use TLS for --connect, trusting this CA."),
                              QStringLiteral("FILE"));
  const QCommandLineOption cert(QStringLiteral("tls-cert"),
                                QStringLiteral("Client certificate for mutual TLS."),
                                QStringLiteral("FILE"));
  const QCommandLineOption key(QStringLiteral("tls-key"),
                               QStringLiteral("Client key for mutual TLS."),
                               QStringLiteral("FILE"));
  const QCommandLineOption screenshot(QStringLiteral("screenshot"),
                                      QStringLiteral("Save the main window as a PNG, then quit."),
                                      QStringLiteral("PATH"));
  const QCommandLineOption quit_after(
      QStringLiteral("quit-after"),
      QStringLiteral("Quit after MS milliseconds (the screenshot is taken then; default 5000 "
                     "with --screenshot)."),
      QStringLiteral("MS"));
  const QCommandLineOption settings(QStringLiteral("settings"),
                                    QStringLiteral("Keep settings in this INI file."),
                                    QStringLiteral("FILE"));
  const QCommandLineOption theme(QStringLiteral("theme"), QStringLiteral("light or dark."),
                                 QStringLiteral("THEME"));
  const QCommandLineOption no_keychain(QStringLiteral("no-keychain"),
                                       QStringLiteral("Keep tokens in memory only for this run."));
  parser.addOptions({connect, token_file, role, name, ca, cert, key, screenshot, quit_after,
                     settings, theme, no_keychain});
  parser.process(arguments);  // exits for --help, --version and unknown options

  ConsoleOptions options;
  options.settings_file = parser.value(settings);
  options.screenshot = parser.value(screenshot);
  options.no_keychain = parser.isSet(no_keychain);
  options.theme = parser.value(theme);
  if (!options.theme.isEmpty() && options.theme != QLatin1String("light") &&
      options.theme != QLatin1String("dark")) {
    *error = QStringLiteral("--theme must be light or dark, not '%1'").arg(options.theme);
    return std::nullopt;
  }
  if (parser.isSet(quit_after)) {
    bool ok = false;
    options.quit_after_ms = parser.value(quit_after).toInt(&ok);
    if (!ok || options.quit_after_ms < 0) {
      *error =
          QStringLiteral("--quit-after takes milliseconds, not '%1'").arg(parser.value(quit_after));
      return std::nullopt;
    }
  } else if (!options.screenshot.isEmpty()) {
    options.quit_after_ms = 5000;
  }

  const QStringList addresses = parser.values(connect);
  const QStringList names = parser.values(name);
  if (addresses.isEmpty() && (parser.isSet(token_file) || !names.isEmpty())) {
    *error = QStringLiteral("--token-file and --name go with --connect HOST:PORT");
    return std::nullopt;
  }
  if (addresses.isEmpty()) return options;
  if (names.size() > addresses.size()) {
    *error = QStringLiteral("%1 --name for %2 --connect: one name per agent, in order")
                 .arg(names.size())
                 .arg(addresses.size());
    return std::nullopt;
  }
  const QStringList token_files = parser.values(token_file);
  if (token_files.isEmpty()) {
    *error = QStringLiteral(
        "--connect needs --token-file FILE (the agent refuses calls without "
        "a token)");
    return std::nullopt;
  }
  if (token_files.size() != 1 && token_files.size() != addresses.size()) {
    *error = QStringLiteral(
                 "give one --token-file for every agent, or one per --connect in order "
                 "(%1 --connect, %2 --token-file)")
                 .arg(addresses.size())
                 .arg(token_files.size());
    return std::nullopt;
  }
  const QStringList roles = parser.values(role);
  if (roles.size() != 1 && roles.size() != addresses.size()) {
    *error = QStringLiteral(
                 "give one --role for every agent, or one per --connect in order "
                 "(%1 --connect, %2 --role)")
                 .arg(addresses.size())
                 .arg(roles.size());
    return std::nullopt;
  }
  // One token per agent: its file (or the only one) read for its role.
  QStringList tokens;
  for (int i = 0; i < addresses.size(); ++i) {
    const QString& file = token_files.size() == 1 ? token_files.front() : token_files[i];
    const QString& wanted = roles.size() == 1 ? roles.front() : roles[i];
    const auto token = ReadTokenFile(file.toStdString(), wanted.toStdString());
    if (!token.ok()) {
      *error = QString::fromStdString(std::string(token.status().message()));
      return std::nullopt;
    }
    tokens << QString::fromStdString(token->token);
  }
  static const QRegularExpression kAddress(
      QStringLiteral(R"(^(\[[0-9a-fA-F:]+\]|[^\s:]+):\d{1,5}$)"));
  for (int i = 0; i < addresses.size(); ++i) {
    if (!kAddress.match(addresses[i]).hasMatch()) {
      *error = QStringLiteral("--connect takes HOST:PORT, not '%1'").arg(addresses[i]);
      return std::nullopt;
    }
    AgentEndpoint e;
    e.address = addresses[i];
    e.name = i < names.size() ? names[i] : addresses[i];
    e.token = tokens[i];
    e.ca_file = parser.value(ca);
    e.cert_file = parser.value(cert);
    e.key_file = parser.value(key);
    if (!e.ca_file.isEmpty()) e.security = AgentEndpoint::Security::Tls;
    if (!e.cert_file.isEmpty()) e.security = AgentEndpoint::Security::MutualTls;
    for (const AgentEndpoint& other : options.connect) {
      if (other.name == e.name) {
        *error =
            QStringLiteral("two agents named '%1': give each --connect its own --name").arg(e.name);
        return std::nullopt;
      }
    }
    options.connect.append(e);
  }
  return options;
}

}  // namespace greylane
