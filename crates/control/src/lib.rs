//! Rampart's control plane server: authenticated admin API, proxy registry and status.
