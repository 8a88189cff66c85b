//! The crypto floor of one read on this machine, measured in the same run: what a read
//! as designed cannot avoid, with nothing else around it.
//!
//! A read verifies one ES256 signature (the DPoP proof), opens two AES-256-GCM boxes (the
//! record's data key under its key-encryption key, then the 1 KB record) and hashes about
//! 2 KB with SHA-256 (the proof's `ath` over the grant, the replay key, the audit leaf).
//! The floor is the machine's cores divided by that time: the rate a vault that did
//! nothing but that crypto would reach.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair};
use std::hint::black_box;
use std::time::Instant;

/// The measured rates and the floor.
pub struct Floor {
    verify_per_second: f64,
    open_per_second: f64,
    sha_kib_per_second: f64,
    cores: usize,
    /// Reads/s if a read were only its crypto, on all cores.
    pub reads_per_second: f64,
    /// The same with three signature checks per read (the design before).
    three_signatures: f64,
}

/// How long one call of `op` takes, in seconds, over about a quarter second.
fn seconds_per(mut op: impl FnMut()) -> f64 {
    let mut n = 0u64;
    let began = Instant::now();
    while began.elapsed().as_millis() < 250 {
        for _ in 0..16 {
            op();
        }
        n += 16;
    }
    began.elapsed().as_secs_f64() / n as f64
}

pub fn measure() -> Floor {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .expect("key");
    let pair = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        pkcs8.as_ref(),
        &rng,
    )
    .expect("key");
    let message = [7u8; 600];
    let signed = pair.sign(&rng, &message).expect("sign");
    let public =
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, pair.public_key());
    let verify = seconds_per(|| {
        public
            .verify(black_box(&message), signed.as_ref())
            .expect("verify")
    });

    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[9u8; 32]).expect("key"));
    let sealed = |len: usize| {
        let mut data = vec![1u8; len];
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::empty(),
            &mut data,
        )
        .expect("seal");
        data
    };
    let (record, data_key) = (sealed(1024), sealed(32));
    let open = |sealed: &Vec<u8>| {
        let mut data = sealed.clone();
        key.open_in_place(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::empty(),
            &mut data,
        )
        .map(|plain| plain.len())
        .expect("open");
    };
    let open_both = seconds_per(|| {
        open(black_box(&record));
        open(black_box(&data_key));
    });
    let kib = [3u8; 1024];
    let sha = seconds_per(|| {
        black_box(ring::digest::digest(&ring::digest::SHA256, black_box(&kib)));
    });

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let crypto = |signatures: f64| signatures * verify + open_both + 2.0 * sha;
    Floor {
        verify_per_second: 1.0 / verify,
        open_per_second: 2.0 / open_both,
        sha_kib_per_second: 1.0 / sha,
        cores,
        reads_per_second: cores as f64 / crypto(1.0),
        three_signatures: cores as f64 / crypto(3.0),
    }
}

impl Floor {
    pub fn print(&self) {
        println!(
            "crypto floor: ES256 verify {:.0}/s, AES-256-GCM open {:.0}/s, SHA-256 {:.0} KiB/s (one core each)",
            self.verify_per_second, self.open_per_second, self.sha_kib_per_second
        );
        println!(
            "  one read (1 signature check, 2 AES-GCM opens, 2 KiB hashed) on {} cores: {:.0} reads/s; with 3 signature checks: {:.0} reads/s",
            self.cores, self.reads_per_second, self.three_signatures
        );
    }
}
