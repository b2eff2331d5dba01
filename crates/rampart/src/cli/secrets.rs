//! The command line of the secrets store: `rampart operator …` (seal, unseal, init, root
//! rotation) and `rampart secret …` (the KV v2 store), both through the control plane's
//! Vault-compatible API.

use clap::{Args, Subcommand};

use super::ControlArgs;

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Initialize a store in `secrets.seal: shamir` mode: create the root key and split it into
    /// shares. The shares are shown once, here, and never again: hand them to different people.
    Init(OperatorInitArgs),
    /// Give one unseal share (from stdin unless given as an argument; never echoed). The store
    /// opens once `threshold` different shares are in.
    Unseal(OperatorUnsealArgs),
    /// Seal the store at once: its keys leave memory, data requests answer 503 until unsealed.
    Seal(ControlArgs),
    /// Show whether the store is initialized and sealed, the unseal progress and the key term.
    Status(ControlArgs),
    /// Rotate the key-encryption key: new versions use a new key at once, every stored data key
    /// is rewrapped under it in the background, then the old key is dropped.
    RotateRoot(ControlArgs),
}

#[derive(Debug, Args)]
pub struct OperatorInitArgs {
    /// How many shares the root key is split into (1 to 16).
    #[arg(long, default_value_t = 5)]
    pub shares: u8,
    /// How many shares open the store (at least 2 unless `--shares 1`).
    #[arg(long, default_value_t = 3)]
    pub threshold: u8,
    #[command(flatten)]
    pub control: ControlArgs,
}

#[derive(Debug, Args)]
pub struct OperatorUnsealArgs {
    /// The share (hex). Prefer stdin: arguments are visible to other local users.
    pub share: Option<String>,
    /// Forget the shares given so far instead.
    #[arg(long, conflicts_with = "share")]
    pub reset: bool,
    #[command(flatten)]
    pub control: ControlArgs,
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Write a new version of a secret: `PATH k=v …` (a value `@file` is read from the file,
    /// `-` from stdin), or `PATH -` / `PATH @file.json` for a JSON object.
    Put(SecretPutArgs),
    /// Read a secret (its latest version unless `--version`).
    Get(SecretGetArgs),
    /// List the secrets and folders (ending in `/`) right under a prefix.
    List(SecretListArgs),
    /// Delete versions of a secret: soft (undoable) by default, `--destroy` for good, `--all`
    /// for the secret with all its versions and metadata.
    Delete(SecretDeleteArgs),
    /// Restore soft-deleted versions.
    Undelete(SecretUndeleteArgs),
    /// Write a new version in which fields (default: every string field) get fresh random
    /// URL-safe values; prints the new version number, and the values only with `--show`.
    Rotate(SecretRotateArgs),
}

#[derive(Debug, Args)]
pub struct SecretPutArgs {
    /// The secret's path, e.g. `app/db`.
    pub path: String,
    /// `key=value` pairs; `key=@file` reads the value from a file, `key=-` from stdin; a lone
    /// `-` or `@file.json` is a whole JSON object.
    #[arg(required = true)]
    pub fields: Vec<String>,
    /// Write only if the current version is N (0: only if the secret does not exist).
    #[arg(long)]
    pub cas: Option<u64>,
    #[command(flatten)]
    pub control: ControlArgs,
}

#[derive(Debug, Args)]
pub struct SecretGetArgs {
    /// The secret's path.
    pub path: String,
    /// This version instead of the latest.
    #[arg(long)]
    pub version: Option<u64>,
    /// Print only this field's value (strings as they are, anything else as JSON).
    #[arg(long)]
    pub field: Option<String>,
    #[command(flatten)]
    pub control: ControlArgs,
}

#[derive(Debug, Args)]
pub struct SecretListArgs {
    /// The prefix (folder); empty for the top.
    #[arg(default_value = "")]
    pub prefix: String,
    #[command(flatten)]
    pub control: ControlArgs,
}

#[derive(Debug, Args)]
pub struct SecretDeleteArgs {
    /// The secret's path.
    pub path: String,
    /// These versions (comma-separated) instead of the latest.
    #[arg(long, value_delimiter = ',')]
    pub versions: Vec<u64>,
    /// Destroy the versions for good (their data is wiped; needs `--versions`).
    #[arg(long, requires = "versions", conflicts_with = "all")]
    pub destroy: bool,
    /// Delete the secret with all its versions and its metadata, for good.
    #[arg(long, conflicts_with = "versions")]
    pub all: bool,
    #[command(flatten)]
    pub control: ControlArgs,
}

#[derive(Debug, Args)]
pub struct SecretUndeleteArgs {
    /// The secret's path.
    pub path: String,
    /// The versions to restore (comma-separated).
    #[arg(long, value_delimiter = ',', required = true)]
    pub versions: Vec<u64>,
    #[command(flatten)]
    pub control: ControlArgs,
}

#[derive(Debug, Args)]
pub struct SecretRotateArgs {
    /// The secret's path.
    pub path: String,
    /// A field to give a fresh value (repeatable); default: every string field.
    #[arg(long = "field")]
    pub fields: Vec<String>,
    /// Characters of each new value (16 to 1024).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(16..=1024))]
    pub length: u16,
    /// Also print the new values.
    #[arg(long)]
    pub show: bool,
    #[command(flatten)]
    pub control: ControlArgs,
}
