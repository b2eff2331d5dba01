//! Rampart's certificate authority and TLS configuration: local CA, server certificates, SNI selection and reload.
