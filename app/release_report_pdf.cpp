#include "app/release_report_pdf.h"

#include <QBuffer>
#include <QGuiApplication>
#include <QImage>
#include <QPageSize>
#include <QPainter>
#include <QPdfWriter>
#include <QSvgRenderer>
#include <QTextDocument>
#include <QUrl>

#include <cstdio>

namespace greylane {

absl::StatusOr<std::string> ReleaseReportPdf(const ReleaseReport& report) {
  if (!QGuiApplication::instance()) {
    return absl::FailedPreconditionError("printing a PDF needs a QGuiApplication");
  }
  // The chart at twice its printed size, so it stays sharp on paper.
  const int width = 900, height = 300;
  QSvgRenderer svg(QByteArray::fromStdString(ReportTimelineSvg(report, width, height)));
  if (!svg.isValid()) return absl::InternalError("the timeline chart could not be drawn");
  QImage chart(width * 2, height * 2, QImage::Format_RGB32);
  chart.fill(Qt::white);
  {
    QPainter painter(&chart);
    painter.setRenderHint(QPainter::Antialiasing);
    svg.render(&painter);
  }
  QTextDocument document;
  document.addResource(QTextDocument::ImageResource, QUrl(QString::fromLatin1(kReportChartUrl)),
                       chart);
  document.setHtml(QString::fromStdString(ReportHtml(report, ChartEmbed::kImage)));

  QByteArray bytes;
  QBuffer buffer(&bytes);
  buffer.open(QIODevice::WriteOnly);
  {
    QPdfWriter writer(&buffer);
    writer.setPageSize(QPageSize(QPageSize::A4));
    writer.setPageOrientation(QPageLayout::Landscape);
    writer.setPageMargins(QMarginsF(12, 12, 12, 12), QPageLayout::Millimeter);
    writer.setTitle(QStringLiteral("Release report: %1 on %2")
                        .arg(QString::fromStdString(report.model_name),
                             QString::fromStdString(report.agent_id)));
    writer.setCreator(QStringLiteral("Greylane"));
    writer.setResolution(96);
    document.setPageSize(writer.pageLayout().paintRectPixels(writer.resolution()).size());
    document.print(&writer);
  }
  if (bytes.isEmpty()) return absl::InternalError("Qt wrote an empty PDF");
  return bytes.toStdString();
}

absl::StatusOr<std::string> ReleaseReportPdfStandalone(const ReleaseReport& report) {
  if (QGuiApplication::instance()) return ReleaseReportPdf(report);
  // No window is shown: the offscreen platform needs no display.
  if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
  // Qt's chatter (a missing XDG_RUNTIME_DIR, font fallbacks) is not the
  // user's business in a command-line tool; its errors still show.
  qInstallMessageHandler([](QtMsgType type, const QMessageLogContext&, const QString& message) {
    if (type == QtCriticalMsg || type == QtFatalMsg) {
      std::fprintf(stderr, "%s\n", qPrintable(message));
    }
  });
  int argc = 1;
  char name[] = "greylane-report";
  char* argv[] = {name, nullptr};
  QGuiApplication app(argc, argv);
  return ReleaseReportPdf(report);
}

}  // namespace greylane
