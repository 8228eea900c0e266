#pragma once
// greylane-console's command line. --connect is for scripts and the demo:
// those agents are not saved in settings and their tokens stay in memory.
#include <QList>
#include <QString>
#include <QStringList>

#include <optional>

#include "app/agent_client.h"

namespace greylane {

struct ConsoleOptions {
  QList<AgentEndpoint> connect;  // with tokens read from --token-file
  QString settings_file;         // "" : the platform's usual place
  QString screenshot;            // render the window to this PNG, then quit
  int quit_after_ms = -1;        // quit after this long (screenshot taken then)
  QString theme;                 // "" | light | dark
  bool no_keychain = false;
};

// Parses arguments (argv[0] first). On a mistake returns nullopt and sets
// error to a message naming the fix; --help and --version print and exit.
std::optional<ConsoleOptions> ParseConsoleOptions(const QStringList& arguments, QString* error);

}  // namespace greylane
