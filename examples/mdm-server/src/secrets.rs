//! Secrets at rest: how the server creates its folder and files, and the key-encryption key.
//!
//! - The data folder is created with mode 0700, secret files with mode 0600, both at
//!   creation (`DirBuilder`/`OpenOptions` modes), never loosened by a `chmod` afterwards.
//! - Key and certificate files are written atomically: a temporary file in the same folder,
//!   `fsync`, `rename` over the target, `fsync` of the folder. A crash leaves the old file or
//!   the new one, never half of one.
//! - With a key-encryption key ([`SecretsKey`], from `--secrets-key-file` or
//!   `MDM_SECRETS_KEY`), the CA key on disk and the APNs push key in the database are stored
//!   sealed with AES-256-GCM ([`SecretsKey::seal`]): a text form
//!   `mdm-sealed:v1:<base64 of nonce and ciphertext>`, bound to what it protects (the
//!   associated data names the file or the push topic), so a sealed value cannot be moved
//!   to another place.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use std::io::Write as _;
use std::path::Path;

/// The prefix of a sealed value.
pub const SEALED_PREFIX: &str = "mdm-sealed:v1:";
/// Environment variable holding the key-encryption key itself (hex or base64 of 32 bytes).
pub const SECRETS_KEY_ENV: &str = "MDM_SECRETS_KEY";
const NONCE_LEN: usize = 12;

/// Why a secret could not be read or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// The key-encryption key is not 32 bytes in hex or base64.
    #[error("the secrets key {0}: expected 32 bytes as 64 hex digits or base64")]
    BadKey(String),
    /// A value is sealed and no key was given.
    #[error("{0} is encrypted: start with --secrets-key-file or {SECRETS_KEY_ENV}")]
    KeyNeeded(String),
    /// A sealed value does not open with the given key (a wrong key, or it was altered).
    #[error("{0} does not decrypt with the given secrets key (wrong key, or altered)")]
    WrongKey(String),
    /// A sealed value is not in the sealed text form.
    #[error("{0} is not a valid sealed value")]
    Malformed(String),
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// The key-encryption key (AES-256-GCM). Its `Debug` form does not show it.
#[derive(Clone)]
pub struct SecretsKey {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey(<redacted>)")
    }
}

impl SecretsKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(key: &[u8; 32]) -> Self {
        SecretsKey {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// A key from text: 64 hex digits or the base64 of 32 bytes (surrounding space ignored).
    pub fn from_text(text: &str, what: &str) -> Result<Self, SecretsError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).ok()
        } else {
            base64::engine::general_purpose::STANDARD.decode(text).ok()
        };
        let bytes: [u8; 32] = bytes
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| SecretsError::BadKey(what.to_owned()))?;
        Ok(Self::from_bytes(&bytes))
    }

    /// The key in a file (text as [`SecretsKey::from_text`], or exactly 32 raw bytes).
    pub fn from_file(path: &Path) -> Result<Self, SecretsError> {
        let data = std::fs::read(path).map_err(|source| SecretsError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let what = format!("in {}", path.display());
        if let Ok(raw) = <[u8; 32]>::try_from(data.as_slice())
            && std::str::from_utf8(&raw).is_err()
        {
            return Ok(Self::from_bytes(&raw));
        }
        let text = std::str::from_utf8(&data).map_err(|_| SecretsError::BadKey(what.clone()))?;
        Self::from_text(text, &what)
    }

    /// Seals `plain` for the place `context` names (the associated data).
    pub fn seal(&self, plain: &[u8], context: &str) -> String {
        use rand::Rng as _;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        // Encryption fails only for inputs near 64 GiB; secrets are a few KiB.
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: context.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!(
            "{SEALED_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    /// Opens a value sealed for `context`; `what` names it in errors.
    pub fn open(&self, sealed: &str, context: &str, what: &str) -> Result<Vec<u8>, SecretsError> {
        let body = sealed
            .trim()
            .strip_prefix(SEALED_PREFIX)
            .ok_or_else(|| SecretsError::Malformed(what.to_owned()))?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| SecretsError::Malformed(what.to_owned()))?;
        if raw.len() < NONCE_LEN + 16 {
            return Err(SecretsError::Malformed(what.to_owned()));
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| SecretsError::Malformed(what.to_owned()))?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretsError::WrongKey(what.to_owned()))
    }
}

/// True when `text` is a sealed value.
pub fn is_sealed(text: &str) -> bool {
    text.trim_start().starts_with(SEALED_PREFIX)
}

/// Opens `stored` when it is sealed (with `key`), or returns it as is when it is plain.
pub fn open_text(
    key: Option<&SecretsKey>,
    stored: &str,
    context: &str,
    what: &str,
) -> Result<String, SecretsError> {
    if !is_sealed(stored) {
        return Ok(stored.to_owned());
    }
    let key = key.ok_or_else(|| SecretsError::KeyNeeded(what.to_owned()))?;
    let plain = key.open(stored, context, what)?;
    String::from_utf8(plain).map_err(|_| SecretsError::Malformed(what.to_owned()))
}

/// Seals `plain` when a key is given, else returns it as is.
pub fn seal_text(key: Option<&SecretsKey>, plain: &str, context: &str) -> String {
    match key {
        Some(key) => key.seal(plain.as_bytes(), context),
        None => plain.to_owned(),
    }
}

/// Reads a secret file that may be sealed for `context`. With a key, a plain file is sealed
/// in place (atomically) so that it is encrypted from now on.
pub fn read_sealed_file(
    path: &Path,
    key: Option<&SecretsKey>,
    context: &str,
) -> Result<String, SecretsError> {
    let what = path.display().to_string();
    let stored = std::fs::read_to_string(path).map_err(|source| SecretsError::Io {
        path: what.clone(),
        source,
    })?;
    let plain = open_text(key, &stored, context, &what)?;
    if let Some(key) = key
        && !is_sealed(&stored)
    {
        match write_atomic(path, key.seal(plain.as_bytes(), context).as_bytes()) {
            Ok(()) => tracing::info!(file = %what, "sealed with the secrets key"),
            Err(e) => tracing::warn!(file = %what, error = %e, "could not seal the file"),
        }
    }
    Ok(plain)
}

/// Creates `dir` (and missing parents) with mode 0700. An existing folder is left as it
/// is, with a warning when others may read it.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    let existed = dir.is_dir();
    builder.create(dir)?;
    #[cfg(unix)]
    if existed {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(dir = %dir.display(), mode = format!("{:o}", mode & 0o777),
                "the data folder is readable by others; 0700 is advised");
        }
    }
    Ok(())
}

/// Creates `path` empty with mode 0600 when it does not exist (an existing file is left
/// untouched). SQLite then creates its `-wal` and `-shm` files with the same mode.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path).map(drop)
}

/// Writes `data` to `path` atomically with mode 0600: a temporary file in the same folder,
/// `fsync`, `rename`, then `fsync` of the folder.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "secret".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let written = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(&dir)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn seal_and_open() {
        let key = SecretsKey::from_text(&"ab".repeat(32), "test").unwrap();
        let sealed = key.seal(b"secret", "ctx");
        assert!(is_sealed(&sealed));
        assert_eq!(key.open(&sealed, "ctx", "x").unwrap(), b"secret");
        assert!(matches!(
            key.open(&sealed, "other", "x"),
            Err(SecretsError::WrongKey(_))
        ));
        let other = SecretsKey::from_text(&"cd".repeat(32), "test").unwrap();
        assert!(matches!(
            other.open(&sealed, "ctx", "x"),
            Err(SecretsError::WrongKey(_))
        ));
        assert!(matches!(
            key.open("mdm-sealed:v1:AAAA", "ctx", "x"),
            Err(SecretsError::Malformed(_))
        ));
        assert!(SecretsKey::from_text("short", "test").is_err());
    }
}
