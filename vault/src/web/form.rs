//! Forms generated from a category's fields: a record becomes a flat list of widgets for
//! the template, and a posted form becomes a record again, or a list of plain-language
//! errors next to the fields they belong to.
//!
//! Names follow the record's shape: `adres.straat`, `leden.0.rol`. A list always shows one
//! empty item more than it holds (filled in, it is added; left empty, it is ignored), and
//! every item has a "remove" checkbox, so that adding and removing need no JavaScript and
//! no extra buttons: the form has exactly one submit button, the one Enter presses.
//!
//! The form checks what the schema demands (required, lengths, ranges, patterns, choices)
//! so that it can say so in words; the record service checks the schema again on write.

use crate::language::Texts;
use crate::residents::fields::{Field, FieldKind};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// No list takes more items than this from a form, whatever its schema says.
const LIST_CAP: usize = 50;

/// What kind of control a widget is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// The start of a group (`<fieldset>` with a legend).
    GroupStart,
    /// The end of a group.
    GroupEnd,
    /// A one-line text box.
    Text,
    /// A multi-line text box.
    TextArea,
    /// A drop-down choice.
    Select,
    /// A checkbox (yes/no).
    Checkbox,
    /// A hidden value (a list's item count).
    Hidden,
}

/// One option of a select.
#[derive(Clone, Debug)]
pub struct Choice {
    /// The submitted value.
    pub value: String,
    /// What the resident reads.
    pub label: String,
    /// Whether it is chosen.
    pub selected: bool,
}

/// One control of the form, in document order.
#[derive(Clone, Debug)]
pub struct Widget {
    /// Its kind.
    pub control: Control,
    /// Its element id (`f-leden-0-rol`).
    pub id: String,
    /// Its form name (`leden.0.rol`).
    pub name: String,
    /// Its label (or a group's legend).
    pub label: String,
    /// How to fill it in.
    pub hint: Option<String>,
    /// What is wrong with it.
    pub error: Option<String>,
    /// Its current value (text controls, hidden).
    pub value: String,
    /// Whether a checkbox is ticked.
    pub checked: bool,
    /// A select's options.
    pub options: Vec<Choice>,
    /// Whether it must be filled in.
    pub required: bool,
    /// The most characters it takes.
    pub max_length: Option<u64>,
    /// The keyboard a phone should show (`numeric`, `decimal`, or empty).
    pub input_mode: &'static str,
}

impl Widget {
    fn new(control: Control, name: &str, label: String) -> Widget {
        Widget {
            control,
            id: element_id(name),
            name: name.to_owned(),
            label,
            hint: None,
            error: None,
            value: String::new(),
            checked: false,
            options: Vec::new(),
            required: false,
            max_length: None,
            input_mode: "",
        }
    }

    /// The id of its hint or error text, for `aria-describedby` (empty if none).
    pub fn described_by(&self) -> String {
        let mut ids = Vec::new();
        if self.hint.is_some() {
            ids.push(format!("{}-hint", self.id));
        }
        if self.error.is_some() {
            ids.push(format!("{}-error", self.id));
        }
        ids.join(" ")
    }
}

/// The element id for a form name.
pub fn element_id(name: &str) -> String {
    format!("f-{}", name.replace('.', "-"))
}

/// The form's values, by name, as strings.
pub type Values = HashMap<String, String>;

/// Errors by form name: what is wrong, in words.
pub type Errors = Vec<(String, String)>;

/// A record's values as form values.
pub fn values_of(fields: &[Field], record: &Value, texts: Texts) -> Values {
    let mut values = Values::new();
    put_values(fields, record, "", texts, &mut values);
    values
}

fn put_values(fields: &[Field], record: &Value, prefix: &str, texts: Texts, out: &mut Values) {
    for field in fields {
        let name = join(prefix, &field.name);
        let value = &record[&field.name];
        match &field.kind {
            FieldKind::Group(inner) => put_values(inner, value, &name, texts, out),
            FieldKind::List { item, .. } => {
                let items = value.as_array().map(Vec::as_slice).unwrap_or_default();
                out.insert(format!("{name}.count"), items.len().to_string());
                for (i, v) in items.iter().enumerate() {
                    put_values(item, v, &format!("{name}.{i}"), texts, out);
                }
            }
            FieldKind::TextList { .. } => {
                let lines: Vec<&str> = value
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                out.insert(name, lines.join("\n"));
            }
            FieldKind::Boolean => {
                if value.as_bool() == Some(true) {
                    out.insert(name, "on".into());
                }
            }
            FieldKind::Number { .. } => {
                if let Some(n) = value.as_f64() {
                    out.insert(name, show_number(n, texts));
                }
            }
            _ => match value {
                Value::String(s) => {
                    out.insert(name, s.clone());
                }
                Value::Number(n) => {
                    out.insert(name, n.to_string());
                }
                _ => {}
            },
        }
    }
}

fn show_number(n: f64, texts: Texts) -> String {
    let plain = if n.fract() == 0.0 {
        format!("{n:.0}")
    } else {
        format!("{n:.2}")
    };
    texts.language.pick(plain.replace('.', ","), plain)
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// The widgets of the form, filled with `values` and marked with `errors`.
pub fn widgets(fields: &[Field], values: &Values, errors: &Errors, texts: Texts) -> Vec<Widget> {
    let mut out = Vec::new();
    push_widgets(fields, values, errors, "", texts, &mut out);
    out
}

fn push_widgets(
    fields: &[Field],
    values: &Values,
    errors: &Errors,
    prefix: &str,
    texts: Texts,
    out: &mut Vec<Widget>,
) {
    let language = texts.language;
    for field in fields {
        let name = join(prefix, &field.name);
        let label = field.label.get(language).to_owned();
        let value = values.get(&name).cloned().unwrap_or_default();
        let widget = |control: Control| {
            let mut w = Widget::new(control, &name, label.clone());
            w.hint = field.label.hint(language).map(str::to_owned);
            w.error = errors
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, e)| e.clone());
            w.value = value.clone();
            w.required = field.required;
            w
        };
        match &field.kind {
            FieldKind::Group(inner) => {
                out.push(widget(Control::GroupStart));
                push_widgets(inner, values, errors, &name, texts, out);
                out.push(Widget::new(Control::GroupEnd, &name, String::new()));
            }
            FieldKind::List { item, max_items } => {
                // Items up to the last one with anything in it; an empty one after them
                // (the "new" item of the form just posted) is shown as new again.
                let held = (0..list_count(values, &name))
                    .rev()
                    .find(|i| !is_empty_item(item, &format!("{name}.{i}"), values))
                    .map_or(0, |i| i + 1);
                let shown =
                    (held + 1).min(max_items.map_or(LIST_CAP, |m| m as usize).min(LIST_CAP));
                let mut count =
                    Widget::new(Control::Hidden, &format!("{name}.count"), String::new());
                count.value = shown.to_string();
                out.push(count);
                for i in 0..shown {
                    let item_name = format!("{name}.{i}");
                    let empty = i >= held;
                    let legend = if empty {
                        texts.fill("form.new_item", &[("item", &label)])
                    } else {
                        format!("{label} {}", i + 1)
                    };
                    let mut start = Widget::new(Control::GroupStart, &item_name, legend);
                    if empty {
                        start.hint = Some(texts.get("form.new_item_hint").to_owned());
                    }
                    out.push(start);
                    push_widgets(item, values, errors, &item_name, texts, out);
                    if !empty {
                        let remove_name = format!("{item_name}.remove");
                        let mut remove = Widget::new(
                            Control::Checkbox,
                            &remove_name,
                            texts.fill(
                                "form.remove_item",
                                &[("item", &format!("{label} {}", i + 1))],
                            ),
                        );
                        remove.checked = values.contains_key(&remove_name);
                        out.push(remove);
                    }
                    out.push(Widget::new(Control::GroupEnd, &item_name, String::new()));
                }
            }
            FieldKind::TextList { .. } => {
                let mut w = widget(Control::TextArea);
                w.hint = Some(texts.get("form.one_per_line").to_owned());
                out.push(w);
            }
            FieldKind::Boolean => {
                let mut w = widget(Control::Checkbox);
                w.checked = values.contains_key(&name);
                w.required = false;
                out.push(w);
            }
            FieldKind::Choice(choices) => {
                let mut w = widget(Control::Select);
                w.options.push(Choice {
                    value: String::new(),
                    label: texts.get("form.choose").to_owned(),
                    selected: value.is_empty(),
                });
                w.options.extend(choices.iter().map(|(v, text)| Choice {
                    value: v.clone(),
                    label: text.get(language).to_owned(),
                    selected: *v == value,
                }));
                out.push(w);
            }
            FieldKind::Text { max_length, .. } => {
                let long = max_length.is_none_or(|m| m > 200);
                let mut w = widget(if long {
                    Control::TextArea
                } else {
                    Control::Text
                });
                w.max_length = *max_length;
                out.push(w);
            }
            FieldKind::Integer { .. } => {
                let mut w = widget(Control::Text);
                w.input_mode = "numeric";
                out.push(w);
            }
            FieldKind::Number { .. } => {
                let mut w = widget(Control::Text);
                w.input_mode = "decimal";
                out.push(w);
            }
        }
    }
}

fn list_count(values: &Values, name: &str) -> usize {
    values
        .get(&format!("{name}.count"))
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(0)
        .min(LIST_CAP)
}

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
                return fail(errors, name, texts.fill("form.too_many", &[("max", &max)]));
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
                return fail(errors, name, texts.fill("form.too_many", &[("max", &max)]));
            }
            if let Some(max) =
                max_length.filter(|m| lines.iter().any(|l| l.chars().count() as u64 > *m))
            {
                return fail(
                    errors,
                    name,
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
                fail(errors, name, texts.get("form.required").to_owned())
            } else {
                None
            }
        }
        FieldKind::Choice(choices) => {
            if choices.iter().any(|(v, _)| v == raw) {
                Some(Value::String(raw.to_owned()))
            } else {
                fail(errors, name, texts.get("form.choice").to_owned())
            }
        }
        FieldKind::Text {
            max_length,
            min_length,
            pattern,
        } => {
            let length = raw.chars().count() as u64;
            if let Some(max) = max_length.filter(|m| length > *m) {
                return fail(
                    errors,
                    name,
                    texts.fill("form.too_long", &[("max", &max.to_string())]),
                );
            }
            if min_length.is_some_and(|m| length < m) {
                return fail(errors, name, texts.get("form.required").to_owned());
            }
            if let Some(pattern) = pattern
                && !jsonschema::is_valid(
                    &serde_json::json!({"pattern": pattern}),
                    &Value::String(raw.to_owned()),
                )
            {
                return fail(errors, name, texts.get("form.pattern").to_owned());
            }
            Some(Value::String(raw.to_owned()))
        }
        FieldKind::Integer { minimum, maximum } => match raw.parse::<i64>() {
            Ok(n) if in_range(n as f64, *minimum, *maximum) => Some(Value::from(n)),
            Ok(_) => fail(errors, name, range_message(*minimum, *maximum, texts)),
            Err(_) => fail(errors, name, texts.get("form.whole_number").to_owned()),
        },
        FieldKind::Number { minimum, maximum } => {
            let normal = raw.replace(['€', ' '], "").replace(',', ".");
            match normal.parse::<f64>() {
                Ok(n) if n.is_finite() && in_range(n, *minimum, *maximum) => {
                    serde_json::Number::from_f64((n * 100.0).round() / 100.0).map(Value::Number)
                }
                Ok(n) if n.is_finite() => {
                    fail(errors, name, range_message(*minimum, *maximum, texts))
                }
                _ => fail(errors, name, texts.get("form.number").to_owned()),
            }
        }
    }
}

/// Records what is wrong with field `name`; the field gives no value.
fn fail(errors: &mut Errors, name: &str, message: String) -> Option<Value> {
    errors.push((name.to_owned(), message));
    None
}

fn is_empty_item(item: &[Field], prefix: &str, values: &Values) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::Language;
    use crate::residents::catalogue::Catalogue;
    use serde_json::json;

    const NL: Texts = Texts {
        language: Language::Nl,
    };

    fn household() -> Vec<Field> {
        Catalogue::builtin()
            .unwrap()
            .get("huishouden.samenstelling")
            .unwrap()
            .fields
            .clone()
    }

    fn form(pairs: &[(&str, &str)]) -> Values {
        posted(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn a_record_survives_the_round_trip_through_its_form() {
        let fields = household();
        let record = json!({"leefsituatie": "alleenstaande_ouder", "leden": [
            {"rol": "kind", "voornaam": "Sam", "geboortejaar": 2015, "woont_deels_hier": true},
            {"rol": "kind", "voornaam": "Noor", "geboortejaar": 2018, "woont_deels_hier": false}]});
        let values = values_of(&fields, &record, NL);
        assert_eq!(record_of(&fields, &values, NL).unwrap(), record);
        // One empty item more than the record holds, and no remove box on it.
        let widgets = widgets(&fields, &values, &Vec::new(), NL);
        assert!(widgets.iter().any(|w| w.name == "leden.2.rol"));
        assert!(!widgets.iter().any(|w| w.name == "leden.2.remove"));
        assert!(widgets.iter().any(|w| w.name == "leden.1.remove"));
        assert_eq!(
            widgets
                .iter()
                .find(|w| w.name == "leden.count")
                .unwrap()
                .value,
            "3"
        );
    }

    #[test]
    fn the_empty_item_adds_when_filled_and_remove_removes() {
        let fields = household();
        let values = form(&[
            ("leefsituatie", "samenwonend"),
            ("leden.count", "2"),
            ("leden.0.rol", "kind"),
            ("leden.0.voornaam", "Sam"),
            ("leden.0.remove", "on"),
            ("leden.1.rol", "partner"),
            ("leden.1.geboortejaar", " 1980 "),
        ]);
        assert_eq!(
            record_of(&fields, &values, NL).unwrap(),
            json!({"leefsituatie": "samenwonend", "leden": [{"rol": "partner", "geboortejaar": 1980, "woont_deels_hier": false}]})
        );
    }

    #[test]
    fn mistakes_are_named_per_field_in_words() {
        let fields = household();
        let values = form(&[
            ("leden.count", "1"),
            ("leden.0.voornaam", "Sam"),
            ("leden.0.geboortejaar", "twintig"),
            ("toelichting", &"x".repeat(2001)),
        ]);
        let errors = record_of(&fields, &values, NL).unwrap_err();
        let names: Vec<&str> = errors.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "leefsituatie",
                "leden.0.rol",
                "leden.0.geboortejaar",
                "toelichting"
            ]
        );
        assert!(errors[2].1.contains("heel getal"), "{}", errors[2].1);
        assert!(errors[3].1.contains("2000"), "{}", errors[3].1);
        // The form shows them next to their fields.
        let widgets = widgets(&fields, &values, &errors, NL);
        let year = widgets
            .iter()
            .find(|w| w.name == "leden.0.geboortejaar")
            .unwrap();
        assert!(year.error.is_some() && year.described_by().contains("-error"));
        assert_eq!(year.value, "twintig", "what was typed stays");
        // The empty "new" item stays new, not a second person.
        let values = form(&[
            ("leefsituatie", "samenwonend"),
            ("leden.count", "2"),
            ("leden.0.rol", "kind"),
            ("leden.0.geboortejaar", "x"),
        ]);
        let errors = record_of(&fields, &values, NL).unwrap_err();
        let widgets = super::widgets(&fields, &values, &errors, NL);
        assert!(widgets.iter().any(|w| w.name == "leden.0.remove"));
        assert!(!widgets.iter().any(|w| w.name == "leden.1.remove"));
        assert_eq!(
            widgets
                .iter()
                .find(|w| w.name == "leden.count")
                .unwrap()
                .value,
            "2"
        );
    }

    #[test]
    fn numbers_patterns_and_choices_are_checked() {
        let catalogue = Catalogue::builtin().unwrap();
        let debts = &catalogue.get("schulden.overzicht").unwrap().fields;
        let values = form(&[
            ("schulden.count", "1"),
            ("schulden.0.schuldeiser", "Woonkracht"),
            ("schulden.0.soort", "huurachterstand"),
            ("schulden.0.bedrag", "€ 2.628,50"),
        ]);
        // "2.628,50" is not a number we guess at: a thousands dot is refused, not misread.
        assert!(record_of(debts, &values, NL).is_err());
        let values = form(&[
            ("schulden.count", "1"),
            ("schulden.0.schuldeiser", "Woonkracht"),
            ("schulden.0.soort", "huurachterstand"),
            ("schulden.0.bedrag", "2628,50"),
        ]);
        let record = record_of(debts, &values, NL).unwrap();
        assert_eq!(record["schulden"][0]["bedrag"], 2628.5);
        let values = form(&[("schulden.count", "1"), ("schulden.0.soort", "iets-anders")]);
        let errors = record_of(debts, &values, NL).unwrap_err();
        assert!(
            errors
                .iter()
                .any(|(n, e)| n == "schulden.0.soort" && e.contains("Kies")),
            "{errors:?}"
        );

        let identity = &catalogue.get("identiteit.basis").unwrap().fields;
        let values = form(&[
            ("voornamen", "Henk"),
            ("achternaam", "de Vries"),
            ("geboortedatum", "1-2-1975"),
        ]);
        let errors = record_of(identity, &values, NL).unwrap_err();
        assert_eq!(errors[0].0, "geboortedatum");
    }
}
