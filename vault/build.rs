//! Bundles the portal's stylesheet into the binary: the NL Design System's design tokens
//! and component styles (npm packages in `web/`, installed with `npm ci --prefix
//! vault/web`), then the portal's own `web/portal.css`.
//!
//! Without the npm packages (a machine without Node.js, or offline) the build tries
//! `npm ci` once and otherwise bundles `portal.css` alone with a warning: the portal stays
//! usable and accessible, only plainer. The test command installs the packages, and a
//! test checks that the bundle holds them.

use std::path::{Path, PathBuf};
use std::process::Command;

const TOKENS: &str =
    "node_modules/@nl-design-system-unstable/voorbeeld-design-tokens/dist/theme.css";
const COMPONENTS: &str = "node_modules/@utrecht/component-library-css/dist/index.css";

fn main() {
    let web =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("web");
    for file in [
        "package.json",
        "package-lock.json",
        "portal.css",
        TOKENS,
        COMPONENTS,
    ] {
        println!("cargo:rerun-if-changed={}", web.join(file).display());
    }
    if !web.join(COMPONENTS).exists() {
        install(&web);
    }
    let mut bundle = String::new();
    if web.join(TOKENS).exists() && web.join(COMPONENTS).exists() {
        bundle.push_str(&read(&web.join(TOKENS)));
        bundle.push('\n');
        bundle.push_str(&read(&web.join(COMPONENTS)));
        bundle.push('\n');
    } else {
        println!(
            "cargo:warning=the NL Design System stylesheets are missing; the portal gets its plain fallback style (run `npm ci --prefix vault/web` and build again)"
        );
    }
    bundle.push_str(&read(&web.join("portal.css")));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("portal.css");
    std::fs::write(&out, bundle).expect("the bundle can be written to OUT_DIR");
}

fn install(web: &Path) {
    let installed = Command::new("npm")
        .args([
            "ci",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--prefix",
        ])
        .arg(web)
        .output();
    if !installed.is_ok_and(|o| o.status.success()) {
        println!("cargo:warning=`npm ci --prefix vault/web` did not succeed");
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
