//! The embedded Cedar schema (`rampart.cedarschema`).

use cedar_policy::Schema;

use crate::error::PolicyError;

/// The Cedar schema text, in Cedar's human-readable schema syntax.
pub const SCHEMA_TEXT: &str = include_str!("rampart.cedarschema");

/// The Cedar namespace of every Rampart entity type and action.
pub const NAMESPACE: &str = "Rampart";

/// Parses the embedded schema.
pub fn schema() -> Result<Schema, PolicyError> {
    let (schema, _warnings) = Schema::from_cedarschema_str(SCHEMA_TEXT)
        .map_err(|e| PolicyError::Schema(e.to_string()))?;
    Ok(schema)
}
