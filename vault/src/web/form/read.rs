//! A posted form read back into a record, or into plain-language errors next to the
//! fields they belong to.

use super::dutch;
use super::{Errors, Values, join, list_count};
use crate::language::Texts;
use crate::residents::fields::{Field, FieldKind, Input};
use serde_json::{Map, Value};

/// The posted form's values (the first value of each name; `csrf` is left out).
pub fn posted(pairs: Vec<(String, String)>) -> Values {
    let mut values = Values::new();
    for (name, value) in pairs {
        if name != "csrf" {
            values.entry(name).or_insert(value);
        }
    }
    values
}

/// The first value posted under `name`, trimmed (for forms with repeated names, such as
/// ticked boxes, whose pairs the caller keeps).
pub fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim())
}

/// The record a posted form describes, or what is wrong with it.
pub fn record_of(fields: &[Field], values: &Values, texts: Texts) -> Result<Value, Errors> {
    let mut errors = Errors::new();
    let record = read_object(fields, values, "", texts, &mut errors);
    if errors.is_empty() {
        Ok(Value::Object(record))
    } else {
        Err(errors)
    }
}

fn read_object(
    fields: &[Field],
    values: &Values,
    prefix: &str,
    texts: Texts,
    errors: &mut Errors,
) -> Map<String, Value> {
    let mut object = Map::new();
    for field in fields {
        let name = join(prefix, &field.name);
        if let Some(value) = read_field(field, &name, values, texts, errors) {
            object.insert(field.name.clone(), value);
        }
    }
    object
}

fn read_field(
    field: &Field,
    name: &str,
    values: &Values,
    texts: Texts,
    errors: &mut Errors,
) -> Option<Value> {
    let raw = values.get(name).map(|v| v.trim()).unwrap_or("");
    let label = field.label.get(texts.language);
    match &field.kind {
        FieldKind::Group(inner) => {
            let object = read_object(inner, values, name, texts, errors);
            (!object.is_empty() || field.required).then_some(Value::Object(object))
        }
        FieldKind::List { item, max_items } => {
            let mut items = Vec::new();
            for i in 0..list_count(values, name) {
                let item_name = format!("{name}.{i}");
                if values.contains_key(&format!("{item_name}.remove"))
                    || is_empty_item(item, &item_name, values)
                {
                    continue;
                }
                items.push(Value::Object(read_object(
                    item, values, &item_name, texts, errors,
                )));
            }
            if max_items.is_some_and(|m| items.len() as u64 > m) {
                let max = max_items.unwrap_or_default().to_string();
                return fail(
                    errors,
                    name,
                    label,
                    texts.fill("form.too_many", &[("max", &max)]),
                );
            }
            (!items.is_empty() || field.required).then_some(Value::Array(items))
        }
        FieldKind::TextList {
            max_items,
            max_length,
        } => {
            let lines: Vec<&str> = raw
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            if max_items.is_some_and(|m| lines.len() as u64 > m) {
                let max = max_items.unwrap_or_default().to_string();
                return fail(
                    errors,
                    name,
                    label,
                    texts.fill("form.too_many", &[("max", &max)]),
                );
            }
            if let Some(max) =
                max_length.filter(|m| lines.iter().any(|l| l.chars().count() as u64 > *m))
            {
                return fail(
                    errors,
                    name,
                    label,
                    texts.fill("form.line_too_long", &[("max", &max.to_string())]),
                );
            }
            (!lines.is_empty() || field.required).then(|| {
                Value::Array(
                    lines
                        .into_iter()
                        .map(|l| Value::String(l.to_owned()))
                        .collect(),
                )
            })
        }
        FieldKind::Boolean => Some(Value::Bool(values.contains_key(name))),
        _ if raw.is_empty() => {
            if field.required {
                fail(errors, name, label, texts.get("form.required").to_owned())
            } else {
                None
            }
        }
        FieldKind::Choice(choices) => {
            if choices.iter().any(|(v, _)| v == raw) {
                Some(Value::String(raw.to_owned()))
            } else {
                fail(errors, name, label, texts.get("form.choice").to_owned())
            }
        }
        FieldKind::Text {
            max_length,
            min_length,
            pattern,
        } => {
            let typed = match field.label.input {
                Some(input) => match typed(input, raw) {
                    Ok(value) => value,
                    Err(key) => return fail(errors, name, label, texts.get(key).to_owned()),
                },
                None => raw.to_owned(),
            };
            let raw = typed.as_str();
            let length = raw.chars().count() as u64;
            if let Some(max) = max_length.filter(|m| length > *m) {
                return fail(
                    errors,
                    name,
                    label,
                    texts.fill("form.too_long", &[("max", &max.to_string())]),
                );
            }
            if min_length.is_some_and(|m| length < m) {
                return fail(errors, name, label, texts.get("form.required").to_owned());
            }
            if let Some(pattern) = pattern
                && !jsonschema::is_valid(
                    &serde_json::json!({"pattern": pattern}),
                    &Value::String(raw.to_owned()),
                )
            {
                return fail(errors, name, label, texts.get("form.pattern").to_owned());
            }
            Some(Value::String(raw.to_owned()))
        }
        FieldKind::Integer { minimum, maximum } => match raw.parse::<i64>() {
            Ok(n) if in_range(n as f64, *minimum, *maximum) => Some(Value::from(n)),
            Ok(_) => fail(
                errors,
                name,
                label,
                range_message(*minimum, *maximum, texts),
            ),
            Err(_) => {
                let example = field.label.example.clone().unwrap_or_else(|| {
                    let lowest = minimum.unwrap_or(0.0).max(3.0);
                    maximum.map_or(lowest, |m| lowest.min(m)).to_string()
                });
                fail(
                    errors,
                    name,
                    label,
                    texts.fill("form.whole_number", &[("example", &example)]),
                )
            }
        },
        FieldKind::Number { minimum, maximum } => {
            match dutch::amount(raw)
                .ok_or(())
                .and_then(|n| n.parse::<f64>().map_err(|_| ()))
            {
                Ok(n) if n.is_finite() && in_range(n, *minimum, *maximum) => {
                    serde_json::Number::from_f64((n * 100.0).round() / 100.0).map(Value::Number)
                }
                Ok(n) if n.is_finite() => fail(
                    errors,
                    name,
                    label,
                    range_message(*minimum, *maximum, texts),
                ),
                _ => fail(errors, name, label, texts.get("form.number").to_owned()),
            }
        }
    }
}

/// A typed value in the form the record stores, or the key of the message that says how
/// to write it.
fn typed(input: Input, raw: &str) -> Result<String, &'static str> {
    match input {
        Input::Date => dutch::date(raw)
            .map(|day| day.format("%Y-%m-%d").to_string())
            .ok_or("form.date"),
        Input::Month => dutch::month_or_day(raw).ok_or("form.month"),
        Input::YearOrMonth => dutch::year_or_month(raw).ok_or("form.year_or_month"),
        Input::Postcode => dutch::postcode(raw).ok_or("form.postcode"),
        Input::Email => dutch::email(raw).ok_or("form.email"),
        Input::Phone => dutch::phone(raw).ok_or("form.phone"),
        Input::LongText => Ok(raw.to_owned()),
    }
}

/// Records what is wrong with field `name`, naming it by its `label` ("Geboortedatum:
/// schrijf ..."), so the message says which field in the error summary too; the field
/// gives no value.
fn fail(errors: &mut Errors, name: &str, label: &str, message: String) -> Option<Value> {
    let mut chars = message.chars();
    let fix: String = chars
        .next()
        .map(|first| first.to_lowercase().chain(chars).collect())
        .unwrap_or_default();
    errors.push((name.to_owned(), format!("{label}: {fix}")));
    None
}

pub(super) fn is_empty_item(item: &[Field], prefix: &str, values: &Values) -> bool {
    values
        .iter()
        .filter(|(name, _)| name.starts_with(&format!("{prefix}.")) && !name.ends_with(".remove"))
        .all(|(name, value)| value.trim().is_empty() || !item_field_name(item, prefix, name))
}

/// Whether `name` is one of the item's own fields (not a stray posted name).
fn item_field_name(item: &[Field], prefix: &str, name: &str) -> bool {
    let rest = &name[prefix.len() + 1..];
    item.iter()
        .any(|f| rest == f.name || rest.starts_with(&format!("{}.", f.name)))
}

fn in_range(n: f64, minimum: Option<f64>, maximum: Option<f64>) -> bool {
    minimum.is_none_or(|m| n >= m) && maximum.is_none_or(|m| n <= m)
}

fn range_message(minimum: Option<f64>, maximum: Option<f64>, texts: Texts) -> String {
    let show = |n: f64| format!("{n}");
    match (minimum, maximum) {
        (Some(min), Some(max)) => {
            texts.fill("form.range", &[("min", &show(min)), ("max", &show(max))])
        }
        (Some(min), None) => texts.fill("form.at_least", &[("min", &show(min))]),
        (None, Some(max)) => texts.fill("form.at_most", &[("max", &show(max))]),
        (None, None) => texts.get("form.number").to_owned(),
    }
}
