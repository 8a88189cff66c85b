//! The shape of a category's records as a tree of labelled fields, derived from its JSON
//! Schema: what the portal turns into a form, and what `labels.json` must cover.
//!
//! The catalogue's schemas use a small part of JSON Schema (objects, arrays, strings,
//! integers, numbers, booleans, enums); a schema outside that part is refused when the
//! catalogue loads, so a form can always be made. Labels are data (`labels.json`): a
//! Dutch B1 and an English label for every field and every choice, checked complete at
//! load time too.

use crate::language::Language;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One field of a record.
#[derive(Clone, Debug)]
pub struct Field {
    /// Its property name.
    pub name: String,
    /// Its path from the record's root, names joined by `/`, array levels left out
    /// (`leden/rol`): the key of its labels.
    pub path: String,
    /// Whether the record must have it.
    pub required: bool,
    /// What it holds.
    pub kind: FieldKind,
    /// Its labels.
    pub label: FieldLabel,
}

/// What a field holds.
#[derive(Clone, Debug)]
pub enum FieldKind {
    /// Free text, at most `max_length` characters (long ones get a text area).
    Text {
        /// The limit, if any.
        max_length: Option<u64>,
        /// At least this many characters.
        min_length: Option<u64>,
        /// A regular expression it must match.
        pattern: Option<String>,
    },
    /// A whole number.
    Integer {
        /// Lowest allowed.
        minimum: Option<f64>,
        /// Highest allowed.
        maximum: Option<f64>,
    },
    /// A number (amounts of money).
    Number {
        /// Lowest allowed.
        minimum: Option<f64>,
        /// Highest allowed.
        maximum: Option<f64>,
    },
    /// Yes or no.
    Boolean,
    /// One of these values, each with its labels.
    Choice(Vec<(String, Text)>),
    /// A group of fields (an object).
    Group(Vec<Field>),
    /// A list of groups (an array of objects).
    List {
        /// The fields of one item.
        item: Vec<Field>,
        /// At most this many items.
        max_items: Option<u64>,
    },
    /// A list of short texts (an array of strings).
    TextList {
        /// At most this many.
        max_items: Option<u64>,
        /// Each at most this long.
        max_length: Option<u64>,
    },
}

/// A text in both languages.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    /// Dutch (B1).
    pub nl: String,
    /// English.
    pub en: String,
}

impl Text {
    /// The text in `language`.
    pub fn get(&self, language: Language) -> &str {
        language.pick(&self.nl, &self.en)
    }
}

/// A field's label and optional hint.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldLabel {
    /// Dutch label.
    pub nl: String,
    /// English label.
    pub en: String,
    /// Dutch hint (how to fill it in).
    #[serde(default)]
    pub hint_nl: Option<String>,
    /// English hint.
    #[serde(default)]
    pub hint_en: Option<String>,
    /// How a text field is typed, if not as plain text.
    #[serde(default)]
    pub input: Option<Input>,
    /// Its `autocomplete` token (WCAG 1.3.5), for a field about the resident.
    #[serde(default)]
    pub autocomplete: Option<String>,
    /// A correct example for its error message, when the kind's own does not fit
    /// (a birth year: "1985", not "3").
    #[serde(default)]
    pub example: Option<String>,
}

/// How a text field is typed and read: the form accepts the way people write it and
/// stores one form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// A day: typed "14-03-1985" or "14 maart 1985", stored "1985-03-14".
    Date,
    /// A month, or a day: typed "03-2021" or "maart 2021", stored "2021-03".
    Month,
    /// A year or a month: "2021" or "03-2021".
    YearOrMonth,
    /// A Dutch postcode, with or without the space, any case: stored "3311 AB".
    Postcode,
    /// An e-mail address.
    Email,
    /// A phone number.
    Phone,
    /// A longer text: a text area.
    LongText,
}

impl Input {
    /// The pattern the schema must give a field of this input, so what the form stores
    /// is what the schema allows.
    fn pattern(self) -> Option<&'static str> {
        match self {
            Input::Date => Some("^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
            Input::Month => Some("^[0-9]{4}-[0-9]{2}(-[0-9]{2})?$"),
            Input::YearOrMonth => Some("^[0-9]{4}(-[0-9]{2})?$"),
            Input::Postcode => Some("^[1-9][0-9]{3} ?[A-Z]{2}$"),
            Input::Email | Input::Phone | Input::LongText => None,
        }
    }
}

/// The `autocomplete` tokens a field about the resident may carry (HTML, WCAG 1.3.5).
const AUTOCOMPLETE: [&str; 12] = [
    "name",
    "given-name",
    "additional-name",
    "family-name",
    "bday",
    "email",
    "tel",
    "street-address",
    "address-line1",
    "address-line2",
    "postal-code",
    "address-level2",
];

/// Checks a field's input and autocomplete against what it holds.
fn check_input(label: &FieldLabel, kind: &FieldKind) -> Result<(), String> {
    if let Some(token) = &label.autocomplete
        && !AUTOCOMPLETE.contains(&token.as_str())
    {
        return Err(format!(
            "autocomplete {token:?} is not a token for a resident's field"
        ));
    }
    let Some(input) = label.input else {
        return Ok(());
    };
    let FieldKind::Text { pattern, .. } = kind else {
        return Err(format!("input {input:?} on a field that is not text"));
    };
    match input.pattern() {
        Some(needed) if pattern.as_deref() != Some(needed) => {
            Err(format!("input {input:?} needs the schema pattern {needed}"))
        }
        _ => Ok(()),
    }
}

impl FieldLabel {
    /// The label in `language`.
    pub fn get(&self, language: Language) -> &str {
        language.pick(&self.nl, &self.en)
    }

    /// The hint in `language`, if there is one.
    pub fn hint(&self, language: Language) -> Option<&str> {
        language.pick(&self.hint_nl, &self.hint_en).as_deref()
    }
}

/// The labels of one category, as in `labels.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryLabels {
    /// The English description (the Dutch one is in the catalogue).
    pub description_en: String,
    fields: BTreeMap<String, FieldLabel>,
    values: BTreeMap<String, BTreeMap<String, Text>>,
}

/// Builds the field tree of a record schema, taking labels from `labels` (and checking
/// that every field and choice has one, and that no label is left over).
pub fn from_schema(schema: &Value, labels: &CategoryLabels) -> Result<Vec<Field>, String> {
    let mut used_fields = Vec::new();
    let mut used_values = Vec::new();
    let fields = object_fields(schema, "", labels, &mut used_fields, &mut used_values)?;
    if let Some(extra) = labels.fields.keys().find(|k| !used_fields.contains(k)) {
        return Err(format!("a label for {extra:?}, which is not a field"));
    }
    for (path, values) in &labels.values {
        if let Some(extra) = values
            .keys()
            .find(|v| !used_values.contains(&(path.clone(), (*v).clone())))
        {
            return Err(format!(
                "a label for {path:?} = {extra:?}, which is not a choice"
            ));
        }
    }
    Ok(fields)
}

fn object_fields(
    schema: &Value,
    prefix: &str,
    labels: &CategoryLabels,
    used_fields: &mut Vec<String>,
    used_values: &mut Vec<(String, String)>,
) -> Result<Vec<Field>, String> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else {
        return Err(format!("{prefix:?}: an object without properties"));
    };
    let mut fields = Vec::new();
    for (name, property) in properties {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let label = labels
            .fields
            .get(&path)
            .ok_or_else(|| format!("no label for the field {path:?}"))?
            .clone();
        if label.nl.trim().is_empty()
            || label.en.trim().is_empty()
            || label.hint_nl.is_some() != label.hint_en.is_some()
        {
            return Err(format!("the label of {path:?} lacks a language"));
        }
        used_fields.push(path.clone());
        let kind = field_kind(property, &path, labels, used_fields, used_values)?;
        check_input(&label, &kind).map_err(|e| format!("{path:?}: {e}"))?;
        fields.push(Field {
            name: name.clone(),
            required: required.contains(&name.as_str()),
            path,
            kind,
            label,
        });
    }
    Ok(fields)
}

fn field_kind(
    schema: &Value,
    path: &str,
    labels: &CategoryLabels,
    used_fields: &mut Vec<String>,
    used_values: &mut Vec<(String, String)>,
) -> Result<FieldKind, String> {
    let number = |key: &str| schema[key].as_f64();
    let count = |key: &str| schema[key].as_u64();
    if let Some(choices) = schema["enum"].as_array() {
        let mut out = Vec::new();
        for choice in choices {
            let value = choice
                .as_str()
                .ok_or_else(|| format!("{path:?}: a choice that is not a string"))?;
            let text = labels
                .values
                .get(path)
                .and_then(|v| v.get(value))
                .ok_or_else(|| format!("no label for {path:?} = {value:?}"))?;
            used_values.push((path.to_owned(), value.to_owned()));
            out.push((value.to_owned(), text.clone()));
        }
        return Ok(FieldKind::Choice(out));
    }
    match schema["type"].as_str() {
        Some("string") => Ok(FieldKind::Text {
            max_length: count("maxLength"),
            min_length: count("minLength"),
            pattern: schema["pattern"].as_str().map(str::to_owned),
        }),
        Some("integer") => Ok(FieldKind::Integer {
            minimum: number("minimum"),
            maximum: number("maximum"),
        }),
        Some("number") => Ok(FieldKind::Number {
            minimum: number("minimum"),
            maximum: number("maximum"),
        }),
        Some("boolean") => Ok(FieldKind::Boolean),
        Some("object") => Ok(FieldKind::Group(object_fields(
            schema,
            path,
            labels,
            used_fields,
            used_values,
        )?)),
        Some("array") => match schema["items"]["type"].as_str() {
            Some("object") => Ok(FieldKind::List {
                item: object_fields(&schema["items"], path, labels, used_fields, used_values)?,
                max_items: count("maxItems"),
            }),
            Some("string") if schema["items"].get("enum").is_none() => Ok(FieldKind::TextList {
                max_items: count("maxItems"),
                max_length: schema["items"]["maxLength"].as_u64(),
            }),
            _ => Err(format!("{path:?}: an array the portal cannot show")),
        },
        _ => Err(format!("{path:?}: a type the portal cannot show")),
    }
}
