"""One contract for every handler: its typed event, and the Powertools and error handling around it.

    @step(EnterStandbyEvent, logger)
    def lambda_handler(event: EnterStandbyEvent, context): ...

The handler body gets its event parsed and checked (a bad field is an InvalidInput that names it, before any AWS
call), every log line says which run, group and instance it is about, and AWS throttling and contention become
the named errors the state machine retries. An event type says which payload keys it reads and which of them it
requires, so that the state machine's Payloads can be checked against it.
"""

import copy
import dataclasses
import functools
from typing import Any, ClassVar, Self

from aws_lambda_powertools import Logger, Tracer

from .clients import named_aws_errors
from .event import field
from .observability import LOGGED_KEYS, run_context

REQUIRED = ...  # a payload key without a default (autopatch.event's validators spell it the same way)


def payload(key: str, read=field, *args, default=REQUIRED):
    """A field of a step's event: payload `key`, checked by `read(event, key, *args[, default])`, one of the
    validators in autopatch.event or one like them. A type stands for autopatch.event.field of that type:
    payload("TimeoutSeconds", int), payload("LowerMinSize", bool, default=False)."""
    if isinstance(read, type):
        read, args = field, (read, *args)

    def read_from(event):
        if default is REQUIRED:
            return read(event, key, *args)
        return read(event, key, *args, copy.copy(default))  # a fresh [] for every event

    return dataclasses.field(metadata={"key": key, "required": default is REQUIRED, "read": read_from})


class StepEvent:
    """Base of the typed events: frozen dataclasses whose fields are made with payload()."""

    # What @dataclass gives each subclass (annotation only), so that dataclasses.fields(cls) type-checks here
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    @classmethod
    def parse(cls, event) -> Self:
        """The typed event, its fields read in the order they are declared (the first bad one is named)."""
        return cls(**{f.name: f.metadata["read"](event) for f in dataclasses.fields(cls)})

    @classmethod
    def reads(cls) -> frozenset[str]:
        """Every payload key this step looks at: its fields', and those its log lines are tagged from."""
        return frozenset(f.metadata["key"] for f in dataclasses.fields(cls)) | frozenset(LOGGED_KEYS)

    @classmethod
    def requires(cls) -> frozenset[str]:
        """The payload keys without which this step refuses its event."""
        return frozenset(f.metadata["key"] for f in dataclasses.fields(cls) if f.metadata["required"])


def step(event_type: type[StepEvent], logger: Logger | None = None, metrics=None):
    """The decorator of every handler. Around the body, outermost first: the Lambda context in the logs (state
    cleared per invocation), the run's keys in the logs, X-Ray tracing, EMF metrics flushed at the end (for the
    steps that count something), AWS errors by name, then the event parsed into `event_type`.
    `handler.event_type` says which event the handler takes."""
    logger = logger or Logger()
    tracer = Tracer()

    def decorate(body):
        @functools.wraps(body)
        def parse_then_run(event, context):
            return body(event_type.parse(event), context)

        handler = named_aws_errors(parse_then_run)
        if metrics is not None:
            handler = metrics.log_metrics(handler)
        handler = tracer.capture_lambda_handler(handler)
        handler = run_context(logger)(handler)
        handler = logger.inject_lambda_context(clear_state=True)(handler)
        handler.event_type = event_type
        return handler

    return decorate
