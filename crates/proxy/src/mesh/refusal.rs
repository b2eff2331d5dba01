//! Why a mesh connection was refused, as the short reason of metrics and events.

use rampart_identity::SvidError;
use rustls::{CertificateError, InvalidMessage};

/// The reason for a failed mesh TLS handshake (`tokio-rustls` wraps rustls errors in I/O
/// errors).
pub fn of_handshake(e: &std::io::Error) -> &'static str {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => of_tls(tls),
        None => "handshake_failed",
    }
}

/// The reason for a peer that failed the post-handshake check.
pub fn of_svid(e: &SvidError) -> &'static str {
    match e {
        SvidError::NoCertificate => "no_certificate",
        SvidError::Expired | SvidError::NotYetValid => "expired",
        SvidError::Revoked { .. } => "revoked",
        SvidError::Untrusted { .. } | SvidError::WrongTrustDomain { .. } => "untrusted",
        SvidError::UnexpectedId { .. } => "wrong_identity",
        _ => "bad_certificate",
    }
}

fn of_tls(e: &rustls::Error) -> &'static str {
    match e {
        rustls::Error::NoCertificatesPresented => "no_certificate",
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => "expired",
            CertificateError::Revoked => "revoked",
            CertificateError::UnknownIssuer => "untrusted",
            CertificateError::Other(other) => match other.0.downcast_ref::<SvidError>() {
                Some(svid) => of_svid(svid),
                None => "bad_certificate",
            },
            _ => "bad_certificate",
        },
        // Plaintext (an HTTP request, say) on a mesh port.
        rustls::Error::InvalidMessage(InvalidMessage::InvalidContentType) => "not_tls",
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. } => "malformed_handshake",
        rustls::Error::PeerIncompatible(_) => "incompatible",
        rustls::Error::AlertReceived(_) => "peer_refused",
        _ => "handshake_failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn io(e: rustls::Error) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }

    #[test]
    fn reasons() {
        assert_eq!(
            of_handshake(&io(rustls::Error::NoCertificatesPresented)),
            "no_certificate"
        );
        assert_eq!(
            of_handshake(&io(rustls::Error::InvalidMessage(
                InvalidMessage::InvalidContentType
            ))),
            "not_tls"
        );
        assert_eq!(
            of_handshake(&io(rustls::Error::InvalidCertificate(
                CertificateError::Revoked
            ))),
            "revoked"
        );
        let wrong = SvidError::UnexpectedId {
            expected: "spiffe://td/ns/default/sa/orders".parse().unwrap(),
            found: "spiffe://td/ns/default/sa/billing".parse().unwrap(),
        };
        let other = rustls::OtherError(Arc::new(wrong));
        assert_eq!(
            of_handshake(&io(rustls::Error::InvalidCertificate(
                CertificateError::Other(other)
            ))),
            "wrong_identity"
        );
        assert_eq!(
            of_handshake(&std::io::Error::from(std::io::ErrorKind::UnexpectedEof)),
            "handshake_failed"
        );
    }
}
