//! Auto-unseal: the root key from an environment variable (base64 of 32 bytes) or from a 0600
//! file, created atomically at first start (temp file with mode 0600, then rename).

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rampart_config::SecretsConfig;
use zeroize::Zeroizing;

use crate::error::SecretsError;
use crate::keys::RootKey;

/// Where the auto-unseal key comes from.
pub(crate) enum KeySource {
    /// The environment variable held this key.
    Env(RootKey),
    /// The key file exists and held this key.
    File(RootKey),
    /// No env var and no file yet: the file to create.
    Missing(PathBuf),
}

/// Looks up the auto-unseal root key of `config` (the file relative to `data_dir`).
/// `env` looks up an environment variable (`std::env::var_os` outside tests).
pub(crate) fn load(
    config: &SecretsConfig,
    data_dir: &Path,
    env: &(dyn Fn(&str) -> Option<std::ffi::OsString> + Sync),
) -> Result<KeySource, SecretsError> {
    if !config.root_key_env.is_empty()
        && let Some(value) = env(&config.root_key_env)
    {
        let value = Zeroizing::new(value.into_string().map_err(|_| SecretsError::WrongKey)?);
        return decode(&value).map(KeySource::Env);
    }
    let path = if config.root_key_file.is_absolute() {
        config.root_key_file.clone()
    } else {
        data_dir.join(&config.root_key_file)
    };
    let meta = match fs::metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(KeySource::Missing(path)),
        Err(source) => return Err(key_file_error(&path, source)),
    };
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(SecretsError::InsecureKeyFile {
            path: path.display().to_string(),
        });
    }
    let text = Zeroizing::new(fs::read_to_string(&path).map_err(|e| key_file_error(&path, e))?);
    decode(&text).map(KeySource::File)
}

/// Writes `key` (base64) to `path` atomically with mode 0600, creating the directory.
pub(crate) fn create(path: &Path, key: &RootKey) -> Result<(), SecretsError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir).map_err(|e| key_file_error(dir, e))?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| key_file_error(&tmp, e))?;
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(|e| key_file_error(&tmp, e))?;
    let text = Zeroizing::new(STANDARD.encode(key.expose()));
    file.write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(|e| key_file_error(&tmp, e))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|e| key_file_error(path, e))?;
    Ok(())
}

fn decode(text: &str) -> Result<RootKey, SecretsError> {
    let bytes = Zeroizing::new(
        STANDARD
            .decode(text.trim().as_bytes())
            .map_err(|_| SecretsError::WrongKey)?,
    );
    RootKey::from_slice(&bytes).ok_or(SecretsError::WrongKey)
}

fn key_file_error(path: &Path, source: std::io::Error) -> SecretsError {
    SecretsError::KeyFile {
        path: path.display().to_string(),
        source,
    }
}
