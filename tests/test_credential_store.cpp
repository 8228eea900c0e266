// Tokens in the desktop keychain, for real: ctest runs keychainRoundTrip
// under a private D-Bus session with an unlocked gnome-keyring-daemon, and
// memoryFallbackWithoutService with no D-Bus at all; and the console restoring
// a saved agent with its token from the keychain.
#include <QtTest>

#include <QTemporaryDir>

#include "app/agent_directory.h"
#include "app/credential_store.h"
#include "app/fleet_model.h"
#include "ui/main_window.h"

using greylane::CredentialStore;

class TestCredentialStore final : public QObject {
  Q_OBJECT

 private slots:
  void memoryFallbackWithoutService() const {
    CredentialStore store(QStringLiteral("greylane-test"));
    QSignalSpy saved(&store, &CredentialStore::saved);
    QElapsedTimer clock;
    clock.start();
    store.Save(QStringLiteral("node-a"), QStringLiteral("glt_secret_a"));
    QVERIFY(saved.wait(CredentialStore::kTimeoutMs + 2000));
    QCOMPARE(saved.at(0).at(1).toBool(), false);
    QCOMPARE(store.CurrentMode(), CredentialStore::Mode::MemoryOnly);
    QVERIFY2(store.ModeDetail().contains("memory for this run only"),
             qPrintable(store.ModeDetail()));
    qInfo("fell back after %lld ms: %s", clock.elapsed(), qPrintable(store.ModeDetail()));
    // Still usable for this run.
    QSignalSpy loaded(&store, &CredentialStore::loaded);
    store.Load(QStringLiteral("node-a"));
    QVERIFY(loaded.wait(2000));
    QCOMPARE(loaded.at(0).at(1).toString(), QStringLiteral("glt_secret_a"));
    QCOMPARE(loaded.at(0).at(2).toBool(), true);
    // Unknown agents are simply not found, at once.
    loaded.clear();
    store.Load(QStringLiteral("node-b"));
    QVERIFY(loaded.wait(2000));
    QCOMPARE(loaded.at(0).at(2).toBool(), false);
  }

  void keychainRoundTrip() const {
    if (qEnvironmentVariable("GREYLANE_KEYCHAIN_TEST") != QLatin1String("1")) {
      QSKIP("needs the D-Bus session ctest sets up (test_credential_store_keychain)");
    }
    const QString agent = QStringLiteral("node-%1").arg(QCoreApplication::applicationPid());
    {
      CredentialStore store(QStringLiteral("greylane-test"));
      QSignalSpy saved(&store, &CredentialStore::saved);
      store.Save(agent, QStringLiteral("glt_from_the_keychain"));
      QVERIFY(saved.wait(CredentialStore::kTimeoutMs + 2000));
      QVERIFY2(saved.at(0).at(1).toBool(), qPrintable(store.ModeDetail()));
      QCOMPARE(store.CurrentMode(), CredentialStore::Mode::Keychain);
    }
    {
      // A new store (a new run): nothing in memory, so it comes from the keychain.
      CredentialStore store(QStringLiteral("greylane-test"));
      QVERIFY(store.InMemory(agent).isEmpty());
      QSignalSpy loaded(&store, &CredentialStore::loaded);
      store.Load(agent);
      QVERIFY(loaded.wait(CredentialStore::kTimeoutMs + 2000));
      QCOMPARE(loaded.at(0).at(1).toString(), QStringLiteral("glt_from_the_keychain"));
      QCOMPARE(loaded.at(0).at(2).toBool(), true);
      store.Forget(agent);
    }
    {
      CredentialStore store(QStringLiteral("greylane-test"));
      QSignalSpy loaded(&store, &CredentialStore::loaded);
      // Forget is asynchronous; poll until the deletion has landed.
      QTRY_VERIFY_WITH_TIMEOUT(
          [&] {
            loaded.clear();
            store.Load(agent);
            return loaded.wait(CredentialStore::kTimeoutMs + 2000) && !loaded.at(0).at(2).toBool();
          }(),
          10000);
      QCOMPARE(store.CurrentMode(), CredentialStore::Mode::Keychain);
    }
  }

  // The console's own path: an agent added with its token, the console
  // closed, a new console restores the agent with the token from the
  // keychain, and the settings file never held it.
  void savedAgentComesBackWithItsToken() const {
    if (qEnvironmentVariable("GREYLANE_KEYCHAIN_TEST") != QLatin1String("1")) {
      QSKIP("needs the D-Bus session ctest sets up (test_credential_store_keychain)");
    }
    QTemporaryDir dir;
    const QString ini = dir.filePath("console.ini");
    const QString name = QStringLiteral("gpu-%1").arg(QCoreApplication::applicationPid());
    {
      greylane::AgentDirectory directory(ini);
      greylane::CredentialStore credentials(QStringLiteral("greylane-test"));
      greylane::FleetModel fleet;
      greylane::MainWindow window(fleet, directory, credentials);
      QSignalSpy saved(&credentials, &CredentialStore::saved);
      greylane::AgentEndpoint e;
      e.name = name;
      e.address = QStringLiteral("127.0.0.1:1");
      e.token = QStringLiteral("glt_kept_in_the_keychain");
      credentials.Save(e.name, e.token);  // what the connect dialog does
      QVERIFY(window.AddAgent(e, true));
      QVERIFY(saved.wait(CredentialStore::kTimeoutMs + 2000));
      QVERIFY(saved.at(0).at(1).toBool());
    }
    QFile file(ini);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QByteArray settings = file.readAll();
    QVERIFY(settings.contains(name.toUtf8()));
    QVERIFY(!settings.contains("glt_kept_in_the_keychain"));
    greylane::AgentDirectory directory(ini);
    greylane::CredentialStore credentials(QStringLiteral("greylane-test"));
    greylane::FleetModel fleet;
    greylane::MainWindow window(fleet, directory, credentials);
    window.RestoreSavedAgents();
    QTRY_COMPARE_WITH_TIMEOUT(fleet.Count(), 1, CredentialStore::kTimeoutMs + 2000);
    QCOMPARE(fleet.At(0)->Client().Endpoint().token, QStringLiteral("glt_kept_in_the_keychain"));
    QCOMPARE(credentials.CurrentMode(), CredentialStore::Mode::Keychain);
    credentials.Forget(name);
  }
};

QTEST_MAIN(TestCredentialStore)
#include "test_credential_store.moc"
