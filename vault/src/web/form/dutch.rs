//! Values as Dutch residents write them, read into the form the record stores: dates
//! ("14-03-1985", "14 maart 1985"), months ("03-2021", "maart 2021"), amounts
//! ("€ 2.628,50", "1.500"), postcodes ("3311ab"), e-mail addresses and phone numbers.
//! Anything that could be misread is refused rather than guessed at; and the other way:
//! stored values as the form shows them again.

use chrono::NaiveDate;

/// Month names and abbreviations, Dutch and English, by month number.
const MONTHS: [(&str, u32); 33] = [
    ("januari", 1),
    ("january", 1),
    ("jan", 1),
    ("februari", 2),
    ("february", 2),
    ("feb", 2),
    ("maart", 3),
    ("march", 3),
    ("mrt", 3),
    ("mar", 3),
    ("april", 4),
    ("apr", 4),
    ("mei", 5),
    ("may", 5),
    ("juni", 6),
    ("june", 6),
    ("jun", 6),
    ("juli", 7),
    ("july", 7),
    ("jul", 7),
    ("augustus", 8),
    ("august", 8),
    ("aug", 8),
    ("september", 9),
    ("sept", 9),
    ("sep", 9),
    ("oktober", 10),
    ("october", 10),
    ("okt", 10),
    ("oct", 10),
    ("november", 11),
    ("december", 12),
    ("dec", 12),
];

/// The parts of a written date: numbers and words, split at spaces, dashes, slashes,
/// dots and commas.
fn parts(raw: &str) -> Vec<String> {
    raw.split(|c: char| c.is_whitespace() || matches!(c, '-' | '/' | '.' | ','))
        .filter(|p| !p.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn number(part: &str, max_digits: usize) -> Option<u32> {
    (!part.is_empty() && part.len() <= max_digits && part.bytes().all(|b| b.is_ascii_digit()))
        .then(|| part.parse().ok())
        .flatten()
}

/// A year: four digits (a two-digit year could be either century).
fn year(part: &str) -> Option<i32> {
    (part.len() == 4)
        .then(|| number(part, 4))
        .flatten()
        .map(|y| y as i32)
}

fn month(part: &str) -> Option<u32> {
    number(part, 2)
        .filter(|m| (1..=12).contains(m))
        .or_else(|| {
            MONTHS
                .iter()
                .find(|(name, _)| *name == part)
                .map(|(_, m)| *m)
        })
}

/// A day as written: "14-03-1985", "14/3/1985", "14 maart 1985" or "1985-03-14".
pub fn date(raw: &str) -> Option<NaiveDate> {
    let parts = parts(raw);
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    let (y, m, d) = match year(a) {
        Some(y) => (y, month(b)?, number(c, 2)?),
        None => (year(c)?, month(b)?, number(a, 2)?),
    };
    NaiveDate::from_ymd_opt(y, m, d)
}

/// A month as written: "03-2021", "3/2021", "maart 2021" or "2021-03"; as stored, "2021-03".
pub fn month_of_year(raw: &str) -> Option<String> {
    let parts = parts(raw);
    let [a, b] = parts.as_slice() else {
        return None;
    };
    let (y, m) = match year(a) {
        Some(y) => (y, month(b)?),
        None => (year(b)?, month(a)?),
    };
    Some(format!("{y:04}-{m:02}"))
}

/// A month, or a day (kept with its day), as the record stores it.
pub fn month_or_day(raw: &str) -> Option<String> {
    month_of_year(raw).or_else(|| date(raw).map(|d| d.format("%Y-%m-%d").to_string()))
}

/// A year ("2021") or a month, as the record stores it.
pub fn year_or_month(raw: &str) -> Option<String> {
    let parts = parts(raw);
    match parts.as_slice() {
        [only] => year(only).map(|y| format!("{y:04}")),
        _ => month_of_year(raw),
    }
}

/// A Dutch postcode with or without the space, any case: "3311 AB".
pub fn postcode(raw: &str) -> Option<String> {
    let plain: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    let plain = plain.to_uppercase();
    let (digits, letters) = plain.split_at_checked(4)?;
    let ok = digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
        && letters.len() == 2
        && letters.bytes().all(|b| b.is_ascii_uppercase());
    ok.then(|| format!("{digits} {letters}"))
}

/// An e-mail address: one `@`, a name before it and a domain with a dot after it.
pub fn email(raw: &str) -> Option<String> {
    let address = raw.trim();
    let domain = address.rsplit_once('@')?.1;
    (email_address::EmailAddress::is_valid(address)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.'))
    .then(|| address.to_owned())
}

/// A phone number: 10 to 15 digits, with spaces, dashes or brackets between them, and a
/// `+` only at the start. Kept as written.
pub fn phone(raw: &str) -> Option<String> {
    let number = raw.trim();
    let digits = number.chars().filter(char::is_ascii_digit).count();
    let allowed = number.char_indices().all(|(i, c)| {
        c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')') || (c == '+' && i == 0)
    });
    (allowed && (10..=15).contains(&digits)).then(|| number.to_owned())
}

/// An amount as people write it, in the form Rust parses: "€ 2.628,50", "2628,50",
/// "1.500" (Dutch thousands) and "12.50" all work; anything that could be misread
/// ("2.62,50", "1,2,3") is refused rather than guessed at.
pub fn amount(raw: &str) -> Option<String> {
    let plain: String = raw
        .chars()
        .filter(|c| !matches!(c, '€' | ' ' | '\u{a0}'))
        .collect();
    let (whole, decimals) = match plain.split_once(',') {
        Some((whole, decimals)) => (whole, Some(decimals)),
        // Without a comma, a dot before exactly three digits groups thousands; any other
        // single dot is a decimal point.
        None => match plain.split_once('.') {
            Some((whole, decimals)) if !thousands(&plain) => (whole, Some(decimals)),
            _ => (plain.as_str(), None),
        },
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let whole = if whole.contains('.') {
        thousands(whole).then(|| whole.replace('.', ""))?
    } else {
        whole.to_owned()
    };
    match decimals {
        None => digits(&whole).then_some(whole),
        Some(d) if digits(&whole) && digits(d) && d.len() <= 2 => Some(format!("{whole}.{d}")),
        Some(_) => None,
    }
}

/// Whether `s` is digits in groups of three after the first, split by dots ("1.500").
fn thousands(s: &str) -> bool {
    let mut groups = s.split('.');
    let first = groups.next().unwrap_or_default();
    s.contains('.')
        && (1..=3).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_digit())
        && groups.all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()))
}

/// A stored day or month as the form shows it: "1985-03-14" as "14-03-1985", "2021-03"
/// as "03-2021"; anything else as it is.
pub fn as_typed(stored: &str) -> String {
    if let Ok(day) = NaiveDate::parse_from_str(stored, "%Y-%m-%d") {
        return day.format("%d-%m-%Y").to_string();
    }
    match stored.split_once('-') {
        Some((y, m)) if y.len() == 4 && m.len() == 2 && month(m).is_some() => format!("{m}-{y}"),
        _ => stored.to_owned(),
    }
}
