//! Crypto-shredding for the personal data the platform must hold (contact persons of organisations) and
//! for free text that could describe the people served (report narratives, reasons, comments).
//!
//! Event logs are append-only and hash-chained, so personal data can never be removed from them. Instead,
//! each piece of personal data is encrypted with a key of its own before it is recorded, and only the
//! ciphertext goes into the log. Erasing the data destroys the key: the log stays intact and verifiable,
//! and the ciphertext in it (and in every copy of it: bus messages, exports, backups of the log) can no
//! longer be read.
//!
//! # Format (so that other programs holding a key can decrypt)
//!
//! XChaCha20-Poly1305 with a random 256-bit key per sealed value and a random 192-bit nonce; the associated
//! data is the key id (its lowercase hyphenated UUID as ASCII), which binds a ciphertext to its key.
//!
//! # Key storage
//!
//! One file per key, `<dir>/<key id>.key`, holding the 32 key bytes; written to a temporary file, synced and
//! renamed, so a key exists whole or not at all. A value is sealed either under a key of its own
//! ([`KeyVault::seal`]) or under the key of a *scope* ([`KeyVault::seal_in_scope`]: one report, one
//! application, one variation), so that everything written about one subject is erased at once
//! ([`KeyVault::erase_scope`]). A scope's keys are listed, one key id per line, in `<dir>/scopes/<scope>`;
//! the last line is the key in use. After an erasure the next value of the scope gets a new key. Erasure overwrites the file with zeros, syncs it, removes it
//! and syncs the directory. Files rather than a database: a database would keep the removed key in its own
//! log segments until it compacts them, a removed file leaves no copy the platform can read. Back up this
//! directory separately from the logs, if at all: a backup of a key outlives its erasure.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, Generate, Key, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use uuid::Uuid;

/// Personal data as it is recorded: ciphertext and the id of the key that opens it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: Uuid,
    /// 24 bytes.
    pub nonce: Vec<u8>,
    /// Ciphertext with its 16-byte authentication tag.
    pub ciphertext: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("personal-data key store at {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: KeyStoreFailure,
    },
    #[error("sealed personal data under key {key_id} does not decrypt: it was altered or sealed with another key")]
    Tampered { key_id: Uuid },
    #[error("sealed personal data field `{field}` is malformed: {rule}")]
    Malformed { field: &'static str, rule: &'static str },
}

/// Why the key store could not do its work: its files, or sealing with a key it holds.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreFailure {
    #[error(transparent)]
    File(#[from] std::io::Error),
    /// The cipher refused to seal; XChaCha20-Poly1305 refuses only a plaintext beyond its length limit.
    #[error("encryption failed")]
    Encryption,
}

/// The keys of one service's personal data, in a directory of their own.
#[derive(Clone)]
pub struct KeyVault {
    dir: PathBuf,
    /// Serialises changes to scope lists: two values sealed at once in a new scope must share one key, or
    /// an erasure of the scope would miss one of them. One process holds a service's data directory.
    scopes: std::sync::Arc<std::sync::Mutex<()>>,
    /// Keys read or made so far: a service opens the same sealed text on every load of its object, and a
    /// file read per value would be I/O on every read path. An erased key leaves this first.
    cache: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<Uuid, Vec<u8>>>>,
}

impl std::fmt::Debug for KeyVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the cached keys.
        f.debug_struct("KeyVault").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl KeyVault {
    /// Opens (creating if needed) the key directory.
    pub fn open(dir: impl AsRef<Path>) -> Result<KeyVault, VaultError> {
        let dir = dir.as_ref().to_path_buf();
        // Only the service's own user may list or read the keys.
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).map_err(|e| io_error(&dir, e))?;
        Ok(KeyVault { dir, scopes: Default::default(), cache: Default::default() })
    }

    /// Encrypts `plaintext` under a new key, which is durable before this returns.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Sealed, VaultError> {
        let key_id = Uuid::new_v4();
        let key = Key::<XChaCha20Poly1305>::generate();
        self.store_key(key_id, key.as_slice())?;
        self.encrypt(key_id, &key, plaintext)
    }

    /// Encrypts `plaintext` under the key in use for `scope`, made (durably) on its first use and again
    /// after the scope was erased.
    pub fn seal_in_scope(&self, scope: Uuid, plaintext: &[u8]) -> Result<Sealed, VaultError> {
        let _guard = self.scopes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let listed = self.scope_keys(scope)?;
        if let Some(&key_id) = listed.last()
            && let Some(bytes) = self.load_key(key_id)?
        {
            let key = Key::<XChaCha20Poly1305>::try_from(bytes.as_slice())
                .map_err(|_| VaultError::Malformed { field: "key", rule: "must be 32 bytes" })?;
            return self.encrypt(key_id, &key, plaintext);
        }
        let key_id = Uuid::new_v4();
        let key = Key::<XChaCha20Poly1305>::generate();
        // Listed before it exists: an erasure that follows a crash in between still finds (and ignores) it.
        self.list_scope_key(scope, &listed, key_id)?;
        self.store_key(key_id, key.as_slice())?;
        self.encrypt(key_id, &key, plaintext)
    }

    /// Destroys every key of `scope`; returns the ids of the keys that were destroyed.
    pub fn erase_scope(&self, scope: Uuid) -> Result<Vec<Uuid>, VaultError> {
        let _guard = self.scopes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut destroyed = Vec::new();
        for key_id in self.scope_keys(scope)? {
            if self.erase(key_id)? {
                destroyed.push(key_id);
            }
        }
        let list = self.scope_path(scope);
        match fs::remove_file(&list) {
            Ok(()) => self.sync(&self.dir.join("scopes"))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&list, e)),
        }
        Ok(destroyed)
    }

    fn scope_path(&self, scope: Uuid) -> PathBuf {
        self.dir.join("scopes").join(scope.hyphenated().to_string())
    }

    fn scope_keys(&self, scope: Uuid) -> Result<Vec<Uuid>, VaultError> {
        let path = self.scope_path(scope);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&path, e)),
        };
        text.lines()
            .map(|line| {
                Uuid::try_parse(line)
                    .map_err(|_| VaultError::Malformed { field: "scope list", rule: "one key id per line" })
            })
            .collect()
    }

    /// Rewrites the scope's list with `key_id` appended (temporary file, sync, rename, sync).
    fn list_scope_key(&self, scope: Uuid, listed: &[Uuid], key_id: Uuid) -> Result<(), VaultError> {
        let scopes = self.dir.join("scopes");
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&scopes).map_err(|e| io_error(&scopes, e))?;
        let mut text = String::new();
        for id in listed.iter().chain([&key_id]) {
            text.push_str(&id.hyphenated().to_string());
            text.push('\n');
        }
        let path = self.scope_path(scope);
        let temporary = path.with_extension("partial");
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(|e| io_error(&temporary, e))?;
        file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(|e| io_error(&temporary, e))?;
        fs::rename(&temporary, &path).map_err(|e| io_error(&path, e))?;
        self.sync(&scopes)
    }

    fn encrypt(&self, key_id: Uuid, key: &Key<XChaCha20Poly1305>, plaintext: &[u8]) -> Result<Sealed, VaultError> {
        let nonce = XNonce::generate();
        let aad = key_id.hyphenated().to_string();
        let ciphertext =
            XChaCha20Poly1305::new(key).encrypt(&nonce, Payload { msg: plaintext, aad: aad.as_bytes() }).map_err(
                |_| VaultError::Io { path: self.dir.display().to_string(), source: KeyStoreFailure::Encryption },
            )?;
        Ok(Sealed { key_id, nonce: nonce.to_vec(), ciphertext })
    }

    /// The plaintext, or `None` if its key was erased.
    pub fn unseal(&self, sealed: &Sealed) -> Result<Option<Vec<u8>>, VaultError> {
        let Some(key_bytes) = self.load_key(sealed.key_id)? else { return Ok(None) };
        let key = Key::<XChaCha20Poly1305>::try_from(key_bytes.as_slice())
            .map_err(|_| VaultError::Malformed { field: "key", rule: "must be 32 bytes" })?;
        let nonce = XNonce::try_from(sealed.nonce.as_slice())
            .map_err(|_| VaultError::Malformed { field: "nonce", rule: "must be 24 bytes" })?;
        let aad = sealed.key_id.hyphenated().to_string();
        XChaCha20Poly1305::new(&key)
            .decrypt(&nonce, Payload { msg: &sealed.ciphertext, aad: aad.as_bytes() })
            .map(Some)
            .map_err(|_| VaultError::Tampered { key_id: sealed.key_id })
    }

    /// Destroys the key: everything sealed under it becomes unreadable. Returns whether a key was there.
    pub fn erase(&self, key_id: Uuid) -> Result<bool, VaultError> {
        self.cached().remove(&key_id);
        let path = self.key_path(key_id);
        let mut file = match OpenOptions::new().write(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_error(&path, e)),
        };
        file.write_all(&[0u8; 32]).and_then(|()| file.sync_all()).map_err(|e| io_error(&path, e))?;
        drop(file);
        fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
        self.sync_dir()?;
        Ok(true)
    }

    fn key_path(&self, key_id: Uuid) -> PathBuf {
        self.dir.join(format!("{}.key", key_id.hyphenated()))
    }

    fn store_key(&self, key_id: Uuid, key: &[u8]) -> Result<(), VaultError> {
        let path = self.key_path(key_id);
        let temporary = self.dir.join(format!("{}.key.partial", key_id.hyphenated()));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(|e| io_error(&temporary, e))?;
        file.write_all(key).and_then(|()| file.sync_all()).map_err(|e| io_error(&temporary, e))?;
        fs::rename(&temporary, &path).map_err(|e| io_error(&path, e))?;
        self.cached().insert(key_id, key.to_vec());
        self.sync_dir()
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<Uuid, Vec<u8>>> {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn load_key(&self, key_id: Uuid) -> Result<Option<Vec<u8>>, VaultError> {
        if let Some(key) = self.cached().get(&key_id) {
            return Ok(Some(key.clone()));
        }
        let path = self.key_path(key_id);
        match fs::read(&path) {
            Ok(bytes) => {
                self.cached().insert(key_id, bytes.clone());
                Ok(Some(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&path, e)),
        }
    }

    fn sync_dir(&self) -> Result<(), VaultError> {
        self.sync(&self.dir)
    }

    fn sync(&self, dir: &Path) -> Result<(), VaultError> {
        File::open(dir).and_then(|dir| dir.sync_all()).map_err(|e| io_error(dir, e))
    }
}

fn io_error(path: &Path, error: std::io::Error) -> VaultError {
    VaultError::Io { path: path.display().to_string(), source: error.into() }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_key_store_failure_keeps_the_io_error_under_the_same_message() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        fs::write(&file, b"not a directory").unwrap();
        let Err(refused) = KeyVault::open(file.join("keys")) else { panic!("a key store was made inside a file") };
        let VaultError::Io { source: KeyStoreFailure::File(io), .. } = &refused else { panic!("{refused:?}") };
        assert_eq!(refused.to_string(), format!("personal-data key store at {}: {io}", file.join("keys").display()));
        assert_eq!(refused.source().map(ToString::to_string), Some(io.to_string()));
    }

    #[test]
    fn only_the_owner_may_read_the_keys() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let vault = KeyVault::open(&keys).unwrap();
        let sealed = vault.seal(b"Dara Sok").unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&keys), 0o700);
        assert_eq!(mode(&vault.key_path(sealed.key_id)), 0o600);
    }

    #[test]
    fn sealed_data_opens_until_its_key_is_erased() {
        let dir = tempfile::tempdir().unwrap();
        let vault = KeyVault::open(dir.path()).unwrap();
        let sealed = vault.seal(b"Dara Sok, dara@example.org").unwrap();
        assert!(!sealed.ciphertext.windows(4).any(|w| w == b"Dara"), "ciphertext does not show the plaintext");
        let other = vault.seal(b"someone else").unwrap();
        assert_ne!(sealed.key_id, other.key_id, "one key per sealed value");

        let reopened = KeyVault::open(dir.path()).unwrap();
        assert_eq!(reopened.unseal(&sealed).unwrap().as_deref(), Some(b"Dara Sok, dara@example.org".as_slice()));
        assert!(reopened.erase(sealed.key_id).unwrap());
        assert_eq!(reopened.unseal(&sealed).unwrap(), None);
        assert!(!reopened.erase(sealed.key_id).unwrap(), "erasing twice finds nothing");
        assert_eq!(reopened.unseal(&other).unwrap().as_deref(), Some(b"someone else".as_slice()));
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers.len(), 1, "only the other key remains: {leftovers:?}");
    }

    #[test]
    fn a_scope_seals_under_one_key_until_it_is_erased_then_under_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let vault = KeyVault::open(dir.path()).unwrap();
        let (report, other_report) = (Uuid::new_v4(), Uuid::new_v4());
        let narrative = vault.seal_in_scope(report, b"narrative").unwrap();
        let reason = vault.seal_in_scope(report, b"revision reason").unwrap();
        let elsewhere = vault.seal_in_scope(other_report, b"another report").unwrap();
        assert_eq!(narrative.key_id, reason.key_id, "one key per scope");
        assert_ne!(narrative.key_id, elsewhere.key_id);
        assert_ne!(narrative.nonce, reason.nonce);

        let reopened = KeyVault::open(dir.path()).unwrap();
        assert_eq!(reopened.erase_scope(report).unwrap(), vec![narrative.key_id]);
        assert_eq!(reopened.unseal(&narrative).unwrap(), None);
        assert_eq!(reopened.unseal(&reason).unwrap(), None);
        assert_eq!(reopened.unseal(&elsewhere).unwrap().as_deref(), Some(b"another report".as_slice()));
        assert_eq!(reopened.erase_scope(report).unwrap(), Vec::<Uuid>::new(), "nothing left to erase");

        let resubmitted = reopened.seal_in_scope(report, b"corrected narrative").unwrap();
        assert_ne!(resubmitted.key_id, narrative.key_id, "an erased key is never made again");
        assert_eq!(reopened.unseal(&resubmitted).unwrap().as_deref(), Some(b"corrected narrative".as_slice()));
    }

    #[test]
    fn values_sealed_at_once_in_a_new_scope_share_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let vault = KeyVault::open(dir.path()).unwrap();
        let scope = Uuid::new_v4();
        let sealed: Vec<Sealed> = std::thread::scope(|threads| {
            let handles: Vec<_> = (0..8).map(|_| threads.spawn(|| vault.seal_in_scope(scope, b"x").unwrap())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(sealed.iter().all(|s| s.key_id == sealed[0].key_id));
        assert_eq!(vault.erase_scope(scope).unwrap().len(), 1);
        assert!(sealed.iter().all(|s| vault.unseal(s).unwrap().is_none()));
    }

    #[test]
    fn altered_or_rebound_ciphertext_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let vault = KeyVault::open(dir.path()).unwrap();
        let sealed = vault.seal(b"contact").unwrap();
        let mut altered = sealed.clone();
        altered.ciphertext[0] ^= 1;
        assert!(matches!(vault.unseal(&altered), Err(VaultError::Tampered { .. })));
        // The same ciphertext presented under another key id (whose key exists) does not open.
        let other = vault.seal(b"x").unwrap();
        let rebound = Sealed { key_id: other.key_id, ..sealed.clone() };
        assert!(matches!(vault.unseal(&rebound), Err(VaultError::Tampered { .. })));
        let short_nonce = Sealed { nonce: vec![0; 12], ..sealed };
        assert!(matches!(vault.unseal(&short_nonce), Err(VaultError::Malformed { field: "nonce", .. })));
    }
}
