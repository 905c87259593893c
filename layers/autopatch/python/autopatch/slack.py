"""Slack: each alert of the topic as a message for people. The webhook URL lives in Secrets Manager and is
never logged or returned: it is a credential (anyone holding it can post to the channel)."""

import functools
import json
import urllib.request
from typing import Any

from . import FOOTER
from .clients import client
from .errors import SlackPostFailed

KINDS = (
    "instance-failed",
    "instance-gone",
    "bake-failed",
    "run-stopped",
    "group-paused",
    "run-finished",
    "window-ended",
    "execution-ended",
    "run-cleaned-up",
)
TIMEOUT_SECONDS = 10


@functools.cache
def _webhook_url(secret_name: str) -> str:
    secret = client("secretsmanager").get_secret_value(SecretId=secret_name)["SecretString"]
    try:  # a bare URL, or {"url": ...} / {"webhook_url": ...}
        document = json.loads(secret)
        return document.get("url") or document["webhook_url"]
    except (ValueError, AttributeError, TypeError):
        return secret.strip()


def post(secret_name: str, payload: dict) -> int:
    """POST the message; returns the HTTP status. Errors name the status, never the URL."""
    return send(_webhook_url(secret_name), json.dumps(payload).encode())


def send(url: str, body: bytes) -> int:
    """The HTTP request itself (the simulator replaces it to capture what Slack would receive)."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        # the URL comes from the secret: an https hooks.slack.com address
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status
    except urllib.error.HTTPError as error:
        raise SlackPostFailed(f"Slack answered HTTP {error.code}") from None
    except urllib.error.URLError as error:
        raise SlackPostFailed(f"Slack could not be reached ({type(error.reason).__name__})") from None


def kind_of(subject: str | None, attributes: dict) -> str:
    attribute = attributes.get("kind")  # SNS delivers {"Type": "String", "Value": ...}
    kind = attribute.get("Value") if isinstance(attribute, dict) else None
    if kind in KINDS:
        return kind
    return "execution-ended"  # EventBridge's alert for an execution that ended badly carries no attributes


EMOJI = {
    "instance-failed": ":x:",
    "instance-gone": ":ghost:",
    "bake-failed": ":warning:",
    "run-stopped": ":octagonal_sign:",
    "group-paused": ":double_vertical_bar:",
    "run-finished": ":white_check_mark:",
    "window-ended": ":hourglass:",
    "execution-ended": ":rotating_light:",
    "run-cleaned-up": ":broom:",
}
WHAT_TO_DO = {
    "instance-failed": "Check the instance (the alert says whether it is back in service), then look at the patch "
    "command's output in Systems Manager > Run Command.",
    "instance-gone": "Nothing to return: the instance is terminated and Auto Scaling replaces it. Check the alert's "
    "capacity line, and why it went (a Spot interruption? failed health checks after its patch?).",
    "bake-failed": "Nothing is out of service and the launch template is unchanged. Look at the error (image "
    "quota? permissions?), then let the next run with BakeAmi bake again.",
    "run-stopped": "Fix what stopped the run (alarm, unhealthy instance, or the error of a check that could not be "
    "made), then start a new run; instances already tagged Completed by it can be left out.",
    "group-paused": "The group was paused by its AutoPatch tag. Set it back to the opt-in value and start a run to "
    "patch the rest.",
    "run-finished": "Nothing: this is the run's summary.",
    "window-ended": "Nothing now: the instances left are patched by the next run in its window. If every run leaves "
    "some, give the window more time (WindowMinutes, EndBy) or patch several groups at once (GroupConcurrency).",
    "execution-ended": "Open the execution. If it was stopped or crashed mid-instance, its clean-up returns the "
    "instance to service within minutes and sends one alert saying what it did.",
    "run-cleaned-up": "Read what was put back. Instances tagged Failed need a new run; anything marked NOT DONE "
    "needs you (check its patch command first).",
}


def message(subject: str | None, body: str, kind: str) -> dict:
    """A Slack Block Kit message: what happened, where, what to do, the console link (from the body), and the
    version that sent it as a context line (the alert's footer, taken out of the text so that a long body cut to
    Slack's limit still shows it)."""
    body = "\n".join(line for line in body.splitlines() if line.strip('"') != FOOTER).rstrip()
    title = subject or (body.splitlines()[0].strip('"') if body else "Patch run alert")
    emoji = EMOJI[kind] if kind != "run-finished" or title.endswith("Succeeded") else ":warning:"
    link = next((word for word in body.split() if word.startswith("https://") and "console.aws" in word), None)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{title}"[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{emoji} ```{body[:2800]}```"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*What to do:* {WHAT_TO_DO[kind]}"}},
    ]
    if link:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Open the execution"}, "url": link}
                ],
            }
        )
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": FOOTER}]})
    return {"text": f"{emoji} {title}", "blocks": blocks}


def post_alert(secret_name: str, subject: str | None, body: str, attributes: dict) -> tuple[str, int]:
    """Post one alert the topic delivered: its kind (from its attributes, else its subject) and Slack's status."""
    kind = kind_of(subject, attributes)
    return kind, post(secret_name, message(subject, body, kind))
