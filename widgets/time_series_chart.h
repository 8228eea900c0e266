#pragma once
// A Qt Charts view of a few time series over the last N seconds or minutes
// (x is relative to the newest point, so -900..0 for 15 minutes), with a
// left and an optional right value axis, vertical event markers with labels
// and a hover read-out of every series at the cursor. It is fed whole
// series at once (one QXYSeries::replace() per series per redraw); the
// owner decides when to redraw, so pausing is simply not feeding it.
//
// A point with a NaN value is a gap: the line stops there and starts again
// at the next point (Qt Charts ignores NaN and would bridge it), drawn as
// separate line segments, each replaced once per redraw.
#include <QChartView>
#include <QColor>
#include <QList>
#include <QPointF>
#include <QString>

#include <vector>

class QLineSeries;
class QValueAxis;

namespace greylane {

struct ChartMarker {
  double x = 0;  // seconds, same scale as the points
  QString label;
  QColor color;
};

// A level on the left axis (a policy's warning or failing p99): a line,
// and a tinted band above it; a level above the visible range is named at
// the top edge instead of stretching the axis away from the data.
struct ChartThreshold {
  double value = 0;
  QString label;
  QColor color;
};

class TimeSeriesChart final : public QChartView {
  Q_OBJECT

 public:
  enum class Axis { Left, Right };

  explicit TimeSeriesChart(const QString& left_title, const QString& right_title = {},
                           QWidget* parent = nullptr);

  int AddSeries(const QString& name, const QColor& color, Qt::PenStyle style, Axis axis,
                const QString& unit);
  void SetSeriesName(int series, const QString& name);
  // Replaces a series' points (x ascending; a NaN value is a gap).
  void SetPoints(int series, const QList<QPointF>& points);
  // The wall-clock time of x = 0 (ms since the epoch), for the axis title
  // and the read-out (HH:MM:SS, so events line up with other dashboards).
  void SetTimeOrigin(int64_t unix_ms);
  // What one unit of x is (1 s, 60 s or 3600 s) and how far apart the
  // points are in seconds (the read-out takes the nearest within 1.5 steps).
  void SetTimeUnit(double seconds_per_x, double point_seconds);
  double SecondsPerX() const { return m_seconds_per_x; }
  // The chart as a "png" or "svg" file's bytes (empty if it cannot be).
  QByteArray Image(const QString& format);

 signals:
  // The context menu's Save as PNG… / SVG…: the owner asks where and writes.
  void saveImageRequested(const QString& format);

 public:
  // The line segments a series is drawn with now (gaps + 1), for tests.
  int SegmentCount(int series) const;
  static constexpr int kMaxSegments = 64;  // beyond: the last segment bridges
  void SetMarkers(QList<ChartMarker> markers);
  void SetThresholds(QList<ChartThreshold> thresholds);
  const QList<ChartThreshold>& Thresholds() const { return m_thresholds; }
  // Shows [-seconds, 0] and rescales the value axes to the visible data.
  void SetWindow(double seconds);
  void RescaleValues();
  void SetDark(bool dark);
  // The read-out the hover shows at chart x (also used by tests).
  QString ReadoutAt(double x) const;
  double WindowSeconds() const { return m_window; }
  // Marker labels the last paint had no room for (they never overlap).
  int LabelsLeftOut() const { return m_labels_left_out; }
  int SeriesCount() const { return static_cast<int>(m_series.size()); }
  const QList<QPointF>& Points(int series) const { return m_series[series].points; }

 protected:
  void resizeEvent(QResizeEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void leaveEvent(QEvent* event) override;
  void drawForeground(QPainter* painter, const QRectF& rect) override;
  void contextMenuEvent(QContextMenuEvent* event) override;

 private:
  struct Series {
    QLineSeries* line = nullptr;
    std::vector<QLineSeries*> segments;  // after the first gap, created on demand
    int segments_used = 0;
    Axis axis = Axis::Left;
    QString unit;
    QList<QPointF> points;
  };
  void DrawLevelsAbove(QPainter* painter, const QRectF& plot, QLineSeries* reference);
  // Replaces only the few points that changed (false: replace them all).
  static bool ReplaceChangedPoints(Series& s, const QList<QPointF>& points);
  std::vector<Series> m_series;
  QValueAxis* m_x = nullptr;
  QValueAxis* m_left = nullptr;
  QValueAxis* m_right = nullptr;
  QList<ChartMarker> m_markers;
  QList<ChartThreshold> m_thresholds;
  double m_window = 300;
  int64_t m_origin_unix_ms = 0;
  double m_seconds_per_x = 1;
  double m_point_seconds = 1;
  bool m_hovering = false;
  double m_hover_x = 0;
  bool m_dark = false;
  int m_labels_left_out = 0;
};

}  // namespace greylane
