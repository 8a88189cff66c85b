//! The key hierarchy: create, reopen, rotate, destroy, refuse the wrong root key.

use super::*;

fn root() -> RootKey {
    RootKey::file([7u8; 32])
}

#[test]
fn root_key_decoding_never_echoes_input() {
    let err = RootKey::from_encoded("not base64 at all !!").err().unwrap();
    assert!(!err.contains("at all"));
    let short = RootKey::from_encoded("c2hvcnQ=").err().unwrap();
    assert!(short.contains("32 bytes") && short.contains('5'), "{short}");
    let encoded = RootKey::generate_encoded().unwrap();
    let key = RootKey::from_encoded(&encoded).unwrap();
    let back = RootKey::from_encoded(&format!("  {}\n", encoded.as_str())).unwrap();
    let sealed = key.seal(b"aad", b"secret").unwrap();
    assert_eq!(
        &back.open(b"aad", &sealed.0, "test").unwrap()[..],
        b"secret"
    );
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
    let wrong = RootKey::file([8u8; 32]);
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

/// Two nodes sharing one key directory (a shared volume): a rotation by either is seen
/// by the other, a KEK one destroyed is forgotten by the other, and two rotations at the
/// same moment end with one KEK of the new version.
#[test]
fn nodes_sharing_a_key_directory_follow_each_others_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let a = Keyring::open(dir.path(), root(), true).unwrap();
    let b = Keyring::open(dir.path(), root(), false).unwrap();
    let henk = Uuid::new_v4();
    let (_, wrapped_v1) = b.new_data_key(&henk).unwrap();

    // A rotates: B opens what A rewrapped, under a KEK it had never loaded.
    let v2 = a.add_kek().unwrap();
    let rewrapped = a.rewrap(&henk, &wrapped_v1).unwrap();
    assert!(b.unwrap(&henk, &rewrapped).is_ok());

    // A destroys the old KEK: B wraps new keys under the new one, never the destroyed,
    // and after a refresh B cannot open the old wrapping either.
    a.destroy_older_than(v2).unwrap();
    let (_, fresh) = b.new_data_key(&Uuid::new_v4()).unwrap();
    assert_eq!(fresh.kek_version().unwrap(), v2);
    b.refresh().unwrap();
    assert_eq!(b.kek_versions(), vec![v2]);
    assert_eq!(
        b.unwrap(&henk, &wrapped_v1).err(),
        Some(CryptoError::MissingKey { version: 1 })
    );

    // One rotation after the other: each makes a KEK of its own (a rotation that
    // completes an erasure must never settle for a KEK made before it), and each node
    // opens what the other wrapped.
    let (from_a, from_b) = (a.add_kek().unwrap(), b.add_kek().unwrap());
    assert_eq!((from_a, from_b), (3, 4));
    let by_a = a.rewrap(&henk, &rewrapped).unwrap();
    let by_b = b.rewrap(&henk, &rewrapped).unwrap();
    assert_eq!(
        by_a.kek_version().unwrap(),
        4,
        "A wraps under B's newer KEK as soon as it exists"
    );
    assert!(b.unwrap(&henk, &by_a).is_ok());
    assert!(a.unwrap(&henk, &by_b).is_ok());
}

/// Two nodes that rotate at the same moment both pick the next version: the second to
/// write finds the first's file and takes it, never overwriting it.
#[test]
fn a_kek_file_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = kek_file(dir.path(), 7);
    assert!(write_sealed_new(&path, &root(), &kek_aad(7), &[1u8; 32]).unwrap());
    let first = std::fs::read(&path).unwrap();
    assert!(!write_sealed_new(&path, &root(), &kek_aad(7), &[2u8; 32]).unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), first);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file is left behind");
}

/// A crash in the middle of destroying a KEK, or of writing a key, leaves nothing that
/// stops the vault from starting, and nothing that still holds a key: the next open clears
/// it. A temporary file another node may still be writing is left alone, and one that is
/// a second name of a live KEK (a crash after linking it into place) is only unlinked.
#[test]
fn what_a_crash_leaves_in_the_key_directory_is_wiped_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let keyring = Keyring::open(dir.path(), root(), true).unwrap();
    keyring.add_kek().unwrap();
    keyring.destroy_older_than(2).unwrap();
    drop(keyring);

    // Killed after moving KEK 2 out of the keyring, before wiping it.
    let grave = dir.path().join("kek-2.destroyed-0123");
    std::fs::write(&grave, b"sealed kek").unwrap();
    // Killed after writing a key to its temporary file, before putting it in place.
    let abandoned = dir.path().join("kek-3.tmp-0123");
    std::fs::write(&abandoned, b"sealed kek").unwrap();
    // Written long ago (the file system's time, not the vault's clock).
    let long_ago = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    std::fs::File::options()
        .write(true)
        .open(&abandoned)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    let in_progress = dir.path().join("kek-3.tmp-4567");
    std::fs::write(&in_progress, b"sealed kek").unwrap();
    // Killed after linking KEK 2 into place, before removing its temporary name.
    let second_name = dir.path().join("kek-2.tmp-89ab");
    std::fs::hard_link(kek_file(dir.path(), 2), &second_name).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&second_name)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();

    let keyring = Keyring::open(dir.path(), root(), false).unwrap();
    assert_eq!(keyring.kek_versions(), vec![2]);
    assert!(!second_name.exists());
    drop(keyring);
    let reopened = Keyring::open(dir.path(), root(), false).unwrap();
    assert_eq!(
        reopened.kek_versions(),
        vec![2],
        "the live KEK survived the removal of its second name"
    );
    assert!(
        !grave.exists(),
        "a KEK half-way through destruction is wiped"
    );
    assert!(!abandoned.exists(), "an abandoned temporary key is removed");
    assert!(
        in_progress.exists(),
        "a key another node is writing is left alone"
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains("destroyed")),
        "destroying leaves no grave behind: {names:?}"
    );
}

/// A key directory with two KEKs, the pseudonym key and a vault secret, its root key, and a
/// data key wrapped in it.
fn filled(dir: &Path) -> (RootKey, Uuid, WrappedDataKey) {
    let old = RootKey::generate().unwrap();
    let keyring = Keyring::open(dir, old.clone(), true).unwrap();
    keyring.add_kek().unwrap();
    keyring
        .store_secret(
            "signing-00000001.key",
            "kluis/signing/v1/1",
            b"a signing key",
        )
        .unwrap();
    let resident = Uuid::new_v4();
    let (_, wrapped) = keyring.new_data_key(&resident).unwrap();
    (old, resident, wrapped)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn a_new_root_key_opens_everything_and_the_old_one_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (old, resident, wrapped) = filled(dir.path());
    let keyring = Keyring::open(dir.path(), old.clone(), false).unwrap();
    keyring
        .load_secret("signing-00000001.key", "kluis/signing/v1/1")
        .unwrap();
    let new = RootKey::generate().unwrap();
    assert_eq!(keyring.change_root(new.clone()).unwrap(), 4);
    // The running keyring goes on, under the new root key.
    assert!(keyring.unwrap(&resident, &wrapped).is_ok());
    keyring.refresh().unwrap();
    keyring
        .store_secret("later.key", "kluis/later", b"x")
        .unwrap();
    assert!(!dir.path().join("next-root").exists());
    drop(keyring);

    assert!(Keyring::open(dir.path(), old.clone(), false).is_err());
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let sealed = std::fs::read(entry.unwrap().path()).unwrap();
        for label in [
            &b"kluis/pseudonym/v1"[..],
            b"kluis/signing/v1/1",
            &kek_aad(1),
            &kek_aad(2),
            b"kluis/later",
        ] {
            assert!(
                old.open(label, &sealed, "a key file").is_err(),
                "the old root key opens a file"
            );
        }
    }
    let reopened = Keyring::open(dir.path(), new, false).unwrap();
    assert!(reopened.unwrap(&resident, &wrapped).is_ok());
    assert_eq!(
        reopened
            .load_secret("signing-00000001.key", "kluis/signing/v1/1")
            .unwrap()
            .unwrap()
            .as_slice(),
        b"a signing key"
    );
}

#[test]
fn a_root_key_change_a_crash_cut_short_is_finished_if_committed_and_undone_if_not() {
    let dir = tempfile::tempdir().unwrap();
    let (old, resident, wrapped) = filled(dir.path());
    let before = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), before.path());
    let keyring = Keyring::open(dir.path(), old.clone(), false).unwrap();
    keyring
        .load_secret("signing-00000001.key", "kluis/signing/v1/1")
        .unwrap();
    let new = RootKey::generate().unwrap();
    keyring.change_root(new.clone()).unwrap();

    // Killed after the commit, with one file moved and the others not: the next start
    // finishes it.
    let committed = tempfile::tempdir().unwrap();
    copy_dir(before.path(), committed.path());
    copy_dir(dir.path(), &committed.path().join("next-root"));
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    std::fs::write(
        committed.path().join("next-root/COMMITTED"),
        names.join("\n"),
    )
    .unwrap();
    std::fs::rename(
        committed.path().join("next-root").join(&names[0]),
        committed.path().join(&names[0]),
    )
    .unwrap();
    assert!(Keyring::open(committed.path(), new.clone(), false).is_ok());
    assert!(!committed.path().join("next-root").exists());
    assert!(Keyring::open(committed.path(), old.clone(), false).is_err());
    let finished = Keyring::open(committed.path(), new, false).unwrap();
    assert!(finished.unwrap(&resident, &wrapped).is_ok());

    // Killed before the commit: the old root key goes on. A young `next-root/` may be
    // another node's change in progress and stays; an old one is a crash's and goes.
    let uncommitted = tempfile::tempdir().unwrap();
    copy_dir(before.path(), uncommitted.path());
    copy_dir(dir.path(), &uncommitted.path().join("next-root"));
    let undone = Keyring::open(uncommitted.path(), old.clone(), false).unwrap();
    assert!(undone.unwrap(&resident, &wrapped).is_ok());
    assert!(uncommitted.path().join("next-root").exists());
    drop(undone);
    let long_ago = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    std::fs::File::open(uncommitted.path().join("next-root"))
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    let undone = Keyring::open(uncommitted.path(), old, false).unwrap();
    assert!(undone.unwrap(&resident, &wrapped).is_ok());
    assert!(!uncommitted.path().join("next-root").exists());
}

#[test]
fn a_root_key_change_refuses_a_key_file_it_cannot_name_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (old, resident, wrapped) = filled(dir.path());
    // Opened without loading the signing key: its label is unknown to this keyring.
    let keyring = Keyring::open(dir.path(), old.clone(), false).unwrap();
    let err = keyring
        .change_root(RootKey::generate().unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("signing-00000001.key"), "{err}");
    assert!(!dir.path().join("next-root").exists());
    drop(keyring);
    let reopened = Keyring::open(dir.path(), old, false).unwrap();
    assert!(reopened.unwrap(&resident, &wrapped).is_ok());
}
