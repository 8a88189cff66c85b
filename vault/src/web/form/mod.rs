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
//!
//! This file turns a record into widgets; `read` turns a posted form back into a record.

use crate::language::Texts;
use crate::residents::fields::{Field, FieldKind, Input};
pub mod dutch;
pub(crate) mod read;

use read::is_empty_item;
pub use read::{field, posted, record_of};

use serde_json::Value;
use std::collections::HashMap;

/// No list takes more items than this from a form, whatever its schema says.
pub(super) const LIST_CAP: usize = 50;

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
    /// The text box's `type` (`text`, `email`, `tel`).
    pub input_type: &'static str,
    /// Its `autocomplete` token, for a field about the resident (empty if none).
    pub autocomplete: String,
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
            input_type: "text",
            autocomplete: String::new(),
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

/// Errors as the error summary links them: (element id, message); an error of the whole
/// form (no name) gets no link.
pub fn error_links(errors: Errors) -> Vec<(String, String)> {
    errors
        .into_iter()
        .map(|(name, message)| {
            let target = if name.is_empty() {
                String::new()
            } else {
                element_id(&name)
            };
            (target, message)
        })
        .collect()
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
            FieldKind::Text { .. }
                if matches!(
                    field.label.input,
                    Some(Input::Date | Input::Month | Input::YearOrMonth)
                ) =>
            {
                if let Some(stored) = value.as_str() {
                    out.insert(name, dutch::as_typed(stored));
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
            w.autocomplete = field.label.autocomplete.clone().unwrap_or_default();
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
                // A text area only where the schema allows a long text.
                let long = match field.label.input {
                    Some(input) => input == Input::LongText,
                    None => max_length.is_some_and(|m| m > 200),
                };
                let mut w = widget(if long {
                    Control::TextArea
                } else {
                    Control::Text
                });
                w.max_length = *max_length;
                match field.label.input {
                    Some(Input::Email) => w.input_type = "email",
                    Some(Input::Phone) => w.input_type = "tel",
                    Some(Input::Date | Input::Month | Input::YearOrMonth) => {
                        w.input_mode = "numeric"
                    }
                    _ => {}
                }
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

#[cfg(test)]
mod tests;
