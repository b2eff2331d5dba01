//! Revoking SVIDs (every live one of a service, or one by serial) and listing the issued ones.

use std::time::SystemTime;

use rampart_core::spiffe::SpiffeId;
use rampart_events::SecurityKind;
use rampart_store::{IssuedSvidRecord, RevocationRecord};

use super::Authority;
use crate::{
    ControlError,
    api::{RevokeRequest, SvidInfo},
    registry::unix_ms,
};

/// The most SVIDs one listing returns.
pub(crate) const MAX_SVID_LIST: u32 = 1000;

// === impl Authority ===

impl Authority {
    /// Revokes what `request` names and returns the serials it revoked now (ascending); they
    /// are in the mesh snapshot when this returns.
    ///
    /// A serial the control plane never issued is `NotFound`; an expired or already revoked
    /// one revokes nothing.
    pub(crate) async fn revoke(
        &self,
        request: &RevokeRequest,
    ) -> Result<Vec<String>, ControlError> {
        let now = SystemTime::now();
        let (targets, reason) = match request {
            RevokeRequest::Service { service, namespace } => {
                let id = self.workload_id(namespace, service)?;
                let live = self.store.live_svids(Some(&id.to_string()), now).await?;
                (
                    live,
                    format!("service `{service}` in namespace `{namespace}` revoked"),
                )
            }
            RevokeRequest::Serial { serial } => {
                let serial = normalise_serial(serial)?;
                let record = self.store.issued_svid(&serial).await?.ok_or_else(|| {
                    ControlError::NotFound {
                        what: format!("an SVID with serial `{serial}`"),
                    }
                })?;
                let live = record.revoked_at.is_none() && record.expires_at > now;
                (
                    live.then_some(record).into_iter().collect(),
                    format!("serial `{serial}` revoked"),
                )
            }
        };
        let mut revoked = Vec::with_capacity(targets.len());
        for svid in targets {
            let record = RevocationRecord {
                serial: svid.serial.clone(),
                spiffe_id: svid.spiffe_id.clone(),
                revoked_at: now,
                expires_at: svid.expires_at,
                reason: reason.clone(),
            };
            if self.store.insert_revocation(&record).await? {
                tracing::warn!(serial = %svid.serial, spiffe_id = %svid.spiffe_id, %reason, "svid revoked");
                self.publish(
                    SecurityKind::SvidRevoked,
                    None,
                    format!(
                        "svid revoked: serial {} of {} ({reason})",
                        svid.serial, svid.spiffe_id
                    ),
                );
                revoked.push(svid.serial);
            }
        }
        revoked.sort();
        if !revoked.is_empty() {
            self.mesh.refresh().await?;
        }
        Ok(revoked)
    }

    /// The `limit` most recently issued SVIDs, newest first: of one service when `service` is
    /// given (in `namespace`, by default `default`), of one namespace when only `namespace` is.
    pub(crate) async fn list_svids(
        &self,
        service: Option<&str>,
        namespace: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SvidInfo>, ControlError> {
        let records = match service {
            Some(service) => {
                let namespace = namespace.unwrap_or(crate::api::DEFAULT_NAMESPACE);
                let id = self.workload_id(namespace, service)?.to_string();
                self.store.list_issued_svids(Some(&id), limit).await?
            }
            None => self.store.list_issued_svids(None, MAX_SVID_LIST).await?,
        };
        let in_namespace = |r: &IssuedSvidRecord| match (service, namespace) {
            (None, Some(namespace)) => {
                SpiffeId::parse(&r.spiffe_id).is_ok_and(|id| id.namespace() == Some(namespace))
            }
            _ => true,
        };
        Ok(records
            .iter()
            .filter(|r| in_namespace(r))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(info)
            .collect())
    }

    fn workload_id(&self, namespace: &str, service: &str) -> Result<SpiffeId, ControlError> {
        SpiffeId::workload(&self.trust_domain, namespace, service).map_err(|e| {
            ControlError::InvalidRequest {
                reason: format!("invalid `namespace` or `service`: {e}"),
            }
        })
    }
}

// === helpers ===

fn info(record: &IssuedSvidRecord) -> SvidInfo {
    SvidInfo {
        spiffe_id: record.spiffe_id.clone(),
        serial: record.serial.clone(),
        issued_at_ms: unix_ms(record.issued_at),
        expires_at_ms: unix_ms(record.expires_at),
        how: record.how.clone(),
        renewed_from: record.renewed_from.clone(),
        ca_fingerprint: record.ca_fingerprint.clone(),
        revoked: record.revoked_at.is_some(),
    }
}

/// A serial as given by a person (any case, optional `0x`, `:` separators, leading zeros)
/// in the one spelling used everywhere: lowercase hex, no leading zero bytes.
pub(crate) fn normalise_serial(serial: &str) -> Result<String, ControlError> {
    let trimmed = serial.trim();
    let digits: String = trimmed
        .strip_prefix("0x")
        .unwrap_or(trimmed)
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if digits.is_empty() || digits.len() > 128 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ControlError::InvalidRequest {
            reason: "`serial` must be hexadecimal digits (the SVID's serial number)".to_owned(),
        });
    }
    let padded = match digits.len() % 2 {
        1 => format!("0{digits}"),
        _ => digits,
    };
    let mut rest = padded.as_str();
    while let Some(tail) = rest.strip_prefix("00") {
        rest = tail;
    }
    Ok(match rest.is_empty() {
        true => "0".to_owned(),
        false => rest.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_normalised_like_serial_hex() {
        for (given, expected) in [
            ("0A1b", "0a1b"),
            ("00a1b", "0a1b"),
            ("0x00FF", "ff"),
            ("4f:0a", "4f0a"),
            ("0000", "0"),
            (" abc ", "0abc"),
        ] {
            assert_eq!(normalise_serial(given).unwrap(), expected, "{given}");
        }
        for bad in ["", "xyz", "0x", "12 34"] {
            assert!(normalise_serial(bad).is_err(), "{bad}");
        }
    }
}
