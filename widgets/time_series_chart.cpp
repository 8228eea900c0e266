#include "widgets/time_series_chart.h"

#include <QBuffer>
#include <QChart>
#include <QContextMenuEvent>
#include <QDateTime>
#include <QLegend>
#include <QLegendMarker>
#include <QLineSeries>
#include <QMenu>
#include <QMouseEvent>
#include <QSvgGenerator>
#include <QValueAxis>

#include <algorithm>
#include <cmath>

namespace greylane {
namespace {
// The smallest "round" number (1, 2 or 5 times a power of ten) >= value.
double RoundUp(double value) {
  if (value <= 0) return 1;
  const double power = std::pow(10.0, std::floor(std::log10(value)));
  for (const double step : {1.0, 2.0, 5.0, 10.0}) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

QString FormatValue(double v, const QString& unit) {
  const int decimals = v >= 100 ? 0 : v >= 10 ? 1 : v >= 1 ? 2 : 3;
  return QStringLiteral("%1 %2").arg(v, 0, 'f', decimals).arg(unit);
}
}  // namespace

// The chart is handed to QChartView's constructor: setChart() would orphan
// the default chart QChartView(parent) makes (it "releases" it, unfreed).
TimeSeriesChart::TimeSeriesChart(const QString& left_title, const QString& right_title,
                                 QWidget* parent)
    : QChartView(new QChart, parent) {
  QChart* chart = this->chart();
  chart->setMargins(QMargins(4, 4, 4, 4));
  chart->legend()->setAlignment(Qt::AlignRight);  // beside the plot: height is scarcer than width
  // Each entry drawn as its line (solid p99, dashed p50), not as the same square.
  chart->legend()->setMarkerShape(QLegend::MarkerShapeFromSeries);
  chart->setAnimationOptions(QChart::NoAnimation);
  m_x = new QValueAxis;
  m_x->setLabelFormat(QStringLiteral("%.0f s"));
  m_x->setRange(-m_window, 0);
  m_x->setTickCount(7);
  chart->addAxis(m_x, Qt::AlignBottom);
  m_left = new QValueAxis;
  m_left->setTitleText(left_title);
  m_left->setLabelFormat(QStringLiteral("%.6g"));  // "2000", not "2e+03"
  m_left->setRange(0, 1);
  chart->addAxis(m_left, Qt::AlignLeft);
  if (!right_title.isEmpty()) {
    m_right = new QValueAxis;
    m_right->setTitleText(right_title);
    m_right->setLabelFormat(QStringLiteral("%.6g"));
    m_right->setRange(0, 1);
    chart->addAxis(m_right, Qt::AlignRight);
  }
  setRenderHint(QPainter::Antialiasing, true);
  setMouseTracking(true);
  setFocusPolicy(Qt::NoFocus);  // nothing to do with keys: Tab skips it
  setMinimumHeight(100);        // two charts, cards and the trail fit 1280x720
}

int TimeSeriesChart::AddSeries(const QString& name, const QColor& color, Qt::PenStyle style,
                               Axis axis, const QString& unit) {
  auto* line = new QLineSeries;
  line->setName(name);
  // Cosmetic one-pixel pens: with antialiasing, a 2 px or a dashed
  // non-cosmetic pen costs 3-7x more to paint per redraw (measured with
  // greylane-bench-console-redraw: 32 ms vs 4.6 ms for 8 series x 900 points).
  QPen pen(color);
  pen.setCosmetic(true);
  pen.setWidth(1);
  pen.setStyle(style);
  line->setPen(pen);
  chart()->addSeries(line);
  line->attachAxis(m_x);
  line->attachAxis(axis == Axis::Right && m_right ? m_right : m_left);
  Series series;
  series.line = line;
  series.axis = axis;
  series.unit = unit;
  m_series.push_back(std::move(series));
  return static_cast<int>(m_series.size()) - 1;
}

void TimeSeriesChart::SetSeriesName(int series, const QString& name) {
  QLineSeries* line = m_series[static_cast<size_t>(series)].line;
  if (line->name() != name) line->setName(name);
}

void TimeSeriesChart::SetPoints(int series, const QList<QPointF>& points) {
  Series& s = m_series[static_cast<size_t>(series)];
  if (ReplaceChangedPoints(s, points)) return;
  s.points = points;
  QList<QList<QPointF>> runs(1);
  for (const QPointF& p : points) {
    if (std::isnan(p.y())) {
      if (!runs.back().isEmpty() && runs.size() < kMaxSegments) runs.append(QList<QPointF>());
      continue;
    }
    runs.back().append(p);
  }
  if (runs.size() > 1 && runs.back().isEmpty()) runs.removeLast();
  // A lone point between gaps is no line at all: draw it as a dot.
  const auto dot_if_alone = [](QLineSeries* line, const QList<QPointF>& run) {
    if (line->pointsVisible() != (run.size() == 1)) line->setPointsVisible(run.size() == 1);
  };
  dot_if_alone(s.line, runs.front());
  s.line->replace(runs.front());
  const int extra = static_cast<int>(runs.size()) - 1;
  while (static_cast<int>(s.segments.size()) < extra) {
    auto* segment = new QLineSeries;
    segment->setPen(s.line->pen());
    chart()->addSeries(segment);
    segment->attachAxis(m_x);
    segment->attachAxis(s.axis == Axis::Right && m_right ? m_right : m_left);
    for (QLegendMarker* marker : chart()->legend()->markers(segment)) marker->setVisible(false);
    s.segments.push_back(segment);
  }
  for (int i = 0; i < static_cast<int>(s.segments.size()); ++i) {
    if (i < extra) {
      dot_if_alone(s.segments[static_cast<size_t>(i)], runs[i + 1]);
      s.segments[static_cast<size_t>(i)]->replace(runs[i + 1]);
    } else if (i < s.segments_used) {
      s.segments[static_cast<size_t>(i)]->clear();
    }
  }
  s.segments_used = extra;
}

bool TimeSeriesChart::ReplaceChangedPoints(Series& s, const QList<QPointF>& points) {
  // A re-read minute changes the newest point of 1440: replacing those few
  // costs microseconds, the whole series milliseconds. Only for a series
  // drawn as one line without gaps, before and after.
  constexpr qsizetype kFew = 4;
  if (s.segments_used != 0 || points.size() != s.points.size() || points.size() < 64 ||
      s.line->count() != points.size()) {
    return false;
  }
  QList<qsizetype> changed;
  for (qsizetype i = 0; i < points.size(); ++i) {
    if (points[i] == s.points[i]) continue;
    if (std::isnan(points[i].y()) || changed.size() == kFew) return false;
    changed.append(i);
  }
  for (const qsizetype i : changed) s.line->replace(static_cast<int>(i), points[i]);
  for (const qsizetype i : changed) s.points[i] = points[i];
  return true;
}

int TimeSeriesChart::SegmentCount(int series) const {
  const Series& s = m_series[static_cast<size_t>(series)];
  return 1 + s.segments_used;
}

void TimeSeriesChart::SetTimeOrigin(int64_t unix_ms) {
  m_origin_unix_ms = unix_ms;
  const QString at = QDateTime::fromMSecsSinceEpoch(unix_ms).toString(QStringLiteral("HH:mm:ss"));
  const QString title = !unix_ms                  ? QString()
                        : m_seconds_per_x >= 3600 ? tr("hours before %1").arg(at)
                        : m_seconds_per_x >= 60   ? tr("minutes before %1").arg(at)
                                                  : tr("seconds before %1").arg(at);
  if (m_x->titleText() != title) m_x->setTitleText(title);
}

void TimeSeriesChart::SetTimeUnit(double seconds_per_x, double point_seconds) {
  m_point_seconds = point_seconds;
  if (m_seconds_per_x == seconds_per_x) return;
  m_seconds_per_x = seconds_per_x;
  m_x->setLabelFormat(seconds_per_x >= 3600 ? QStringLiteral("%.0f h")
                      : seconds_per_x >= 60 ? QStringLiteral("%.0f min")
                                            : QStringLiteral("%.0f s"));
  SetTimeOrigin(m_origin_unix_ms);  // retitle: seconds or minutes before
}

QByteArray TimeSeriesChart::Image(const QString& format) {
  QBuffer buffer;
  buffer.open(QIODevice::WriteOnly);
  if (format == QLatin1String("svg")) {
    QSvgGenerator svg;
    svg.setOutputDevice(&buffer);
    svg.setSize(size());
    svg.setViewBox(rect());
    svg.setTitle(chart()->title().isEmpty() ? m_left->titleText() : chart()->title());
    svg.setDescription(m_x->titleText());
    QPainter painter(&svg);
    render(&painter);
    painter.end();
  } else if (format == QLatin1String("png")) {
    if (!grab().save(&buffer, "PNG")) return {};
  } else {
    return {};
  }
  return buffer.data();
}

void TimeSeriesChart::contextMenuEvent(QContextMenuEvent* event) {
  QMenu menu(this);
  menu.addAction(tr("Save as &PNG…"), this,
                 [this] { emit saveImageRequested(QStringLiteral("png")); });
  menu.addAction(tr("Save as &SVG…"), this,
                 [this] { emit saveImageRequested(QStringLiteral("svg")); });
  menu.exec(event->globalPos());
}

void TimeSeriesChart::SetMarkers(QList<ChartMarker> markers) {
  m_markers = std::move(markers);
  viewport()->update();
}

void TimeSeriesChart::SetWindow(double seconds) {
  m_window = seconds;
  m_x->setRange(-seconds, 0);
  RescaleValues();
}

void TimeSeriesChart::RescaleValues() {
  double left = 0, right = 0;
  for (const Series& s : m_series) {
    double top = 0;
    // Points are ascending in x: walk back from the newest to the window's start.
    for (auto it = s.points.crbegin(); it != s.points.crend() && it->x() >= -m_window; ++it) {
      top = std::max(top, it->y());
    }
    (s.axis == Axis::Right && m_right ? right : left) =
        std::max(s.axis == Axis::Right && m_right ? right : left, top);
  }
  m_left->setRange(0, RoundUp(left * 1.1));
  if (m_right) m_right->setRange(0, RoundUp(right * 1.1));
}

void TimeSeriesChart::SetDark(bool dark) {
  m_dark = dark;
  const QColor background = dark ? QColor(0x1e, 0x21, 0x26) : QColor(Qt::white);
  const QColor text = dark ? QColor(0xd8, 0xdc, 0xe2) : QColor(0x30, 0x30, 0x30);
  const QColor grid = dark ? QColor(0x3a, 0x3f, 0x47) : QColor(0xdd, 0xdd, 0xdd);
  chart()->setBackgroundBrush(background);
  chart()->setPlotAreaBackgroundVisible(false);
  chart()->legend()->setLabelColor(text);
  for (QValueAxis* axis : {m_x, m_left, m_right}) {
    if (!axis) continue;
    axis->setLabelsColor(text);
    axis->setTitleBrush(text);
    axis->setGridLineColor(grid);
    axis->setLinePenColor(grid);
  }
  setBackgroundBrush(background);
  viewport()->update();
}

QString TimeSeriesChart::ReadoutAt(double x) const {
  const QString unit = m_seconds_per_x >= 3600 ? tr("h")
                       : m_seconds_per_x >= 60 ? tr("min")
                                               : tr("s");
  QStringList lines{m_origin_unix_ms
                        ? tr("%1 (%2 %3)")
                              .arg(QDateTime::fromMSecsSinceEpoch(
                                       m_origin_unix_ms + std::llround(x * m_seconds_per_x * 1000))
                                       .toString(QStringLiteral("HH:mm:ss")))
                              .arg(x, 0, 'f', m_seconds_per_x >= 3600 ? 2 : 0)
                              .arg(unit)
                        : tr("%1 %2").arg(x, 0, 'f', 0).arg(unit)};
  for (const Series& s : m_series) {
    const auto it = std::lower_bound(s.points.cbegin(), s.points.cend(), x,
                                     [](const QPointF& p, double v) { return p.x() < v; });
    const QPointF* nearest = nullptr;
    if (it != s.points.cend()) nearest = &*it;
    if (it != s.points.cbegin() &&
        (!nearest || std::abs(std::prev(it)->x() - x) < std::abs(nearest->x() - x))) {
      nearest = &*std::prev(it);
    }
    if (nearest && std::abs(nearest->x() - x) <= 1.5 * m_point_seconds / m_seconds_per_x) {
      lines << QStringLiteral("%1: %2").arg(
          s.line->name(),
          std::isnan(nearest->y()) ? tr("no data") : FormatValue(nearest->y(), s.unit));
    }
  }
  return lines.join(u'\n');
}

void TimeSeriesChart::resizeEvent(QResizeEvent* event) {
  QChartView::resizeEvent(event);
  // A flat chart (a short screen) elides five value labels to "…": three fit.
  const int ticks = height() < 190 ? 3 : 5;
  for (QValueAxis* axis : {m_left, m_right}) {
    if (axis && axis->tickCount() != ticks) axis->setTickCount(ticks);
  }
  // A narrow chart (side by side on a small screen) elides "-250 s" to "…".
  const int x_ticks = width() < 560 ? 4 : 7;
  if (m_x->tickCount() != x_ticks) m_x->setTickCount(x_ticks);
}

void TimeSeriesChart::mouseMoveEvent(QMouseEvent* event) {
  const QPointF at = chart()->mapFromScene(mapToScene(event->position().toPoint()));
  const bool inside = chart()->plotArea().contains(at) && !m_series.empty();
  if (inside) m_hover_x = chart()->mapToValue(at, m_series.front().line).x();
  if (inside || m_hovering) {
    m_hovering = inside;
    viewport()->update();
  }
  QChartView::mouseMoveEvent(event);
}

void TimeSeriesChart::leaveEvent(QEvent* event) {
  m_hovering = false;
  viewport()->update();
  QChartView::leaveEvent(event);
}

void TimeSeriesChart::SetThresholds(QList<ChartThreshold> thresholds) {
  if (thresholds.size() == m_thresholds.size() &&
      std::equal(thresholds.begin(), thresholds.end(), m_thresholds.begin(),
                 [](const ChartThreshold& a, const ChartThreshold& b) {
                   return a.value == b.value && a.label == b.label && a.color == b.color;
                 })) {
    return;  // nothing to repaint
  }
  m_thresholds = std::move(thresholds);
  viewport()->update();
}

void TimeSeriesChart::DrawLevelsAbove(QPainter* painter, const QRectF& plot,
                                      QLineSeries* reference) {
  // Levels above the visible range are named in one line over the plot's
  // top right corner, outside it (inside belongs to the data and markers).
  QStringList above;
  QColor colour;
  for (const ChartThreshold& t : m_thresholds) {
    const qreal y = chart()->mapToScene(chart()->mapToPosition({0, t.value}, reference)).y();
    if (y > plot.top()) continue;
    above << t.label;
    if (!colour.isValid()) colour = t.color;
  }
  if (above.isEmpty()) return;
  const QString text = above.join(QStringLiteral(" · ")) + tr(" (above the chart)");
  painter->save();
  const QFontMetrics metrics(painter->font());
  painter->setPen(colour);
  painter->drawText(
      QPointF(plot.right() - metrics.horizontalAdvance(text), plot.top() - metrics.descent() - 2),
      text);
  painter->restore();
}

void TimeSeriesChart::drawForeground(QPainter* painter, const QRectF& rect) {
  QChartView::drawForeground(painter, rect);
  if (m_series.empty()) return;
  QLineSeries* reference = m_series.front().line;
  const QRectF plot = chart()->mapToScene(chart()->plotArea()).boundingRect();
  DrawLevelsAbove(painter, plot, reference);
  painter->save();
  painter->setClipRect(plot.adjusted(0, -2, 2, 2));
  const QFontMetrics metrics(painter->font());
  for (const ChartThreshold& t : m_thresholds) {
    const qreal y = chart()->mapToScene(chart()->mapToPosition({0, t.value}, reference)).y();
    if (y <= plot.top()) continue;  // named above the plot
    QColor band = t.color;
    band.setAlpha(28);
    painter->fillRect(QRectF(QPointF(plot.left(), plot.top()), QPointF(plot.right(), y)), band);
    painter->setPen(QPen(t.color, 1.4, Qt::DashLine));
    painter->drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y));
    painter->setPen(t.color);
    painter->drawText(
        QPointF(plot.right() - metrics.horizontalAdvance(t.label) - 4, y - metrics.descent() - 1),
        t.label);
  }
  // Labels never overlap: each takes the first free row in the top half of
  // the plot, newest markers first (the trail is walked newest first); one
  // that finds no room is left out and counted.
  std::vector<QRectF> taken;
  const int rows = std::max(1, static_cast<int>(plot.height() / 2 / metrics.height()));
  int left_out = 0;
  for (const ChartMarker& marker : m_markers) {
    if (marker.x < -m_window || marker.x > 0) continue;
    const qreal x = chart()->mapToScene(chart()->mapToPosition({marker.x, 0}, reference)).x();
    painter->setPen(QPen(marker.color, 1.2, Qt::DashDotLine));
    painter->drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()));
    painter->setPen(marker.color);
    // Right of the line, or left of it near the right edge.
    const qreal width = metrics.horizontalAdvance(marker.label);
    const qreal text_x = x + 3 + width > plot.right() ? x - 3 - width : x + 3;
    bool placed = false;
    for (int row = 0; row < rows && !placed; ++row) {
      const QRectF box(text_x - 2, plot.top() + 2 + row * metrics.height(), width + 4,
                       metrics.height());
      if (std::any_of(taken.begin(), taken.end(),
                      [&](const QRectF& other) { return other.intersects(box); })) {
        continue;
      }
      painter->drawText(QPointF(text_x, box.top() + metrics.ascent()), marker.label);
      taken.push_back(box);
      placed = true;
    }
    left_out += placed ? 0 : 1;
  }
  m_labels_left_out = left_out;
  if (left_out > 0) {
    const QString more = tr("+%n more change(s): see the audit trail", nullptr, left_out);
    painter->setPen(m_dark ? QColor(0xb0, 0xb6, 0xbe) : QColor(0x60, 0x66, 0x6e));
    painter->drawText(QPointF(plot.left() + 4, plot.bottom() - metrics.descent() - 2), more);
  }
  if (m_hovering) {
    const qreal x = chart()->mapToScene(chart()->mapToPosition({m_hover_x, 0}, reference)).x();
    const QColor ink = m_dark ? QColor(0xee, 0xee, 0xee) : QColor(0x20, 0x20, 0x20);
    painter->setPen(QPen(ink, 1, Qt::DotLine));
    painter->drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()));
    const QString text = ReadoutAt(m_hover_x);
    QRectF box = metrics.boundingRect(QRect(0, 0, 400, 400), Qt::AlignLeft, text);
    box.adjust(-6, -4, 6, 4);
    box.moveTopLeft(QPointF(x + 8, plot.top() + 8));
    if (box.right() > plot.right()) box.moveRight(x - 8);
    painter->setPen(ink);
    painter->setBrush(m_dark ? QColor(0x2b, 0x2f, 0x36, 235) : QColor(0xff, 0xff, 0xff, 235));
    painter->drawRect(box);
    painter->drawText(box.adjusted(6, 4, -6, -4), Qt::AlignLeft, text);
  }
  painter->restore();
}

}  // namespace greylane
