//! The root key in a real PKCS#11 token (SoftHSM2 from Debian's packages): the key
//! `generate` makes cannot leave the token, the keyring seals and opens through it, and a
//! key the token would hand out is refused. SoftHSM2 reads its configuration from the
//! environment, so the test runs itself again as a child process with it set (this crate
//! forbids the `unsafe` that changing a running process's environment takes).

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use kluis::crypto::{Keyring, RootKey, TokenSettings};
use std::process::Command;
use zeroize::Zeroizing;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "1234-5678";

const TEST: &str = "the_root_key_stays_in_the_token_and_a_key_that_could_leave_is_refused";

#[test]
fn the_root_key_stays_in_the_token_and_a_key_that_could_leave_is_refused() {
    let Some(conf) = std::env::var_os("SOFTHSM2_CONF") else {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tokens")).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.path().join("tokens").display()
            ),
        )
        .unwrap();
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST, "--nocapture", "--test-threads", "1"])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.contains("1 passed"),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    };
    let dir = std::path::Path::new(&conf).parent().unwrap().to_owned();
    let out = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", "vault", "--pin", PIN])
        .args(["--so-pin", "so-1234"])
        .output()
        .expect("softhsm2-util runs (Debian package `softhsm2`; scripts/test installs it)");
    assert!(out.status.success(), "{out:?}");
    let settings = |key: &str| TokenSettings {
        module: MODULE.into(),
        token: "vault".into(),
        key: key.into(),
        pin: Zeroizing::new(PIN.into()),
    };

    // No key yet: refused with what to do.
    let err = RootKey::in_token(&settings("root")).err().unwrap();
    assert!(err.contains("kluis keys generate-root --pkcs11"), "{err}");
    settings("root").generate().unwrap();
    let again = settings("root").generate().unwrap_err();
    assert!(again.contains("already holds"), "{again}");

    // The keyring seals under it and opens again through a fresh session.
    let keys = dir.join("keys");
    Keyring::open(&keys, RootKey::in_token(&settings("root")).unwrap(), true).unwrap();
    let ring = Keyring::open(&keys, RootKey::in_token(&settings("root")).unwrap(), false).unwrap();
    assert_eq!(ring.kek_versions(), [1]);
    assert!(Keyring::open(&keys, RootKey::generate().unwrap(), false).is_err());

    // A wrong PIN, a wrong token: one line each, without the PIN. (Logins are per process
    // and token: with the keyring's session closed, the next one logs in afresh.)
    drop(ring);
    let wrong_pin = TokenSettings {
        pin: Zeroizing::new("0000".into()),
        ..settings("root")
    };
    let err = RootKey::in_token(&wrong_pin).err().unwrap();
    assert!(
        err.contains("is the PIN right?") && !err.contains(PIN),
        "{err}"
    );
    let elsewhere = TokenSettings {
        token: "other".into(),
        ..settings("root")
    };
    let err = RootKey::in_token(&elsewhere).err().unwrap();
    assert!(err.contains("\"other\" is not present"), "{err}");

    // In the token: sensitive, never extractable, its value unreadable.
    // The vault's own context keeps the module initialised in this process.
    let pkcs11 = Pkcs11::new(MODULE).unwrap();
    match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => panic!("{e}"),
    }
    let slot = pkcs11.get_slots_with_token().unwrap()[0];
    let session = pkcs11.open_rw_session(slot).unwrap();
    match session.login(UserType::User, Some(&AuthPin::new(PIN.into()))) {
        Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => panic!("{e}"),
    }
    let root = session
        .find_objects(&[Attribute::Label(b"root".to_vec())])
        .unwrap();
    let held = session
        .get_attributes(
            root[0],
            &[
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::NeverExtractable,
                AttributeType::Value,
            ],
        )
        .unwrap();
    assert!(held.contains(&Attribute::Sensitive(true)), "{held:?}");
    assert!(held.contains(&Attribute::Extractable(false)), "{held:?}");
    assert!(
        held.contains(&Attribute::NeverExtractable(true)),
        "{held:?}"
    );
    assert!(
        !held.iter().any(|a| matches!(a, Attribute::Value(_))),
        "the token handed out the key's value: {held:?}"
    );

    // A key the token would export is not accepted as the root key.
    session
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Label(b"loose".to_vec()),
                Attribute::ValueLen(32.into()),
                Attribute::Token(true),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
            ],
        )
        .unwrap();
    let err = RootKey::in_token(&settings("loose")).err().unwrap();
    assert!(err.contains("can be exported"), "{err}");
}
