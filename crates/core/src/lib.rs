//! Base types shared by every Rampart crate: secrets that cannot be printed, constant-time comparison, ids.
