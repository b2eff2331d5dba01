//! Rampart's data plane: listeners, request hygiene, routing, upstream pools, access control, egress and metrics.
