//! The reports as pages: the list, and one report with its result as tables, how it was
//! computed, and the signed checkpoint of the log it was computed from. Reads per
//! department per day are also drawn, as a server-rendered bar chart.

use super::Officer;
use crate::audit::officer::Range;
use crate::audit::reports::Report;
use crate::http::extract::{ApiPath, Ctx};
use crate::state::AppState;
use crate::web::{Page, render};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

/// A report in the list: its name in links, its title, what it answers.
struct Item {
    name: &'static str,
    title: &'static str,
    question: &'static str,
}

/// The message keys of a report's title, question and how it is computed.
fn keys(report: Report) -> [&'static str; 3] {
    match report {
        Report::UnauthorizedReads => [
            "officer.report.unauthorized.title",
            "officer.report.unauthorized.question",
            "officer.report.unauthorized.how",
        ],
        Report::LateAttempts => [
            "officer.report.late.title",
            "officer.report.late.question",
            "officer.report.late.how",
        ],
        Report::Refusals => [
            "officer.report.refusals.title",
            "officer.report.refusals.question",
            "officer.report.refusals.how",
        ],
        Report::Categories => [
            "officer.report.categories.title",
            "officer.report.categories.question",
            "officer.report.categories.how",
        ],
        Report::Volume => [
            "officer.report.volume.title",
            "officer.report.volume.question",
            "officer.report.volume.how",
        ],
        Report::SchemeUptake => [
            "officer.report.uptake.title",
            "officer.report.uptake.question",
            "officer.report.uptake.how",
        ],
        Report::WitnessStatements => [
            "officer.report.witness.title",
            "officer.report.witness.question",
            "officer.report.witness.how",
        ],
    }
}

fn item(report: Report, texts: crate::language::Texts) -> Item {
    let [title, question, _] = keys(report);
    Item {
        name: report.name(),
        title: texts.get(title),
        question: texts.get(question),
    }
}

#[derive(Template)]
#[template(path = "officer_reports.html")]
struct ListPage {
    page: Page,
    reports: Vec<Item>,
}

/// Every report, with the question it answers.
pub async fn list(State(state): State<AppState>, officer: Officer) -> Response {
    let texts = officer.texts;
    let page = officer.page(
        &state,
        texts.get("officer.reports_title"),
        "officer-reports",
    );
    let reports = Report::ALL.iter().map(|r| item(*r, texts)).collect();
    render(&ListPage { page, reports }, StatusCode::OK)
}

/// A table of a report's result.
pub(crate) struct Table {
    caption: String,
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// One bar of the reads-per-day chart.
struct Bar {
    x: u32,
    y: u32,
    height: u32,
    /// The day.
    label: String,
    /// The reads that day.
    reads: u64,
    unusual: bool,
}

/// The reads-per-day chart of one department.
struct Chart {
    department: String,
    /// The first and last day drawn.
    days: String,
    bars: Vec<Bar>,
    width: u32,
    most: u64,
}

#[derive(Template)]
#[template(path = "officer_report.html")]
struct ReportPage {
    page: Page,
    report: Item,
    how: &'static str,
    findings: usize,
    facts: Vec<(String, String)>,
    tables: Vec<Table>,
    charts: Vec<Chart>,
    from_seq: u64,
    to_seq: u64,
    checkpoint: String,
}

/// One report over the whole log.
pub async fn show(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    officer: Officer,
    ApiPath(name): ApiPath<String>,
) -> Response {
    let texts = officer.texts;
    let Some(report) = Report::from_name(&name) else {
        return officer.error(crate::Error::NotFound("report"));
    };
    let answer = match state
        .desk
        .report(&context, &officer.actor(), report.name(), &Range::default())
        .await
    {
        Ok(answer) => answer,
        Err(error) => return officer.error(error),
    };
    let item = item(report, texts);
    let page = officer.page(&state, item.title, "officer-reports");
    let mut facts = Vec::new();
    let mut tables = Vec::new();
    flatten(report, "", &answer.result, &mut facts, &mut tables);
    let findings = findings(report, &answer.result);
    let charts = if report == Report::Volume {
        charts(&answer.result)
    } else {
        Vec::new()
    };
    render(
        &ReportPage {
            page,
            how: texts.get(keys(report)[2]),
            report: item,
            findings,
            facts,
            tables,
            charts,
            from_seq: answer.from_seq,
            to_seq: answer.to_seq,
            checkpoint: answer.checkpoint,
        },
        StatusCode::OK,
    )
}

/// How many things the report flags: the rows an officer must look into.
fn findings(report: Report, result: &Value) -> usize {
    let count = |v: Option<&Value>| v.and_then(Value::as_array).map_or(0, Vec::len);
    match report {
        Report::UnauthorizedReads => {
            result["without_valid_grant_count"].as_u64().unwrap_or(0) as usize
        }
        Report::LateAttempts => count(Some(result)),
        Report::Refusals => result
            .as_object()
            .map(|reasons| {
                reasons
                    .values()
                    .filter_map(Value::as_object)
                    .flat_map(|d| d.values())
                    .filter_map(Value::as_u64)
                    .sum::<u64>() as usize
            })
            .unwrap_or(0),
        Report::Categories => result.as_array().map_or(0, |uses| {
            uses.iter().map(|u| count(u.get("outside_activity"))).sum()
        }),
        Report::Volume => result.as_array().map_or(0, |days| {
            days.iter()
                .filter(|d| d.get("unusual") == Some(&Value::Bool(true)))
                .count()
        }),
        Report::SchemeUptake => count(result.get("schemes")),
        Report::WitnessStatements => count(result.get("disputed")) + count(result.get("refused")),
    }
}

/// The headers of a nested map (`reason → department → count`) in a report.
fn map_headers(report: Report, key: &str) -> Vec<String> {
    let names: &[&str] = match (report, key) {
        (Report::Refusals, _) => &["reason", "department", "count"],
        (_, "statements_per_coach") => &["coach", "count"],
        _ => &["key", "value"],
    };
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// A value in a cell: text as it is, lists joined, maps as `key: value`, none as "–".
fn cell(value: &Value) -> String {
    match value {
        Value::Null => "–".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(", "),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}: {}", cell(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// The rows of a nested map, one per path to a leaf.
fn map_rows(prefix: &[String], value: &Value, rows: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let mut path = prefix.to_vec();
                path.push(k.clone());
                map_rows(&path, v, rows);
            }
        }
        leaf => {
            let mut row = prefix.to_vec();
            row.push(cell(leaf));
            rows.push(row);
        }
    }
}

/// Turns a report's JSON result into facts (`name: value`) and tables.
fn flatten(
    report: Report,
    key: &str,
    value: &Value,
    facts: &mut Vec<(String, String)>,
    tables: &mut Vec<Table>,
) {
    match value {
        Value::Array(items) if items.iter().all(Value::is_object) => {
            let headers: Vec<String> = items
                .first()
                .and_then(Value::as_object)
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            let rows = items
                .iter()
                .map(|item| headers.iter().map(|h| cell(&item[h])).collect())
                .collect();
            tables.push(Table {
                caption: key.to_owned(),
                headers,
                rows,
            });
        }
        Value::Object(map) if key.is_empty() && map.values().any(|v| !v.is_object()) => {
            for (k, v) in map {
                flatten(report, k, v, facts, tables);
            }
        }
        Value::Object(_) => {
            let mut rows = Vec::new();
            map_rows(&[], value, &mut rows);
            tables.push(Table {
                caption: key.to_owned(),
                headers: map_headers(report, key),
                rows,
            });
        }
        scalar => facts.push((key.to_owned(), cell(scalar))),
    }
}

/// Bars per day per department, scaled to the department's busiest day.
fn charts(result: &Value) -> Vec<Chart> {
    const BAR: u32 = 14;
    const HEIGHT: u32 = 120;
    let mut charts: Vec<Chart> = Vec::new();
    for day in result.as_array().into_iter().flatten() {
        let department = day["department"].as_str().unwrap_or_default().to_owned();
        if charts.last().is_none_or(|c| c.department != department) {
            charts.push(Chart {
                department,
                days: String::new(),
                bars: Vec::new(),
                width: 0,
                most: 0,
            });
        }
        let Some(chart) = charts.last_mut() else {
            continue;
        };
        let reads = day["reads"].as_u64().unwrap_or(0);
        chart.most = chart.most.max(reads);
        chart.bars.push(Bar {
            x: 0,
            y: 0,
            height: 0,
            reads,
            label: day["day"].as_str().unwrap_or_default().to_owned(),
            unusual: day["unusual"] == Value::Bool(true),
        });
    }
    for chart in &mut charts {
        let most = chart.most.max(1);
        for (i, bar) in chart.bars.iter_mut().enumerate() {
            let height = (bar.reads.min(most) * u64::from(HEIGHT) / most) as u32;
            bar.x = i as u32 * (BAR + 4);
            bar.height = height.max(1);
            bar.y = HEIGHT - bar.height;
        }
        chart.width = (chart.bars.len() as u32 * (BAR + 4)).max(BAR);
        if let (Some(first), Some(last)) = (chart.bars.first(), chart.bars.last()) {
            chart.days = format!("{} – {}", first.label, last.label);
        }
    }
    charts
}
