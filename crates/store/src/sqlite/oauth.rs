//! The SQLite statements of the OAuth tables (see `migrations/sqlite/0004_oauth.sql`).

use std::time::SystemTime;

use super::SqliteStore;
use crate::records::oauth_columns::{client_columns, key_columns};
use crate::records::{OAuthClientRecord, SigningKeyRecord};
use crate::time::to_millis;

// === impl SqliteStore ===

impl SqliteStore {
    pub(crate) async fn insert_oauth_client(&self, c: &OAuthClientRecord) -> sqlx::Result<()> {
        let sql = concat!(
            "INSERT INTO oauth_clients (",
            client_columns!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        sqlx::query(sql)
            .bind(&c.id)
            .bind(&c.name)
            .bind(c.scopes_column())
            .bind(&c.auth_method)
            .bind(c.secret_hash.as_deref())
            .bind(c.public_jwk.as_deref())
            .bind(c.tls_subject.as_deref())
            .bind(c.default_audience.as_deref())
            .bind(to_millis(c.created_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn oauth_client(&self, id: &str) -> sqlx::Result<Option<OAuthClientRecord>> {
        let sql = concat!(
            "SELECT ",
            client_columns!(),
            " FROM oauth_clients WHERE id = ?"
        );
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(OAuthClientRecord::from_row).transpose()
    }

    pub(crate) async fn list_oauth_clients(&self) -> sqlx::Result<Vec<OAuthClientRecord>> {
        let sql = concat!(
            "SELECT ",
            client_columns!(),
            " FROM oauth_clients ORDER BY created_at_ms, id"
        );
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(OAuthClientRecord::from_row).collect()
    }

    pub(crate) async fn delete_oauth_client(&self, id: &str) -> sqlx::Result<bool> {
        let done = sqlx::query("DELETE FROM oauth_clients WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn insert_signing_key(&self, k: &SigningKeyRecord) -> sqlx::Result<()> {
        let sql = concat!(
            "INSERT INTO signing_keys (",
            key_columns!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?)"
        );
        sqlx::query(sql)
            .bind(&k.kid)
            .bind(&k.alg)
            .bind(&k.private_pkcs8)
            .bind(&k.state)
            .bind(to_millis(k.created_at))
            .bind(k.activates_at.map(to_millis))
            .bind(k.retire_after.map(to_millis))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn list_signing_keys(&self) -> sqlx::Result<Vec<SigningKeyRecord>> {
        let sql = concat!(
            "SELECT ",
            key_columns!(),
            " FROM signing_keys ORDER BY created_at_ms, kid"
        );
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(SigningKeyRecord::from_row).collect()
    }

    pub(crate) async fn rotate_signing_keys(
        &self,
        new_next: &SigningKeyRecord,
        now: SystemTime,
        retire_after: SystemTime,
    ) -> sqlx::Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE signing_keys SET state = 'retired', retire_after_ms = ?
             WHERE state = 'active' AND EXISTS (SELECT 1 FROM signing_keys WHERE state = 'next')",
        )
        .bind(to_millis(retire_after))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE signing_keys SET state = 'active', activates_at_ms = ? WHERE state = 'next'",
        )
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await?;
        let sql = concat!(
            "INSERT INTO signing_keys (",
            key_columns!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?)"
        );
        sqlx::query(sql)
            .bind(&new_next.kid)
            .bind(&new_next.alg)
            .bind(&new_next.private_pkcs8)
            .bind(&new_next.state)
            .bind(to_millis(new_next.created_at))
            .bind(new_next.activates_at.map(to_millis))
            .bind(new_next.retire_after.map(to_millis))
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    pub(crate) async fn seal_signing_key(&self, kid: &str, public_jwk: &str) -> sqlx::Result<bool> {
        let done =
            sqlx::query("UPDATE signing_keys SET private_pkcs8 = ?, public_jwk = ? WHERE kid = ?")
                .bind(Vec::<u8>::new())
                .bind(public_jwk)
                .bind(kid)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn signing_key_publics(&self) -> sqlx::Result<Vec<(String, Option<String>)>> {
        sqlx::query_as("SELECT kid, public_jwk FROM signing_keys ORDER BY created_at_ms, kid")
            .fetch_all(&self.pool)
            .await
    }

    pub(crate) async fn set_oauth_client_secret_hash(
        &self,
        id: &str,
        secret_hash: Option<&str>,
    ) -> sqlx::Result<bool> {
        let done = sqlx::query("UPDATE oauth_clients SET secret_hash = ? WHERE id = ?")
            .bind(secret_hash)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn prune_signing_keys(&self, now: SystemTime) -> sqlx::Result<u64> {
        let done = sqlx::query(
            "DELETE FROM signing_keys WHERE state = 'retired' AND retire_after_ms <= ?",
        )
        .bind(to_millis(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn revoke_token(
        &self,
        jti: &str,
        expires_at: SystemTime,
    ) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO revoked_tokens (jti, expires_at_ms) VALUES (?, ?)
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(to_millis(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn is_token_revoked(&self, jti: &str) -> sqlx::Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT expires_at_ms FROM revoked_tokens WHERE jti = ?")
                .bind(jti)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    pub(crate) async fn prune_revoked_tokens(&self, now: SystemTime) -> sqlx::Result<u64> {
        let done = sqlx::query("DELETE FROM revoked_tokens WHERE expires_at_ms <= ?")
            .bind(to_millis(now))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
