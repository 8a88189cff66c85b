//! The shape of the ids an operator chooses: departments, their processing activities,
//! privacy officers, login providers. One rule, so that every id can appear in a path, a
//! log line or a file name without escaping.

/// An id: 2 to 64 lowercase letters, digits or dashes, starting with a letter.
pub fn is_id(id: &str) -> bool {
    (2..=64).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A code of eight base-32 characters as someone typed it ("k7qm 3xpa", "K7QM-3XPA"),
/// as "K7QM-3XPA"; `None` when it cannot be one. (Complaint codes and coaches' one-time
/// codes: letters and the digits 2 to 7, so no 0/O or 1/I mix-ups on the phone.)
pub fn parse_spoken_code(typed: &str) -> Option<String> {
    let compact: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid = compact.len() == 8
        && data_encoding::BASE32_NOPAD
            .decode(compact.as_bytes())
            .is_ok();
    valid.then(|| format!("{}-{}", &compact[..4], &compact[4..]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_short_lowercase_words() {
        for good in ["wi", "schuldhulp", "wmo-2", "a-b-c"] {
            assert!(super::is_id(good), "{good}");
        }
        for bad in [
            "",
            "a",
            "Werk",
            "2werk",
            "werk_en",
            "werk/..",
            &"a".repeat(65),
        ] {
            assert!(!super::is_id(bad), "{bad}");
        }
    }
}
