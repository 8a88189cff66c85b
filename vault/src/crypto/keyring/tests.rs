//! The key hierarchy: create, reopen, rotate, destroy, refuse the wrong root key.

use super::*;

fn root() -> RootKey {
    RootKey(Zeroizing::new([7u8; 32]))
}

#[test]
fn root_key_decoding_never_echoes_input() {
    let err = RootKey::from_encoded("not base64 at all !!").err().unwrap();
    assert!(!err.contains("at all"));
    let short = RootKey::from_encoded("c2hvcnQ=").err().unwrap();
    assert!(short.contains("32 bytes") && short.contains('5'), "{short}");
    let key = RootKey::generate().unwrap();
    let back = RootKey::from_encoded(&format!("  {}\n", key.encode().as_str())).unwrap();
    assert_eq!(back.0, key.0);
}

#[test]
fn wrapped_keys_are_bound_to_their_resident() {
    let dir = tempfile::tempdir().unwrap();
    let ring = Keyring::open(dir.path(), root(), true).unwrap();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let (key, wrapped) = ring.new_data_key(&a).unwrap();
    let sealed = key.seal(b"aad", b"data").unwrap();
    let again = ring.unwrap(&a, &wrapped).unwrap();
    assert_eq!(&again.open(b"aad", &sealed.0).unwrap()[..], b"data");
    assert_eq!(
        ring.unwrap(&b, &wrapped).err(),
        Some(CryptoError::Integrity {
            what: "wrapped data key"
        })
    );
}

#[test]
fn missing_keyring_is_not_recreated_and_wrong_root_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    assert!(
        Keyring::open(&keys, root(), false).is_err(),
        "absent dir without create"
    );
    Keyring::open(&keys, root(), true).unwrap();
    let wrong = RootKey(Zeroizing::new([8u8; 32]));
    assert_eq!(
        Keyring::open(&keys, wrong, false).err(),
        Some(CryptoError::Integrity {
            what: "key-encryption key"
        })
    );
    Keyring::open(&keys, root(), false).unwrap();
}

#[test]
fn rotation_makes_old_wrappings_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let ring = Keyring::open(dir.path(), root(), true).unwrap();
    let (alive, erased) = (Uuid::new_v4(), Uuid::new_v4());
    let (_, wrapped_alive) = ring.new_data_key(&alive).unwrap();
    let (_, wrapped_erased) = ring.new_data_key(&erased).unwrap();
    let v2 = ring.add_kek().unwrap();
    let rewrapped = ring.rewrap(&alive, &wrapped_alive).unwrap();
    assert_eq!(rewrapped.kek_version().unwrap(), v2);
    assert_eq!(ring.destroy_older_than(v2).unwrap(), vec![1]);
    assert!(!kek_file(dir.path(), 1).exists());
    assert!(ring.unwrap(&alive, &rewrapped).is_ok());
    assert_eq!(
        ring.unwrap(&erased, &wrapped_erased).err(),
        Some(CryptoError::MissingKey { version: 1 })
    );
    // A restart sees the same state.
    let reopened = Keyring::open(dir.path(), root(), false).unwrap();
    assert_eq!(reopened.kek_versions(), vec![2]);
    assert!(reopened.unwrap(&alive, &rewrapped).is_ok());
}

#[test]
fn secrets_round_trip_bound_to_label() {
    let dir = tempfile::tempdir().unwrap();
    let ring = Keyring::open(dir.path(), root(), true).unwrap();
    assert!(ring.load_secret("signing.key", "sig").unwrap().is_none());
    ring.store_secret("signing.key", "sig", b"secret").unwrap();
    assert_eq!(
        &ring.load_secret("signing.key", "sig").unwrap().unwrap()[..],
        b"secret"
    );
    assert!(ring.load_secret("signing.key", "other").is_err());
}
