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
