// Tokens in the desktop keychain, for real: ctest runs keychainRoundTrip
// under a private D-Bus session with an unlocked gnome-keyring-daemon, and
// memoryFallbackWithoutService with no D-Bus at all.
#include <QtTest>

#include "app/credential_store.h"

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
};

QTEST_GUILESS_MAIN(TestCredentialStore)
#include "test_credential_store.moc"
