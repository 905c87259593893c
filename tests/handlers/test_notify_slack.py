"""notify_slack, the SNS subscriber that posts alerts to Slack.
Against a moto account; conftest.py says how and holds the shared fixtures."""

import json
import urllib.error
from types import SimpleNamespace

import pytest

import autopatch.slack
from autopatch import FOOTER, VERSION
from autopatch.alerts import execution_console_url
from autopatch.errors import InvalidInput, SlackPostFailed
from tests.handlers.helpers import EXECUTION_ARN, twice

WEBHOOK = "https://hooks.slack.com/services/T0000/B0000/not-a-real-secret"


@pytest.fixture
def slack(aws, monkeypatch):
    """The webhook secret in Secrets Manager (a bare URL unless a test stores another form), and Slack itself:
    slack.send, the HTTP request, replaced by a recorder that answers 200."""
    autopatch.slack._webhook_url.cache_clear()
    monkeypatch.setenv("SLACK_SECRET_NAME", "autopatch/slack-webhook")
    aws.client("secretsmanager").create_secret(Name="autopatch/slack-webhook", SecretString=WEBHOOK)
    posts = []

    def send(url, body):
        posts.append((url, json.loads(body)))
        return 200

    real_send = autopatch.slack.send
    monkeypatch.setattr(autopatch.slack, "send", send)
    yield SimpleNamespace(posts=posts, module=autopatch.slack, real_send=real_send)
    autopatch.slack._webhook_url.cache_clear()


def sns_record(message, subject=None, kind=None):
    attributes = {"kind": {"Type": "String", "Value": kind}} if kind else {}
    return {
        "EventSource": "aws:sns",
        "Sns": {"Type": "Notification", "Subject": subject, "Message": message, "MessageAttributes": attributes},
    }


def test_notify_slack_posts_each_alert_as_a_message_for_people(aws, slack, load_handler, lambda_context):
    # Given an instance-failed alert and an execution-ended alert from EventBridge (no subject, no kind)
    link = execution_console_url(EXECUTION_ARN)
    failure_body = f"Patching instance i-0123456789abcdef0 of Auto Scaling group web failed.\n\nExecution:    {link}"
    event = {
        "Records": [
            sns_record(failure_body, "Patching failed: i-0123456789abcdef0 in web", "instance-failed"),
            sns_record(f'"Execution run-2026-11-25 ended ABORTED"\n{link}'),
        ]
    }
    app = load_handler("notify_slack")
    # When the subscriber gets them, twice (SNS retries a delivery it thinks failed)
    results = twice(app, event, lambda_context)
    # Then each alert was posted to the webhook, every time: Slack has no deduplication either
    assert results == [{"Posted": ["instance-failed", "execution-ended"]}] * 2
    assert [url for url, _ in slack.posts] == [WEBHOOK] * 4
    failed, ended = slack.posts[0][1], slack.posts[1][1]
    # and each says what happened, what to do, and links the execution
    assert failed["text"] == ":x: Patching failed: i-0123456789abcdef0 in web"
    assert failed["blocks"][0]["text"]["text"] == "Patching failed: i-0123456789abcdef0 in web"
    assert "Systems Manager > Run Command" in failed["blocks"][2]["text"]["text"]
    assert failed["blocks"][3]["elements"][0]["url"] == link
    assert ended["text"] == ":rotating_light: Execution run-2026-11-25 ended ABORTED"


@pytest.mark.parametrize(
    "secret",
    [WEBHOOK, f"  {WEBHOOK}\n", json.dumps({"url": WEBHOOK}), json.dumps({"webhook_url": WEBHOOK})],
    ids=["bare URL", "URL with spaces", "url key", "webhook_url key"],
)
def test_notify_slack_reads_the_webhook_in_every_documented_form(aws, slack, load_handler, lambda_context, secret):
    # Given the webhook secret stored in one of its accepted forms
    aws.client("secretsmanager").put_secret_value(SecretId="autopatch/slack-webhook", SecretString=secret)
    app = load_handler("notify_slack")
    # When an alert arrives
    app.lambda_handler({"Records": [sns_record("body", "subject", "run-stopped")]}, lambda_context)
    # Then it is posted to that URL
    assert [url for url, _ in slack.posts] == [WEBHOOK]


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        ("http", "Slack answered HTTP 500"),
        ("network", "Slack could not be reached (ConnectionRefusedError)"),
    ],
)
def test_notify_slack_failure_names_the_status_never_the_webhook(
    aws, slack, load_handler, lambda_context, monkeypatch, capsys, caplog, failure, message
):
    # Given Slack answering 500, or unreachable
    def urlopen(request, timeout):
        if failure == "http":
            raise urllib.error.HTTPError(request.full_url, 500, "Internal Server Error", {}, None)
        raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))

    monkeypatch.setattr(slack.module, "send", slack.real_send)
    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    app = load_handler("notify_slack")
    # When an alert arrives
    with pytest.raises(SlackPostFailed) as caught:
        app.lambda_handler({"Records": [sns_record("body", "subject", "run-stopped")]}, lambda_context)
    # Then the error (which makes SNS retry) says what went wrong, and the webhook is in no message or log line
    assert str(caught.value) == message
    captured = capsys.readouterr()
    assert WEBHOOK not in captured.out + captured.err + caplog.text
    assert "not-a-real-secret" not in repr(caught.getrepr())


@pytest.mark.parametrize(
    "event",
    [{}, {"Records": []}, {"Records": [{"Sns": {"Subject": "x"}}]}, {"Records": ["x"]}],
    ids=["no records", "no record", "no message", "record not an object"],
)
def test_notify_slack_rejects_an_event_that_is_not_from_sns(aws, slack, load_handler, lambda_context, event):
    # Given an event without SNS records carrying a message
    app = load_handler("notify_slack")
    # When it arrives
    # Then InvalidInput, and nothing is posted
    with pytest.raises(InvalidInput):
        app.lambda_handler(event, lambda_context)
    assert slack.posts == []


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (f"Patching instance i-0123456789abcdef0 of Auto Scaling group web failed.\n\n{FOOTER}", "instance-failed"),
        ('"Patch run execution run-7 ended ABORTED."\n"Sent by asg-rolling-patch ' + VERSION + '"', None),
        ("An alert from something older, without a footer", "run-stopped"),
        ("x" * 4000 + f"\n\n{FOOTER}", "run-finished"),
    ],
    ids=["the run's alert", "EventBridge's alert", "no footer", "a body longer than Slack shows"],
)
def test_notify_slack_shows_the_version_under_every_alert_once(aws, slack, load_handler, lambda_context, message, kind):
    # Given an alert, with the footer the run or EventBridge writes, or none
    app = load_handler("notify_slack")
    # When it is posted
    app.lambda_handler({"Records": [sns_record(message, "subject", kind)]}, lambda_context)
    # Then the message's last block is the version, and the text above does not repeat it
    [(_, posted)] = slack.posts
    assert posted["blocks"][-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": f"Sent by asg-rolling-patch {VERSION}"}],
    }
    assert not any(VERSION in block["text"]["text"] for block in posted["blocks"] if "text" in block)
