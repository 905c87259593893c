"""The run's result, as the execution output (or failure cause) shows it to a person."""

RESULTS = ("Completed", "Failed", "NotStarted")


def summarize(run_id: str, max_errors: int, group_results: list[list[dict]]) -> dict:
    instances = [
        {
            "InstanceId": item["InstanceId"],
            "GroupName": item["GroupName"],
            "Result": item["Result"],
            "CommandId": item.get("CommandId"),
        }
        for group in group_results
        for item in group
    ]
    counts = {result: sum(1 for i in instances if i["Result"] == result) for result in RESULTS}
    failed = counts["Failed"] > max_errors
    if failed:
        message = (
            f"{counts['Failed']} instance(s) failed, more than MaxErrors={max_errors}: "
            f"{counts['NotStarted']} instance(s) were left untouched."
        )
    else:
        message = f"{counts['Completed']} instance(s) patched, {counts['Failed']} failed (MaxErrors={max_errors})."
    return {
        "RunId": run_id,
        "Status": "Failed" if failed else "Succeeded",
        "Message": message,
        "Counts": counts,
        "Instances": instances,
    }
