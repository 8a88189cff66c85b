//! The municipality's own face in the portal: its name, the phone number residents call
//! with a question or a complaint, and its NL Design System theme (the token stylesheet of
//! its design-tokens package, the class the tokens hang on, and its logo). Checked once at
//! start; `kluis dev` shows the bundled example municipality.

use super::ConfigError;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The largest theme stylesheet accepted.
const MAX_STYLESHEET_BYTES: u64 = 512 * 1024;
/// The largest logo accepted.
const MAX_LOGO_BYTES: u64 = 100 * 1024;

/// `[municipality]` as it is written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MunicipalitySection {
    name: Option<String>,
    phone: Option<String>,
    theme_stylesheet: Option<PathBuf>,
    theme_class: Option<String>,
    logo: Option<PathBuf>,
}

/// The municipality as the portal shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Municipality {
    /// Its name, such as "Gemeente Voorbeeld".
    pub name: String,
    /// The phone number for questions and complaints, such as "14 078".
    pub phone: Option<String>,
    /// Its NL Design System theme, if it set one (else the built-in voorbeeld theme).
    pub theme: Option<Theme>,
    /// Its logo, an SVG document.
    pub logo_svg: Option<String>,
}

/// A municipality's NL Design System theme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Theme {
    /// The token stylesheet.
    pub stylesheet: String,
    /// The class on `<html>` its tokens apply to, such as `denhaag-theme`.
    pub class: String,
}

impl Default for Municipality {
    fn default() -> Self {
        Municipality {
            name: "Gemeente".into(),
            phone: None,
            theme: None,
            logo_svg: None,
        }
    }
}

impl Municipality {
    /// The example municipality `kluis dev` shows (its phone number is not in use).
    pub fn example() -> Municipality {
        Municipality {
            name: "Gemeente Voorbeeld".into(),
            phone: Some("078 000 0000".into()),
            theme: Some(Theme {
                stylesheet: include_str!("../../web/example-theme/theme.css").into(),
                class: "gemeente-voorbeeld-theme".into(),
            }),
            logo_svg: Some(include_str!("../../web/example-theme/logo.svg").into()),
        }
    }

    /// Checks the section and reads its files; paths are relative to the working directory.
    pub(super) fn from_section(section: MunicipalitySection) -> Result<Municipality, ConfigError> {
        let invalid =
            |setting: &'static str, reason: String| ConfigError::Invalid { setting, reason };
        let mut municipality = Municipality::default();
        if let Some(name) = section.name {
            if name.trim().is_empty() || name.chars().count() > 80 {
                return Err(invalid(
                    "[municipality] name",
                    "must be 1 to 80 characters, such as \"Gemeente Dordrecht\"".into(),
                ));
            }
            municipality.name = name;
        }
        if let Some(phone) = section.phone {
            let digits = phone.chars().filter(char::is_ascii_digit).count();
            if !(4..=15).contains(&digits)
                || !phone
                    .chars()
                    .all(|c| c.is_ascii_digit() || " +-".contains(c))
            {
                return Err(invalid(
                    "[municipality] phone",
                    format!(
                        "{phone:?} is not a phone number such as \"14 078\" or \"078 770 4000\""
                    ),
                ));
            }
            municipality.phone = Some(phone);
        }
        match (section.theme_stylesheet, section.theme_class) {
            (None, None) => {}
            (Some(path), Some(class)) => {
                let valid_class = !class.is_empty()
                    && class.len() <= 64
                    && class
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
                if !valid_class {
                    return Err(invalid(
                        "[municipality] theme_class",
                        format!(
                            "{class:?} must be lowercase letters, digits and dashes, such as \"denhaag-theme\""
                        ),
                    ));
                }
                let stylesheet = read(
                    &path,
                    MAX_STYLESHEET_BYTES,
                    "[municipality] theme_stylesheet",
                )?;
                if !stylesheet.contains(&format!(".{class}")) {
                    return Err(invalid(
                        "[municipality] theme_stylesheet",
                        format!(
                            "{} has no rule for .{class}; set theme_class to the class its tokens use",
                            path.display()
                        ),
                    ));
                }
                if stylesheet.contains("@import") || stylesheet.contains("url(") {
                    return Err(invalid(
                        "[municipality] theme_stylesheet",
                        format!(
                            "{} loads other files (@import or url()); the portal serves one stylesheet with tokens only",
                            path.display()
                        ),
                    ));
                }
                municipality.theme = Some(Theme { stylesheet, class });
            }
            _ => {
                return Err(invalid(
                    "[municipality] theme_stylesheet",
                    "set theme_stylesheet and theme_class together".into(),
                ));
            }
        }
        if let Some(path) = section.logo {
            let svg = read(&path, MAX_LOGO_BYTES, "[municipality] logo")?;
            let lower = svg.to_lowercase();
            if !lower.contains("<svg") || lower.contains("<script") || lower.contains("href=\"http")
            {
                return Err(invalid(
                    "[municipality] logo",
                    format!(
                        "{} must be an SVG image without scripts or links to other sites",
                        path.display()
                    ),
                ));
            }
            municipality.logo_svg = Some(svg);
        }
        Ok(municipality)
    }
}

fn read(path: &Path, max: u64, setting: &'static str) -> Result<String, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { setting, reason };
    let size = std::fs::metadata(path)
        .map_err(|e| invalid(format!("{}: {}", path.display(), super::io_reason(&e))))?
        .len();
    if size > max {
        return Err(invalid(format!(
            "{} is {size} bytes; at most {max}",
            path.display()
        )));
    }
    std::fs::read_to_string(path)
        .map_err(|e| invalid(format!("{}: {}", path.display(), super::io_reason(&e))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(files: &tempfile::TempDir) -> MunicipalitySection {
        let css = files.path().join("theme.css");
        std::fs::write(
            &css,
            ".dordrecht-theme { --voorbeeld-color-primary: #00594f; }",
        )
        .unwrap();
        let logo = files.path().join("logo.svg");
        std::fs::write(&logo, "<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>").unwrap();
        MunicipalitySection {
            name: Some("Gemeente Dordrecht".into()),
            phone: Some("14 078".into()),
            theme_stylesheet: Some(css),
            theme_class: Some("dordrecht-theme".into()),
            logo: Some(logo),
        }
    }

    fn refusal(section: MunicipalitySection) -> String {
        Municipality::from_section(section).unwrap_err().to_string()
    }

    #[test]
    fn a_municipality_sets_its_name_phone_theme_and_logo() {
        let files = tempfile::tempdir().unwrap();
        let m = Municipality::from_section(section(&files)).unwrap();
        assert_eq!(m.name, "Gemeente Dordrecht");
        assert_eq!(m.phone.as_deref(), Some("14 078"));
        assert_eq!(m.theme.unwrap().class, "dordrecht-theme");
        assert!(m.logo_svg.unwrap().starts_with("<svg"));
        assert_eq!(
            Municipality::from_section(MunicipalitySection::default()).unwrap(),
            Municipality::default()
        );
    }

    #[test]
    fn every_mistake_is_refused_with_the_setting_and_the_fix() {
        let files = tempfile::tempdir().unwrap();
        let bad_phone = refusal(MunicipalitySection {
            phone: Some("bel ons".into()),
            ..section(&files)
        });
        assert!(
            bad_phone.contains("[municipality] phone") && bad_phone.contains("14 078"),
            "{bad_phone}"
        );
        let bad_class = refusal(MunicipalitySection {
            theme_class: Some("Den Haag".into()),
            ..section(&files)
        });
        assert!(bad_class.contains("theme_class"), "{bad_class}");
        let other_class = refusal(MunicipalitySection {
            theme_class: Some("utrecht-theme".into()),
            ..section(&files)
        });
        assert!(
            other_class.contains("has no rule for .utrecht-theme"),
            "{other_class}"
        );
        let alone = refusal(MunicipalitySection {
            theme_class: None,
            ..section(&files)
        });
        assert!(alone.contains("together"), "{alone}");
        let missing = refusal(MunicipalitySection {
            logo: Some(files.path().join("nope.svg")),
            ..section(&files)
        });
        assert!(
            missing.contains("[municipality] logo") && missing.contains("nope.svg"),
            "{missing}"
        );
        let script = files.path().join("evil.svg");
        std::fs::write(&script, "<svg><script>alert(1)</script></svg>").unwrap();
        let evil = refusal(MunicipalitySection {
            logo: Some(script),
            ..section(&files)
        });
        assert!(evil.contains("without scripts"), "{evil}");
        let importing = files.path().join("import.css");
        std::fs::write(
            &importing,
            "@import url(https://cdn.example/x.css); .dordrecht-theme {}",
        )
        .unwrap();
        let imports = refusal(MunicipalitySection {
            theme_stylesheet: Some(importing),
            ..section(&files)
        });
        assert!(imports.contains("loads other files"), "{imports}");
    }

    #[test]
    fn the_example_municipality_has_a_theme_on_its_own_class() {
        let example = Municipality::example();
        let theme = example.theme.unwrap();
        assert!(theme.stylesheet.contains(&format!(".{} {{", theme.class)));
        assert!(example.logo_svg.unwrap().contains("<svg"));
    }
}
