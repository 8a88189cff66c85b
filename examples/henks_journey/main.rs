//! Henk's journey against a running `kluis dev`.
//!
//! ```sh
//! cargo run -p kluis -- dev --data /tmp/kluis-demo        # in one terminal
//! cargo run --example henks_journey -- --vault http://127.0.0.1:8080 --keys /tmp/kluis-demo/departments
//! ```

mod journey;

use std::path::PathBuf;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut vault = "http://127.0.0.1:8080".to_owned();
    let mut keys: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--vault" => {
                vault = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--vault needs a URL"))?
            }
            "--keys" => keys = args.next().map(PathBuf::from),
            _ => anyhow::bail!(
                "usage: henks_journey --vault URL --keys DIR (the departments folder that kluis dev printed)"
            ),
        }
    }
    let keys = keys.ok_or_else(|| {
        anyhow::anyhow!("--keys DIR is required: the departments folder that kluis dev printed")
    })?;
    journey::run(&vault, &keys, &mut |line| println!("{line}")).await?;
    Ok(())
}
