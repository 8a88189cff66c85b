//! Kluis' end-to-end tests: one test binary, real parts only.
//!
//! Every test gets its own vault: in-process on `127.0.0.1:0` with its own data directory
//! ([`support::TestVault`]), or a real `kluis` process ([`support::VaultProcess`]) where the
//! test needs to kill or restart it. No test sleeps to wait for a port or guesses one.

mod support;

/// Henk's journey: the same code the example runs.
#[path = "../../examples/henks_journey/journey.rs"]
mod henks_journey;

mod at_rest;
mod audit;
mod backup;
mod bad_input;
mod browser_harness;
mod case_status;
mod checkpoint_notes;
mod coach_browser;
mod coach_cli;
mod coaching;
mod consent;
mod consent_records;
mod crash;
mod crash_rounds;
mod database_faults;
mod department_cli;
mod department_writes;
mod encrypted_reads;
mod failover;
mod forms_browser;
mod hsm;
mod integrity;
mod isolation;
mod journey;
mod key_rotation;
mod life_events;
mod life_events_browser;
mod limits;
mod logging_standards;
mod login;
mod metrics;
mod migrate;
mod node_kill;
mod nodes;
mod officer_browser;
mod one_signature;
mod openapi;
mod pause;
mod portability;
mod portal;
mod portal_browser;
mod privacy_notice;
mod read_pipeline;
mod records;
mod refusals;
mod reports;
mod revocation;
mod schemes;
mod schemes_browser;
mod signals;
mod signals_delivery;
mod signals_expiry;
mod signals_process;
mod signing_key_rotation;
