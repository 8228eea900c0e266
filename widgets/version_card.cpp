#include "widgets/version_card.h"
#include "widgets/colour_roles.h"

#include <QLabel>
#include <QRegularExpression>
#include <QVBoxLayout>

#include <cmath>

namespace greylane {

VersionCard::VersionCard(const QColor& accent, QWidget* parent) : QFrame(parent), m_accent(accent) {
  setFrameShape(QFrame::StyledPanel);
  setObjectName(QStringLiteral("VersionCard"));
  auto* layout = new QVBoxLayout(this);
  layout->setSpacing(2);
  m_title = new QLabel;
  m_title->setTextFormat(Qt::RichText);
  m_health = new QLabel;
  m_health->setTextFormat(Qt::RichText);
  m_backend = new QLabel;
  m_backend->setTextFormat(Qt::PlainText);  // an agent's words, never markup
  m_backend->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_traffic = new QLabel;
  m_traffic->setTextFormat(Qt::RichText);
  m_latency = new QLabel;
  m_latency->setTextFormat(Qt::RichText);
  m_generation = new QLabel;
  m_generation->setTextFormat(Qt::RichText);
  m_generation->setWordWrap(true);
  m_generation->hide();
  for (QLabel* label : {m_title, m_health, m_backend, m_traffic, m_latency, m_generation}) {
    layout->addWidget(label);
  }
  // Long words from outside (a probe's message, a model path) must not
  // widen one card and squeeze the other: the health line wraps and is cut
  // to two lines' worth, the path is clipped; both whole in the tooltip.
  m_health->setWordWrap(true);
  m_backend->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  layout->addStretch(1);
  setMinimumWidth(260);
}

void VersionCard::Show(const VersionCardData& d) {
  if (!d.known) {
    m_title->setText(QStringLiteral("<span style='color:%1;font-size:large'>■</span> "
                                    "<b style='font-size:large'>%2</b>")
                         .arg(m_accent.name(), d.title.toHtmlEscaped()));
    m_health->setText(tr("no state from the agent yet"));
    m_health->setToolTip({});
    for (QLabel* label : {m_backend, m_traffic, m_latency, m_generation}) label->clear();
    m_generation->hide();
    return;
  }
  ShowGeneration(d);
  m_title->setText(QStringLiteral("<span style='color:%1;font-size:large'>■</span> "
                                  "<b style='font-size:large'>%2 %3</b>")
                       .arg(m_accent.name(), d.title.toHtmlEscaped(), d.version.toHtmlEscaped()));
  switch (d.health) {
    case VersionCardData::Health::Healthy:
      m_health->setText(
          tr("<span style='color:%1'>● healthy</span>").arg(RoleHex(ColourRole::kGood)));
      break;
    case VersionCardData::Health::Unhealthy:
      m_health->setText(
          tr("<span style='color:%1'><b>● UNHEALTHY</b></span> %2")
              .arg(RoleHex(ColourRole::kBad), (d.health_detail.size() > kShownDetailChars
                                                   ? d.health_detail.left(kShownDetailChars) + u'…'
                                                   : d.health_detail)
                                                  .toHtmlEscaped()));
      break;
    default:
      m_health->setText(tr("● health not probed yet"));
  }
  m_health->setToolTip(d.health_detail.isEmpty()
                           ? QString()
                           : QStringLiteral("<p style='white-space:pre-wrap'>%1</p>")
                                 .arg(d.health_detail.toHtmlEscaped()));
  m_backend->setText(d.backend);
  m_backend->setToolTip(d.backend);
  // Errors are what an on-call engineer must not miss: a share of 1 % or
  // more is red and large, any error red.
  const double error_percent = d.error_rate * 100;
  const QString errors = error_percent >= 1
                             ? tr("<b style='color:%2;font-size:x-large'>errors %1 %</b>")
                                   .arg(error_percent, 0, 'f', 1)
                                   .arg(RoleHex(ColourRole::kBad))
                         : error_percent > 0 ? tr("<span style='color:%2'>errors %1 %</span>")
                                                   .arg(error_percent, 0, 'f', 2)
                                                   .arg(RoleHex(ColourRole::kBad))
                                             : tr("errors 0 %");
  m_traffic->setText(tr("weight %1 %   ·   %2 req/s   ·   %3")
                         .arg(d.weight_percent, 0, 'f', 2)
                         .arg(d.requests_per_second, 0, 'f', 1)
                         .arg(errors));
  setToolTip(d.verdict);
  if (!d.has_traffic) {
    m_latency->setText(tr("p50 –  ·  p99 –  (no requests in the last %1 s)").arg(d.window_seconds));
    return;
  }
  if (d.successes == 0) {
    // A latency of nothing is not 0 ms: say that every request failed.
    m_latency->setText(tr("<b style='color:%3;font-size:large'>no successful requests</b> "
                          "(%1 failed in the last %2 s)")
                           .arg(d.requests)
                           .arg(d.window_seconds)
                           .arg(RoleHex(ColourRole::kBad)));
    return;
  }
  auto diff = [&](const QString& text) {
    if (text.isEmpty()) return QString();
    const QString colour = RoleHex(d.worse ? ColourRole::kBad : ColourRole::kMuted);
    return QStringLiteral(" <span style='color:%1'>(%2)</span>").arg(colour, text);
  };
  m_latency->setText(tr("p50 <b>%1 ms</b>%2  ·  p99 <b>%3 ms</b>%4  <small>n=%5, last %6 s</small>")
                         .arg(d.p50_ms, 0, 'f', 3)
                         .arg(diff(d.p50_diff))
                         .arg(d.p99_ms, 0, 'f', 3)
                         .arg(diff(d.p99_diff))
                         .arg(d.successes)
                         .arg(d.window_seconds));
}

void VersionCard::ShowGeneration(const VersionCardData& d) {
  m_generation->setVisible(d.generative);
  if (!d.generative) return;
  // Streams that ended without [DONE], usage or a finish reason are the
  // first sign a candidate answers differently: red whenever there is one.
  const QString integrity = d.integrity_problems == 0
                                ? tr("streams intact")
                                : tr("<b style='color:%2'>%1 broken streams</b>")
                                      .arg(d.integrity_problems)
                                      .arg(RoleHex(ColourRole::kBad));
  QString text = tr("TTFT p50 <b>%1 ms</b> p99 %2 ms  ·  ITL p50 <b>%3 ms</b> p99 %4 ms<br>"
                    "%5 tokens/s  ·  %6")
                     .arg(d.ttft_p50_ms, 0, 'f', 1)
                     .arg(d.ttft_p99_ms, 0, 'f', 1)
                     .arg(d.itl_p50_ms, 0, 'f', 1)
                     .arg(d.itl_p99_ms, 0, 'f', 1)
                     .arg(d.tokens_per_second, 0, 'f', 1)
                     .arg(integrity);
  if (d.output_divergence >= 0) {
    text += tr("  ·  output lengths %1 from baseline (KS %2)")
                .arg(d.output_divergence >= 0.2 ? tr("<b>differ</b>") : tr("close"))
                .arg(d.output_divergence, 0, 'f', 2);
  }
  m_generation->setText(text);
}

QString VersionCard::Text() const {
  QStringList parts;
  for (const QLabel* label : {m_title, m_health, m_backend, m_traffic, m_latency, m_generation}) {
    QString text = label->text();
    text.remove(QRegularExpression(QStringLiteral("<[^>]*>")));
    parts << text;
  }
  return parts.join(u'\n');
}

}  // namespace greylane
