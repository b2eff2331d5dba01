//! Rampart's data plane: listeners, request hygiene, routing, upstream pools, access control,
//! egress and metrics. It decides every request locally from a compiled snapshot of the
//! configuration and never calls the control plane on a request's path.

pub mod framing;
