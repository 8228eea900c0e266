#include "widgets/audit_trail_view.h"
#include "widgets/colour_roles.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QIdentityProxyModel>
#include <QLabel>
#include <QLineEdit>
#include <QPalette>
#include <QPushButton>
#include <QRegularExpression>
#include <QScrollBar>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QTimer>
#include <QVBoxLayout>

namespace greylane {
namespace {
constexpr int kMaxColumnWidth = 380;
}  // namespace

// Colours refused attempts from the model's outcome role, readable on both
// light and dark palettes (a tinted background, the palette's own text).
class OutcomeTint final : public QIdentityProxyModel {
 public:
  OutcomeTint(int outcome_role, QObject* parent)
      : QIdentityProxyModel(parent), m_role(outcome_role) {}
  QVariant data(const QModelIndex& index, int role) const override {
    if (role == Qt::BackgroundRole) {
      const QString outcome = QIdentityProxyModel::data(index, m_role).toString();
      if (outcome == QLatin1String("denied")) return QColor(217, 48, 37, 70);
      if (outcome == QLatin1String("rejected")) return QColor(242, 153, 0, 70);
      return {};
    }
    if (role == Qt::FontRole) {
      const QString outcome = QIdentityProxyModel::data(index, m_role).toString();
      if (outcome != QLatin1String("ok") && !outcome.isEmpty()) {
        QFont font;
        font.setItalic(true);
        return font;
      }
    }
    return QIdentityProxyModel::data(index, role);
  }

 private:
  int m_role;
};

AuditTrailView::AuditTrailView(int outcome_role, QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  auto* top = new QHBoxLayout;
  m_filter_box = new QLineEdit;
  m_filter_box->setPlaceholderText(tr("Filter: actor, action, reason, outcome…"));
  m_filter_box->setClearButtonEnabled(true);
  m_filter_box->setAccessibleName(tr("Audit filter"));
  auto* verify = new QPushButton(QIcon(QStringLiteral(":/icons/verify.svg")), tr("&Verify"));
  verify->setToolTip(tr("Ask the agent to recompute its hash chain on disk"));
  auto* csv = new QPushButton(QIcon(QStringLiteral(":/icons/export.svg")), tr("Export CSV…"));
  auto* json = new QPushButton(QIcon(QStringLiteral(":/icons/export.svg")), tr("Export JSON…"));
  top->addWidget(m_filter_box, 1);
  top->addWidget(verify);
  top->addWidget(csv);
  top->addWidget(json);
  layout->addLayout(top);

  auto* verdicts = new QHBoxLayout;
  m_agent_verdict = new QLabel;
  m_console_verdict = new QLabel;
  for (QLabel* l : {m_agent_verdict, m_console_verdict}) {
    l->setTextFormat(Qt::RichText);
    l->setTextInteractionFlags(Qt::TextSelectableByMouse);
  }
  verdicts->addWidget(m_console_verdict);
  verdicts->addSpacing(24);
  verdicts->addWidget(m_agent_verdict);
  verdicts->addStretch(1);
  layout->addLayout(verdicts);

  m_tint = new OutcomeTint(outcome_role, this);
  m_filter = new QSortFilterProxyModel(this);
  m_filter->setSourceModel(m_tint);
  m_filter->setFilterKeyColumn(-1);
  m_filter->setFilterCaseSensitivity(Qt::CaseInsensitive);
  m_table = new QTableView;
  m_table->setModel(m_filter);
  m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
  m_table->setAlternatingRowColors(true);
  m_table->verticalHeader()->hide();
  m_table->horizontalHeader()->setStretchLastSection(true);
  m_fit_columns = new QTimer(this);
  m_fit_columns->setSingleShot(true);
  m_fit_columns->setInterval(100);
  connect(m_fit_columns, &QTimer::timeout, this, [this] {
    // Every column but the last (which stretches) fits its contents; a
    // long reason stays readable in its tooltip, the table stays usable.
    QHeaderView* header = m_table->horizontalHeader();
    for (int c = 0; c + 1 < header->count(); ++c) {
      m_table->resizeColumnToContents(c);
      if (header->sectionSize(c) > kMaxColumnWidth) header->resizeSection(c, kMaxColumnWidth);
    }
  });
  m_table->setWordWrap(false);
  m_table->setAccessibleName(tr("Audit trail"));
  layout->addWidget(m_table, 1);

  connect(m_filter_box, &QLineEdit::textChanged, m_filter,
          &QSortFilterProxyModel::setFilterFixedString);
  connect(verify, &QPushButton::clicked, this, &AuditTrailView::verifyRequested);
  connect(csv, &QPushButton::clicked, this,
          [this] { emit exportRequested(QStringLiteral("csv")); });
  connect(json, &QPushButton::clicked, this,
          [this] { emit exportRequested(QStringLiteral("json")); });
  connect(m_filter, &QAbstractItemModel::rowsInserted, this, &AuditTrailView::FollowNewRows);
}

void AuditTrailView::SetModel(QAbstractItemModel* model) {
  m_tint->setSourceModel(model);
  m_table->scrollToBottom();
  m_fit_columns->start();
}

void AuditTrailView::FollowNewRows() {
  if (!m_fit_columns->isActive()) m_fit_columns->start();
  // Follow the newest row unless the user scrolled up to read.
  QScrollBar* bar = m_table->verticalScrollBar();
  if (bar->value() >= bar->maximum() - 2) m_table->scrollToBottom();
}

void AuditTrailView::SetFilter(const QString& text) {
  m_filter_box->setText(text);
}

void AuditTrailView::SetVerdicts(const QString& agent, bool agent_ok, const QString& console,
                                 bool console_ok) {
  auto render = [](const QString& text, bool ok) {
    if (text.isEmpty()) return QString();
    return ok ? QStringLiteral("<span style='color:%1'>✔ %2</span>")
                    .arg(RoleHex(ColourRole::kGood), text.toHtmlEscaped())
              : QStringLiteral("<b style='color:%1'>✖ %2</b>")
                    .arg(RoleHex(ColourRole::kBad), text.toHtmlEscaped());
  };
  m_agent_verdict->setText(render(agent, agent_ok));
  m_console_verdict->setText(render(console, console_ok));
}

QString AuditTrailView::VerdictText() const {
  QString text = m_console_verdict->text() + QStringLiteral(" | ") + m_agent_verdict->text();
  text.remove(QRegularExpression(QStringLiteral("<[^>]*>")));
  return text;
}

}  // namespace greylane
