//! The mesh calls of [`ControlClient`] (a sidecar's, authenticated by its SVID over mTLS) and
//! the identity admin calls (the admin token).

use http::{Method, StatusCode};

use super::{ControlClient, MeshWatch, json};
use crate::{
    ControlError,
    api::{
        CaRollover, CaStatus, DeregisterWorkload, RegisterAck, RegisterWorkload, RevokeRequest,
        Revoked, RolloverStep, SvidList,
    },
};

// === impl ControlClient ===

impl ControlClient {
    /// `POST /v1/mesh/register`: registers (or, re-sent every third of the answered ttl,
    /// keeps) an instance of the workload named by the client certificate.
    pub async fn register_workload(
        &self,
        request: &RegisterWorkload,
    ) -> Result<RegisterAck, ControlError> {
        request
            .check()
            .map_err(|reason| ControlError::InvalidRequest { reason })?;
        let answer = self
            .call(Method::POST, "/v1/mesh/register", Some(json(request)?))
            .await?;
        answer.decode(&[StatusCode::OK])
    }

    /// `POST /v1/mesh/deregister`: whether the instance was registered.
    pub async fn deregister_workload(
        &self,
        request: &DeregisterWorkload,
    ) -> Result<bool, ControlError> {
        request
            .check()
            .map_err(|reason| ControlError::InvalidRequest { reason })?;
        let answer = self
            .call(Method::POST, "/v1/mesh/deregister", Some(json(request)?))
            .await?;
        match answer.status {
            StatusCode::NO_CONTENT => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(answer.error()),
        }
    }

    /// `GET /v1/mesh/watch`: the mesh snapshots, the current one first, then one per change.
    ///
    /// Only the request and the answer's head are bounded by the client's timeout; the
    /// stream lasts until the control plane ends it, and reading it fails after
    /// [`WATCH_SILENCE`](super::WATCH_SILENCE) without even a keep-alive.
    pub async fn watch_mesh(&self) -> Result<MeshWatch, ControlError> {
        let response =
            tokio::time::timeout(self.timeout, self.send(Method::GET, "/v1/mesh/watch", None))
                .await
                .map_err(|_| self.timed_out())??;
        if response.status() != StatusCode::OK {
            let status = response.status();
            let answer = tokio::time::timeout(self.timeout, super::read_whole(response))
                .await
                .map_err(|_| self.timed_out())??;
            return Err(super::Answer {
                status,
                body: answer,
            }
            .error());
        }
        Ok(MeshWatch::new(response.into_body()))
    }

    /// `POST /v1/identity/revoke`: the serials revoked now.
    pub async fn revoke(&self, request: &RevokeRequest) -> Result<Revoked, ControlError> {
        let answer = self
            .call(Method::POST, "/v1/identity/revoke", Some(json(request)?))
            .await?;
        answer.decode(&[StatusCode::OK])
    }

    /// `GET /v1/identity/svids`: the issued SVIDs, newest first, of one service (`service`
    /// in `namespace`, by default `default`) or one namespace, at most `limit`.
    pub async fn list_svids(
        &self,
        service: Option<&str>,
        namespace: Option<&str>,
        limit: u32,
    ) -> Result<SvidList, ControlError> {
        let mut query = vec![format!("limit={limit}")];
        for (name, value) in [("service", service), ("namespace", namespace)] {
            if let Some(value) = value {
                query.push(format!("{name}={}", encode_query_value(value)));
            }
        }
        let path = format!("/v1/identity/svids?{}", query.join("&"));
        let answer = self.call(Method::GET, &path, None).await?;
        answer.decode(&[StatusCode::OK])
    }

    /// `GET /v1/identity/ca`: the CA generations.
    pub async fn ca_status(&self) -> Result<CaStatus, ControlError> {
        let answer = self.call(Method::GET, "/v1/identity/ca", None).await?;
        answer.decode(&[StatusCode::OK])
    }

    /// `POST /v1/identity/ca/rollover`: one rollover step; the CA generations after it.
    pub async fn ca_rollover(
        &self,
        step: RolloverStep,
        force: bool,
    ) -> Result<CaStatus, ControlError> {
        let body = json(&CaRollover { step, force })?;
        let answer = self
            .call(Method::POST, "/v1/identity/ca/rollover", Some(body))
            .await?;
        answer.decode(&[StatusCode::OK])
    }
}

// === helpers ===

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn encode_query_value(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                encoded.push(char::from(b));
            }
            _ => encoded.push_str(&format!("%{b:02X}")),
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode_query_value("orders-v2.x_y~"), "orders-v2.x_y~");
        assert_eq!(encode_query_value("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}
