"""The benchmark (`make bench`): fleet sizes from 4 to 2,000 instances on virtual time, next to what
AWS-PatchAsgInstance would take and cost for the same fleet, and the two smallest run with KeepCapacity beside the
default; the smallest again with a soak after each instance, and as the capacity of an ECS cluster whose
instances are drained before their patch: what each adds per instance. Writes bench/results.json (the comparisons
under "keep_capacity", "soak" and "drain") and bench/plot.png."""

import heapq
import json
from pathlib import Path

from .engine import Simulation
from .scenario import parse_scenario

OUT = Path(__file__).resolve().parent.parent / "bench"
PATCH, WARMUP, DEREGISTRATION = 600, 60, 30
SCENARIOS = [  # (name, groups, instances per group, GroupConcurrency)
    ("1 x 4", 1, 4, 1),
    ("3 x 20", 3, 20, 3),
    ("1 x 500", 1, 500, 1),
    ("4 x 500", 4, 500, 4),
]
# The fleets run again with KeepCapacity beside the default: what the extra instance costs in time and transitions,
# and the capacity it saves (instance-seconds below each group's starting healthy count).
KEEP_CAPACITY_SCENARIOS = SCENARIOS[:2]
KEEP_CAPACITY_INPUTS = [("default", {}), ("KeepCapacity", {"KeepCapacity": True})]  # (label, input added)
# The smallest fleet again with a soak after each instance: the time SoakSeconds adds per instance.
SOAK_SCENARIOS = SCENARIOS[:1]
SOAK_INPUTS = [("default", {}), ("SoakSeconds 300", {"SoakSeconds": 300})]
# The smallest fleet again as an ECS cluster's capacity (4 service tasks on each instance, leaving a DRAINING one
# 120 s after: a target group's deregistration delay and the tasks' stop): the time draining adds per instance.
DRAIN_SCENARIOS = SCENARIOS[:1]
DRAIN_GROUPS = [("plain", {}), ("ECS, 4 tasks, 120 s drain", {"ecs": {"tasks_per_instance": 4, "drain_seconds": 120}})]

# Prices, us-east-1 (shared/aws-notes.md; AWS pricing pages for Step Functions and Lambda).
TRANSITION = 0.025 / 1000  # Step Functions Standard, per state transition (retries count)
LAMBDA_REQUEST = 0.20 / 1_000_000
LAMBDA_GB_SECOND_ARM = 0.0000166667 * 0.8  # arm64 is about 20% below x86
AUTOMATION_STEP = 0.002  # SSM Automation, per step beyond the free tier (not confirmed from AWS's page)

# AWS-PatchAsgInstance, per instance: its fixed sleeps and its steps (shared/aws-notes.md)
RUNBOOK_SLEEPS = 300 + 120  # WaitForReboot PT5M + WaitForInstance PT2M
RUNBOOK_STEPS = 7  # the main runbook's steps; its two child runbooks' own steps are not counted

GOALS = {
    "overhead_per_instance_s": 30,
    "transitions_per_instance": 40,
    "events_per_instance": 150,
    "cost_per_instance_usd": 0.002,
    "largest_history": 25_000,
    "largest_state_bytes": 262_144,
    "side_by_side_within": 0.05,
    "wall_seconds_4x500": 600,
}


def scenario(
    groups: int, size: int, concurrency: int, run_input: dict | None = None, group_fields: dict | None = None
) -> dict:
    return {
        "groups": [
            {
                "name": f"g{n + 1}",
                "instances": size,
                "min_size": 1,
                "max_size": size * 2,
                "patch_seconds": PATCH,
                "warmup_seconds": WARMUP,
                "deregistration_delay": DEREGISTRATION,
                **(group_fields or {}),
            }
            for n in range(groups)
        ],
        "input": {"GroupConcurrency": concurrency, **(run_input or {})},
    }


def simulate(name: str, raw: dict) -> dict:
    """The simulator's report of the scenario, without its histories and logs."""
    report = Simulation(parse_scenario(raw, name=name)).run()
    report.pop("_histories")
    report.pop("_logs")
    return report


def ideal_makespan(groups: int, size: int, concurrency: int) -> float:
    """Deregistration + patch + warm-up for every instance, groups run `concurrency` at a time."""
    per_group = size * (DEREGISTRATION + PATCH + WARMUP)
    lanes = [0.0] * min(concurrency, groups)
    for _ in range(groups):
        heapq.heapreplace(lanes, lanes[0] + per_group)
    return max(lanes)


def runbook_makespan(groups: int, size: int) -> float:
    """AWS-PatchAsgInstance from a maintenance window, MaxConcurrency 1: every instance of every group in
    turn, each taking standby, the patch and the two fixed sleeps (child runbook overhead not counted)."""
    return groups * size * (DEREGISTRATION + PATCH + RUNBOOK_SLEEPS)


def run_transitions(report: dict) -> int:
    """Every execution's state transitions, the run's continuations included."""
    return sum(e["state_transitions"] for e in report["executions"])


def completed(report: dict) -> int:
    return sum(i["result"] == "Completed" for i in report["instances"])


def run_cost(report: dict) -> float:
    """The run's Step Functions transitions, Lambda requests and Lambda duration, in USD."""
    return (
        run_transitions(report) * TRANSITION
        + report["lambda_invocations"] * LAMBDA_REQUEST
        + report["lambda_gb_seconds"] * LAMBDA_GB_SECOND_ARM
    )


def measure(name: str, groups: int, size: int, concurrency: int) -> dict:
    report = simulate(name, scenario(groups, size, concurrency))
    instances = groups * size
    executions = report["executions"]
    transitions = run_transitions(report)
    events = sum(e["history_events"] for e in executions)
    ideal = ideal_makespan(groups, size, concurrency)
    cost = run_cost(report) / instances
    return {
        "scenario": name,
        "status": report["status"],
        "instances": instances,
        "completed": completed(report),
        "executions": len(executions),
        "makespan_s": report["virtual_seconds"],
        "ideal_makespan_s": ideal,
        "overhead_per_instance_s": round((report["virtual_seconds"] - ideal) / size, 1),
        "largest_history": max(e["history_events"] for e in executions),
        "largest_state_bytes": max(e["largest_state_bytes"] for e in executions),
        "transitions_per_instance": round(transitions / instances, 1),
        "lambda_invocations_per_instance": round(report["lambda_invocations"] / instances, 1),
        "events_per_instance": round(events / instances, 1),
        "cost_per_instance_usd": round(cost, 6),
        "wall_seconds": report["wall_seconds"],
        "runbook_makespan_s": runbook_makespan(groups, size),
        "runbook_cost_per_instance_usd": RUNBOOK_STEPS * AUTOMATION_STEP,
    }


def compare(name: str, instances: int, variants: list[tuple[str, dict]], label: str = "input") -> list[dict]:
    """The same fleet run as each variant (a label and the scenario to run): a row each, the label under `label`."""
    rows = []
    for variant, raw in variants:
        report = simulate(f"{name} {variant}", raw)
        rows.append(
            {
                "scenario": name,
                label: variant,
                "status": report["status"],
                "instances": instances,
                "completed": completed(report),
                "makespan_s": report["virtual_seconds"],
                "transitions": run_transitions(report),
                "cost_usd": round(run_cost(report), 6),
                "capacity_seconds_lost": round(sum(g["capacity_seconds_lost"] for g in report["groups"]), 3),
                "tasks_lost": sum(g["tasks_lost"] for g in report["groups"]),
            }
        )
    return rows


def compare_keep_capacity(
    name: str, groups: int, size: int, concurrency: int, inputs: list[tuple[str, dict]] = KEEP_CAPACITY_INPUTS
) -> list[dict]:
    """The same fleet run with each input (the default, then KeepCapacity): a row each."""
    variants = [(label, scenario(groups, size, concurrency, run_input)) for label, run_input in inputs]
    return compare(name, groups * size, variants)


def compare_drain(
    name: str, groups: int, size: int, concurrency: int, kinds: list[tuple[str, dict]] = DRAIN_GROUPS
) -> list[dict]:
    """The same fleet with the default input, its groups of each kind (plain, then ECS capacity): a row each."""
    variants = [(label, scenario(groups, size, concurrency, group_fields=fields)) for label, fields in kinds]
    return compare(name, groups * size, variants, label="group")


def added_per_instance(rows: list[dict]) -> list[dict]:
    """Rows of one fleet, the first the baseline: each with the makespan, transitions and cost it adds per instance
    to the first's."""
    base = rows[0]
    return [
        {
            **row,
            "added_per_instance_s": round((row["makespan_s"] - base["makespan_s"]) / row["instances"]),
            "transitions_added_per_instance": round((row["transitions"] - base["transitions"]) / row["instances"], 1),
            "cost_added_per_instance_usd": round((row["cost_usd"] - base["cost_usd"]) / row["instances"], 6),
        }
        for row in rows
    ]


def _selected(name: str, selected: list[str] | None) -> bool:
    return not selected or name.replace(" ", "") in selected


def run(selected: list[str] | None = None) -> list[dict]:
    OUT.mkdir(exist_ok=True)
    results = []
    for name, groups, size, concurrency in SCENARIOS:
        if not _selected(name, selected):
            continue
        print(f"running {name} ...", flush=True)
        results.append(measure(name, groups, size, concurrency))
        print_table(results)
    keep_capacity: list[dict] = []
    for name, groups, size, concurrency in KEEP_CAPACITY_SCENARIOS:
        if _selected(name, selected):
            print(f"running {name}, default and KeepCapacity ...", flush=True)
            keep_capacity += compare_keep_capacity(name, groups, size, concurrency)
            print_table(keep_capacity, KEEP_CAPACITY_COLUMNS)
    soak: list[dict] = []
    for name, groups, size, concurrency in SOAK_SCENARIOS:
        if _selected(name, selected):
            print(f"running {name}, default and SoakSeconds ...", flush=True)
            soak += added_per_instance(compare_keep_capacity(name, groups, size, concurrency, SOAK_INPUTS))
            print_table(soak, SOAK_COLUMNS)
    drain: list[dict] = []
    for name, groups, size, concurrency in DRAIN_SCENARIOS:
        if _selected(name, selected):
            print(f"running {name}, as a plain group and as ECS capacity ...", flush=True)
            drain += added_per_instance(compare_drain(name, groups, size, concurrency))
            print_table(drain, DRAIN_COLUMNS)
    document = {
        "goals": GOALS,
        "prices": _prices(),
        "results": results,
        "keep_capacity": keep_capacity,
        "soak": soak,
        "drain": drain,
    }
    (OUT / "results.json").write_text(json.dumps(document, indent=2) + "\n")
    plot(results, OUT / "plot.png")
    print(f"\nwrote {OUT / 'results.json'} and {OUT / 'plot.png'}")
    return results


def _prices() -> dict:
    return {
        "step_functions_transition_usd": TRANSITION,
        "lambda_request_usd": LAMBDA_REQUEST,
        "lambda_gb_second_arm64_usd": LAMBDA_GB_SECOND_ARM,
        "ssm_automation_step_usd": AUTOMATION_STEP,
    }


COLUMNS = [
    ("scenario", "scenario", "{}"),
    ("status", "status", "{}"),
    ("exec", "executions", "{}"),
    ("makespan", "makespan_s", "_hours"),
    ("ideal", "ideal_makespan_s", "_hours"),
    ("overhead/inst", "overhead_per_instance_s", "{} s"),
    ("max history", "largest_history", "{:,}"),
    ("max state", "largest_state_bytes", "{:,} B"),
    ("trans/inst", "transitions_per_instance", "{}"),
    ("lambda/inst", "lambda_invocations_per_instance", "{}"),
    ("events/inst", "events_per_instance", "{}"),
    ("$/inst", "cost_per_instance_usd", "${:.5f}"),
    ("wall", "wall_seconds", "{} s"),
    ("runbook makespan", "runbook_makespan_s", "_hours"),
    ("runbook $/inst", "runbook_cost_per_instance_usd", "${:.3f}"),
]
KEEP_CAPACITY_COLUMNS = [
    ("scenario", "scenario", "{}"),
    ("input", "input", "{}"),
    ("status", "status", "{}"),
    ("patched", "completed", "{}"),
    ("makespan", "makespan_s", "_hours"),
    ("transitions", "transitions", "{:,}"),
    ("capacity lost", "capacity_seconds_lost", "{:,.0f} instance-s"),
]

ADDED_COLUMNS = [
    ("added/inst", "added_per_instance_s", "{} s"),
    ("transitions", "transitions", "{:,}"),
    ("trans added/inst", "transitions_added_per_instance", "{}"),
    ("$ added/inst", "cost_added_per_instance_usd", "${:.6f}"),
]
SOAK_COLUMNS = [*KEEP_CAPACITY_COLUMNS[:5], *ADDED_COLUMNS]
DRAIN_COLUMNS = [
    *KEEP_CAPACITY_COLUMNS[:1],
    ("group", "group", "{}"),
    *KEEP_CAPACITY_COLUMNS[2:5],
    ("tasks lost", "tasks_lost", "{}"),
    *ADDED_COLUMNS,
]


def _format(value, pattern: str) -> str:
    if pattern == "_hours":
        return f"{value / 3600:.1f} h"
    return pattern.format(value)


def print_table(results: list[dict], columns: list[tuple[str, str, str]] = COLUMNS) -> None:
    rows = [[title for title, _, _ in columns]]
    rows += [[_format(r[key], pattern) for _, key, pattern in columns] for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    print()
    for n, row in enumerate(rows):
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * width for width in widths))


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["instances"] for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.plot(sizes, [r["makespan_s"] / 3600 for r in results], "o-", label="this project")
    left.plot(sizes, [r["ideal_makespan_s"] / 3600 for r in results], "s--", label="ideal")
    left.plot(sizes, [r["runbook_makespan_s"] / 3600 for r in results], "^:", label="AWS-PatchAsgInstance")
    left.set(xscale="log", yscale="log", xlabel="instances", ylabel="makespan (hours)", title="Makespan")
    left.legend()
    right.plot(sizes, [r["largest_history"] for r in results], "o-", label="largest execution history")
    right.plot(sizes, [r["events_per_instance"] for r in results], "s--", label="events per instance")
    right.axhline(25_000, color="red", linewidth=0.8, label="25,000 event limit")
    right.set(xscale="log", yscale="log", xlabel="instances", ylabel="history events", title="History events")
    right.legend()
    for label, r in zip(sizes, results, strict=True):
        left.annotate(
            r["scenario"], (label, r["makespan_s"] / 3600), fontsize=7, xytext=(4, -10), textcoords="offset points"
        )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def check_goals(results: list[dict]) -> list[str]:
    """The goals that a run did not reach (the README reports them)."""
    missed = []
    for r in results:
        for key in (
            "overhead_per_instance_s",
            "transitions_per_instance",
            "events_per_instance",
            "cost_per_instance_usd",
            "largest_history",
            "largest_state_bytes",
        ):
            if r[key] > GOALS[key]:
                missed.append(f"{r['scenario']}: {key} {r[key]} > {GOALS[key]}")
        if r["status"] != "SUCCEEDED" or r["completed"] != r["instances"]:
            missed.append(f"{r['scenario']}: {r['status']}, {r['completed']}/{r['instances']} patched")
        if r["scenario"] == "4 x 500" and r["wall_seconds"] > GOALS["wall_seconds_4x500"]:
            missed.append(f"4 x 500: {r['wall_seconds']} s of wall time > {GOALS['wall_seconds_4x500']} s")
        groups = int(r["scenario"].split(" x ")[0])
        if groups > 1 and r["makespan_s"] > r["ideal_makespan_s"] * (1 + GOALS["side_by_side_within"]):
            missed.append(f"{r['scenario']}: makespan {r['makespan_s']} s not within 5% of {r['ideal_makespan_s']} s")
    return missed
