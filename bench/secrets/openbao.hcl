# OpenBao for bench/secrets.sh: one server, its integrated storage (raft on bbolt; OpenBao 2.x
# has no `file` backend any more) in the run directory, TLS on loopback (the same transport as
# Rampart's control plane). Rendered with envsubst into bench/out/secrets/.
storage "raft" {
  path    = "${BENCH_RUN_DIR}/openbao-data"
  node_id = "bench"
}
cluster_addr  = "https://127.0.0.1:${BENCH_OPENBAO_CLUSTER_PORT}"
listener "tcp" {
  address       = "127.0.0.1:${BENCH_OPENBAO_PORT}"
  tls_cert_file = "${BENCH_RUN_DIR}/openbao-cert.pem"
  tls_key_file  = "${BENCH_RUN_DIR}/openbao-key.pem"
}
api_addr      = "https://127.0.0.1:${BENCH_OPENBAO_PORT}"
ui            = false
log_level     = "warn"
