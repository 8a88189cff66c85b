//! For tests and benchmarks that run cargo themselves (to build the `kluis` binary they
//! start as a separate process): the environment such a nested cargo must not inherit.

use std::process::Command;

/// Leaves out of `command` (a nested cargo) the variables `cargo test` and `cargo bench` set
/// for the process they run: ring's build script watches some of them, so a nested cargo
/// that saw them would rebuild ring and everything above it, and the next outer cargo
/// would rebuild them again (about a minute and a half each time).
pub fn without_outer_cargo_env(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
            || ["OUT_DIR", "CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR"].contains(&name)
        {
            command.env_remove(name);
        }
    }
    command
}
