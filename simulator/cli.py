"""Command line: .venv/bin/python -m simulator run [--scenario FILE] [--json OUT] [--history OUT] [--logs OUT],
and .venv/bin/python -m simulator bench [--only 1x4,3x20]."""

import argparse
import json
import sys
from pathlib import Path

from .engine import Simulation
from .scenario import ScenarioError, load_scenario


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="simulate one patch run and print its timeline")
    run.add_argument("--scenario", type=Path, help="scenario file (default: simulator/scenarios/default.json)")
    run.add_argument("--json", type=Path, metavar="OUT", help="write the report as JSON")
    run.add_argument("--history", type=Path, metavar="OUT", help="write every execution's event history as JSON")
    run.add_argument("--logs", type=Path, metavar="OUT", help="write every line the functions logged")
    run.add_argument("--quiet", action="store_true", help="print only the final table")
    bench = commands.add_parser("bench", help="benchmark fleet sizes; writes bench/results.json and bench/plot.png")
    bench.add_argument("--only", help="comma-separated scenarios to run, e.g. 1x4,3x20 (default: all)")
    args = parser.parse_args(argv)
    if args.command == "bench":
        return run_bench(args.only.split(",") if args.only else None)
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Simulating scenario {scenario.name!r} on virtual time (no AWS account is used)\n")
    report = Simulation(scenario, echo=None if args.quiet else print).run()
    histories = report.pop("_histories")
    logs = report.pop("_logs")
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    if args.history:
        args.history.write_text(json.dumps(histories, indent=2, default=str))
    if args.logs:
        args.logs.write_text("\n".join(logs) + "\n")
    return 0 if report["status"] == "SUCCEEDED" else 1


def run_bench(only) -> int:
    from .bench import check_goals, run

    missed = check_goals(run(only))
    print("\nEvery goal reached." if not missed else "\nGoals not reached:\n  " + "\n  ".join(missed))
    return 0


def print_table(report: dict) -> None:
    print()
    print(f"{'group':<10} {'instance':<20} {'result':<11} {'tag':<11} {'lifecycle':<16} health")
    for i in report["instances"]:
        print(
            f"{i['group']:<10} {i['instance_id']:<20} {i['result']:<11} {i['tag'] or '-':<11} "
            f"{i['lifecycle_state']:<16} {i['health']}"
        )
    print()
    bakes = {b["GroupName"]: b for b in (report["summary"] or {}).get("Bakes", [])}
    for g in report["groups"]:
        print(
            f"group {g['name']}: desired {g['desired']}, min {g['min_size']}, max {g['max_size']}, "
            f"at most {g['max_out_of_service']} instance(s) out of service at once"
        )
        if g["name"] in bakes:
            bake = bakes[g["name"]]
            print(
                f"  image: {bake['Status']}"
                + (f" ({bake.get('Reason') or bake.get('Error')})" if bake["Status"] != "Baked" else "")
            )
        print(
            f"  launches new instances from {g['image_id']}"
            + (f" ({len(g['scaled_out'])} launched after the run)" if g["scaled_out"] else "")
        )
    minutes, seconds = divmod(int(report["virtual_seconds"]), 60)
    print(f"\nRun {report['status']}" + (f": {report['error']}" if report["error"] else ""))
    if report["error"] and report["cause"]:
        print(f"  {report['cause'][:400]}")
    for later in report["runs"][1:]:  # also_start and later_runs: each run's own end
        summary = later["summary"]
        print(f"  then {later['name']} (at {later['started_at']:.0f} s): {later['status']}", end="")
        print(f", {summary['Status']}: {summary.get('Message', '')[:160]}" if "Status" in summary else "")
    print(
        f"{minutes} min {seconds} s of virtual time in {report['wall_seconds']} s; "
        f"{report['lambda_invocations']} Lambda invocations; {len(report['notifications'])} notification(s)"
    )
