#!/usr/bin/env python3
"""Writes a realistic policy set of N policies into DIR (bench/policy.sh).

base.cedar holds the two policies the benchmark's request meets (a permit for reads of
/api/ and a forbid on /admin); generated.cedar holds N - 2 others spread over the index's
keys: per-client and per-user permits, workload rules by segment, and route rules of other
services, as a real deployment's set would have.

    gen-policies.py DIR N
"""
import sys
from pathlib import Path

BASE = """@id("api-reads")
permit(principal, action in [Rampart::Action::"GET", Rampart::Action::"HEAD"], resource is Rampart::Route)
when { resource.path like "/api/*" };

@id("no-admin")
forbid(principal, action, resource)
when { resource.path == "/admin" || resource.path like "/admin/*" };
"""

SERVICES = ["orders", "billing", "payments", "users", "db", "cache"]
SEGMENTS = ["edge", "app", "data"]
ACTIONS = ["GET", "POST", "PUT", "DELETE"]


def policy(i: int) -> str:
    kind = i % 4
    svc = SERVICES[i % len(SERVICES)]
    act = ACTIONS[i % len(ACTIONS)]
    if kind == 0:
        return (f'@id("client-{i}")\n'
                f'permit(principal == Rampart::Client::"client-{i}", action == Rampart::Action::"{act}", resource is Rampart::Route)\n'
                f'when {{ resource.path like "/{svc}/{i}/*" && principal.scopes.contains("{svc}:write") }};\n')
    if kind == 1:
        return (f'@id("user-{i}")\n'
                f'permit(principal == Rampart::User::"user-{i}", action == Rampart::Action::"{act}", resource is Rampart::Route)\n'
                f'when {{ resource.path like "/{svc}/users/{i}*" }};\n')
    if kind == 2:
        seg = SEGMENTS[i % len(SEGMENTS)]
        return (f'@id("workload-{i}")\n'
                f'permit(principal is Rampart::Workload, action == Rampart::Action::"{act}", resource is Rampart::Service)\n'
                f'when {{ principal.segment == "{seg}" && resource.service == "{svc}" && resource.path like "/internal/{i}/*" }};\n')
    return (f'@id("group-{i}")\n'
            f'permit(principal is Rampart::User, action == Rampart::Action::"{act}", resource is Rampart::Route)\n'
            f'when {{ principal.groups.contains("team-{i}") && resource.path like "/{svc}/teams/{i}/*" }};\n')


def main() -> None:
    out, n = Path(sys.argv[1]), int(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    (out / "base.cedar").write_text(BASE)
    (out / "generated.cedar").write_text("\n".join(policy(i) for i in range(max(n - 2, 0))))


if __name__ == "__main__":
    main()
