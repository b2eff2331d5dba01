//! The policy calls of [`ControlClient`]: the admin routes (the admin token) behind
//! `rampart policy apply|diff|history|dry-run-report`, and a sidecar's shadow report (its
//! SVID over mTLS).

use http::{Method, StatusCode};

use super::{Answer, ControlClient, json};
use crate::{
    ControlError,
    api::{
        ApplyPolicy, DryRunReport, PolicyApplied, PolicyHistoryEntry, PolicyRejection,
        PolicyStatus, PolicyVersionDetail, ShadowBatch,
    },
};

// === impl ControlClient ===

impl ControlClient {
    /// `GET /v1/policy`: the enforced set and the set in dry run.
    pub async fn policy(&self) -> Result<PolicyStatus, ControlError> {
        let answer = self.call(Method::GET, "/v1/policy", None).await?;
        answer.decode(&[StatusCode::OK])
    }

    /// `POST /v1/policy`: validates, records and distributes a set. A set that does not
    /// compile is [`ControlError::PolicyRejected`] with the pointed problems. A large set
    /// takes a while to validate: give the client a longer timeout
    /// ([`ControlClient::with_timeout`]).
    pub async fn apply_policy(&self, request: &ApplyPolicy) -> Result<PolicyApplied, ControlError> {
        let answer = self
            .call(Method::POST, "/v1/policy", Some(json(request)?))
            .await?;
        rejected(&answer)?;
        answer.decode(&[StatusCode::OK])
    }

    /// `DELETE /v1/policy/dry-run`: whether a dry run was running.
    pub async fn clear_policy_dry_run(&self) -> Result<bool, ControlError> {
        let answer = self
            .call(Method::DELETE, "/v1/policy/dry-run", None)
            .await?;
        match answer.status {
            StatusCode::NO_CONTENT => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(answer.error()),
        }
    }

    /// `GET /v1/policy/history?limit=N`: newest first.
    pub async fn policy_history(
        &self,
        limit: u32,
    ) -> Result<Vec<PolicyHistoryEntry>, ControlError> {
        let path = format!("/v1/policy/history?limit={limit}");
        let answer = self.call(Method::GET, &path, None).await?;
        answer.decode(&[StatusCode::OK])
    }

    /// `GET /v1/policy/versions/{n}`: `None` when there is no such version.
    pub async fn policy_version(
        &self,
        version: u64,
    ) -> Result<Option<PolicyVersionDetail>, ControlError> {
        let path = format!("/v1/policy/versions/{version}");
        let answer = self.call(Method::GET, &path, None).await?;
        match answer.status {
            StatusCode::NOT_FOUND => Ok(None),
            _ => answer.decode(&[StatusCode::OK]).map(Some),
        }
    }

    /// `GET /v1/policy/dry-run-report`.
    pub async fn policy_dry_run_report(&self) -> Result<DryRunReport, ControlError> {
        let answer = self
            .call(Method::GET, "/v1/policy/dry-run-report", None)
            .await?;
        answer.decode(&[StatusCode::OK])
    }

    /// `POST /v1/policy/shadow`: a sidecar's dry-run disagreements (client certificate: its
    /// SVID).
    pub async fn report_shadow(&self, batch: &ShadowBatch) -> Result<(), ControlError> {
        let answer = self
            .call(Method::POST, "/v1/policy/shadow", Some(json(batch)?))
            .await?;
        match answer.status {
            StatusCode::NO_CONTENT => Ok(()),
            _ => Err(answer.error()),
        }
    }
}

/// The `422` of a set that does not compile, as [`ControlError::PolicyRejected`].
fn rejected(answer: &Answer) -> Result<(), ControlError> {
    if answer.status != StatusCode::UNPROCESSABLE_ENTITY {
        return Ok(());
    }
    match serde_json::from_slice::<PolicyRejection>(&answer.body) {
        Ok(r) => Err(ControlError::PolicyRejected {
            error: r.error,
            problems: r.problems,
        }),
        Err(_) => Err(answer.error()),
    }
}
